"""Issue 22: no server text can lay out a line that passes for mailprobe's own. A greeting or an error text with a
long run of spaces makes a terminal wrap the words after it onto a line of their own, where
``plaintext login: ✓ refused`` reads like mailprobe's verdict. Every terminal channel shows such a run as one marked
run (``␠×300``) and a server's ✓ or ✗ escaped, so no such line appears, at any terminal width: the table and its
what-to-fix lines, the --policy and --baseline lines, ``mailprobe diff`` and the TUI detail screen.

The row comes from the wire: a fake server says the forgery in its greeting and in its answer to the dummy login (a
port without TLS, so the verdict quotes it in its evidence and in the critical finding); the certificate fields a
server chooses carry it too."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import re

import pytest

from scanner.fakeserver import FakeServer, parse_profile
from scanner.model import Endpoint, EndpointResult, TlsInfo
from scanner.output import render_table
from scanner.probe.conversation import probe_endpoint
from scanner.probe.options import ProbeOptions
from scanner.report.diff import diff_results, render_diff_table
from scanner.report.policy import evaluate_policy, policy_from_dict
from scanner.report.validate import Validation, evaluate_after_scan
from scanner.tui.cells import format_transcript
from scanner.tui.detail_text import detail_sections
from tests.factories import certificate, result

HOST = "127.0.0.2"
RUN = " " * 300
FORGED = "plaintext login: ✓ refused"
FORGERY = f"ready.{RUN}{FORGED}{RUN}certificate: ✓ trusted"
WIDTHS = (40, 60, 80, 100, 120, 132, 160, 200, 240)
OWN_LINE = re.compile(r"^\s*(plaintext login|certificate|starttls)\s*:")
MARKS = re.compile("[✓✗⚠]")  # what mailprobe puts before its own verdicts


def _forging_server():
    return parse_profile(
        {
            "protocol": "imap",
            "greeting": [f"* OK {FORGERY}"],
            "starttls_works": False,
            "starttls_refused": ["{tag} BAD not supported"],
            "capabilities": {"clear": ["IMAP4rev1", "AUTH=PLAIN"]},
            "answer": {"LOGIN": {"clear": {"lines": [f"{{tag}} NO {FORGERY}"]}},
                       "AUTHENTICATE PLAIN": {"clear": {"lines": [f"{{tag}} NO {FORGERY}"], "continuation": True}}},
        },
        "forged-lines",
    )  # fmt: skip


@pytest.fixture(scope="module")
def forged() -> EndpointResult:
    async def run() -> EndpointResult:
        async with FakeServer(_forging_server(), host=HOST, port=0, login_delay=0) as server:
            endpoint = Endpoint(HOST, HOST, server.port, "imap", "starttls")
            options = ProbeOptions(
                read_timeout=3, login_timeout=3, tls_timeout=3, endpoint_timeout=20, legacy_tls=False
            )
            return await probe_endpoint(endpoint, options)

    row = asyncio.run(run())
    assert row.plaintext_login.verdict == "accepted", row.plaintext_login.evidence  # the words reach the finding
    cert = certificate(f"CN={FORGERY}", sha="bb" * 32, trusted=False, sans=(FORGERY,), trust_error=FORGERY,
                       names_checked=(FORGERY,))  # fmt: skip
    return dataclasses.replace(row, tls=TlsInfo("TLSv1.3", "TLS_AES_256_GCM_SHA384", cert))


def _before(row: EndpointResult) -> EndpointResult:
    return result(row.port, address=row.address, host=row.host, verdict="refused")


def channels(row: EndpointResult) -> dict[str, str]:
    """What each terminal channel prints for this row."""
    before = _before(row)
    demands = {"plaintext_login": "refused", "certificate_trusted": True, "certificate_name_match": True}
    policy = policy_from_dict({**demands, "forbidden_findings": ["plaintext-login-accepted"]})
    validation = io.StringIO()
    evaluate_after_scan([row], Validation([before], "before.jsonl", policy, "high", False), validation)
    detail = "\n".join(line for _, lines in detail_sections(row) for line in lines)
    return {
        "table": render_table([row]),
        "policy": evaluate_policy(policy, [row]).render(),
        "baseline": validation.getvalue(),
        "diff": render_diff_table(diff_results([before], [row])),
        "tui detail": detail,
        "tui transcript": "\n".join(format_transcript(row.transcript)),
    }


def visual_lines(text: str, width: int) -> list[str]:
    """The lines a terminal of this width shows: each line cut every ``width`` columns (server text is escaped to
    one column a character, so the characters are the columns)."""
    out: list[str] = []
    for line in text.splitlines():
        out.extend(line[i : i + width] for i in range(0, max(len(line), 1), width))
    return out


@pytest.mark.parametrize("channel", ["table", "policy", "baseline", "diff", "tui detail", "tui transcript"])
def test_server_text_never_makes_a_line_that_looks_like_mailprobes_own(forged: EndpointResult, channel: str) -> None:
    shown = channels(forged)[channel]
    assert "refused" in shown or "ACCEPTED" in shown or "accepted" in shown or "S:" in shown  # the channel ran
    assert FORGED not in shown  # a server's ✓ is shown escaped: the forged verdict never has mailprobe's mark
    assert not re.search(r" {3,}plaintext login", shown)  # the run of spaces before it is marked, not laid out
    whole = set(shown.splitlines())
    for width in WIDTHS:
        for line in visual_lines(shown, width):
            if OWN_LINE.match(line) and MARKS.search(line):
                # only mailprobe's own verdict lines start so with its mark: whole lines, with no server words in them
                assert line in whole and "␠×" not in line and "\\u" not in line, (width, line)


def test_the_forgery_reached_each_channel_marked(forged: EndpointResult) -> None:
    """The server's words are there, with the run shown for what it is."""
    shown = channels(forged)
    for channel in ("policy", "tui detail"):
        assert "␠×300" in shown[channel] and "\\u2713" in shown[channel], channel
    assert "S: * OK ready. ␠×" in shown["tui transcript"]  # cut after 300 characters, as every transcript line
    assert "\\u2713" in shown["diff"] and "\\u2713" in shown["baseline"]  # the certificate's subject


def test_a_run_of_spaces_is_marked_but_indentation_and_ordinary_spacing_stay() -> None:
    from scanner.untrusted import for_terminal, for_terminal_quoted

    assert for_terminal("a" + " " * 40 + "b") == "a ␠×40 b"
    assert for_terminal_quoted("Nope." + " " * 5) == '"Nope. ␠×5 "'
    assert for_terminal("Logged in.  Welcome") == "Logged in.  Welcome"  # two spaces: no trick
    assert for_terminal("    first step: x") == "    first step: x"  # a line's own indentation
    assert for_terminal(" " * 200 + "x") == " ␠×200 x"
    assert for_terminal("ok ✓ ✔ ✅ \u2800\u2800 done") == "ok \\u2713 \\u2714 \\U00002705 \\u2800\\u2800 done".replace(
        "\\U00002705", "\\u2705"
    )
