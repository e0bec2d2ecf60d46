"""`--ray` and `--vantage` on the command line: what is refused before any cluster is joined or packet sent (no Ray
needed for these)."""

from __future__ import annotations

import pytest

from scanner.cli import main
from scanner.scan.ray_scan import NodeInfo, parse_vantage


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--vantage", "site=a", "127.0.0.2"], "--vantage needs --ray ADDRESS"),
        (["--ray", "auto", "--vantage", "site=", "127.0.0.2"], "--vantage 'site=': expected a node label"),
        (["--ray", "auto", "--vantage", "site=a", "mail.example.test"], "addresses, networks or ranges only"),
        (["--ray", "auto", "--workers", "2"], "--workers with --ray: each node scans in one process"),
        (["--ray", "auto", "--discover", "zmap"], "--discover zmap with --ray: the SYN scan would run from this"),
    ],
)
def test_refused_in_one_line_before_anything_is_sent(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scan", "127.0.0.2", "-p", "imap:1", "--no-tui", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and said in err[0], err


def test_a_vantage_picks_nodes_by_label_or_by_resource() -> None:
    paris = NodeInfo("a" * 56, "192.0.2.1", {"site": "paris"}, {"CPU": 2.0})
    jump = NodeInfo("b" * 56, "192.0.2.2", {}, {"CPU": 2.0, "jump-berlin": 1.0})
    by_label = parse_vantage("site=paris", "192.0.2.0/25, 192.0.2.200")
    by_resource = parse_vantage("jump-berlin", "198.51.100.0/24")
    assert [by_label.picks(n) for n in (paris, jump)] == [True, False]
    assert [by_resource.picks(n) for n in (paris, jump)] == [False, True]
    assert by_label.targets.size == 129
