"""Real Dovecot, reconfigured between two `mailprobe scan` runs: the baseline diff names exactly what changed,
and the exit code follows the policy (0 after the fix, 1 naming the regression after the reverse change)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from scanner import certgen
from scanner.report.diff import diff_results
from scanner.report.load import read_results

pytestmark = pytest.mark.dovecot

ROOT = Path(__file__).resolve().parents[2]
NAME = "mail.mailprobe.test"
PLAINTEXT_IDS = {"plaintext-login-accepted", "plaintext-auth-advertised", "logindisabled-missing"}


@pytest.fixture
def site(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A CA the scan trusts (--ca-file) and a policy demanding refusal, trusted certificates and matching names."""
    ca = certgen.make_ca("baseline test CA")
    policy = tmp_path / "policy.toml"
    policy.write_text(
        'plaintext_login = "refused"\ncertificate_trusted = true\ncertificate_name_match = true\n', encoding="utf-8"
    )
    return ca, ca.write(tmp_path, "ca"), policy


def leaf(ca: certgen.CA, directory: Path, stem: str) -> tuple[Path, Path]:
    return ca.issue([NAME], reuse_key=False).write(directory, stem)


def sha256(cert_file: Path) -> str:
    return x509.load_pem_x509_certificate(cert_file.read_bytes()).fingerprint(hashes.SHA256()).hex()


def scan(address: str, ca_file: Path, output: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable, "-m", "scanner", "scan", address, "--source-address", "127.0.0.1", "--ca-file", str(ca_file),
        "--expect-name", NAME, "--timeout", "3", "--no-legacy-tls", "--no-tls-enumeration", "--format", "table",
        "-o", str(output), *extra,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_fix_plaintext_then_rescan_reports_exactly_that_fix(dovecot_factory, site, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ca, ca_file, policy = site
    cert, key = leaf(ca, tmp_path, "server")
    dv = dovecot_factory("plaintext_allowed", cert_path=cert, key_path=key, dns_name=NAME)
    before, after = tmp_path / "before.jsonl", tmp_path / "after.jsonl"
    first = scan(dv.address, ca_file, before)
    assert first.returncode == 1, first.stderr  # critical finding, default --fail-on high

    dv.reconfigure("plaintext_refused")
    second = scan(dv.address, ca_file, after, "--baseline", str(before), "--policy", str(policy))
    assert second.returncode == 0, second.stdout + second.stderr

    diff = {e.port: e for e in diff_results(read_results(before), read_results(after)).endpoints}
    assert set(diff) == set(dv.ports.all())
    changed = {port for port, e in diff.items() if e.status != "unchanged"}
    assert changed == {dv.ports.imap, dv.ports.pop3}  # the STARTTLS ports, nothing else
    for port in changed:
        e = diff[port]
        assert [(c.field, c.before, c.after, c.direction) for c in e.changes] == [
            ("plaintext_login", "accepted", "refused", "better")
        ]
        fixed = {f.id for f in e.fixed}
        assert "plaintext-login-accepted" in fixed and fixed <= PLAINTEXT_IDS, fixed
        assert e.new == ()
    out = second.stdout
    imap = f"{dv.address}:{dv.ports.imap} imap/starttls"
    assert f"{imap}  [changed]\n  + plaintext_login: accepted -> refused  (better)" in out
    assert "+ fixed  [critical] plaintext-login-accepted: Plaintext login accepted" in out
    assert "REGRESSION" not in out and "Policy holds." in out
    assert "0 regressions" in out

    # The same two files through `mailprobe diff --format json`.
    shown = subprocess.run(
        [sys.executable, "-m", "scanner", "diff", str(before), str(after), "--format", "json", "--fail-on-regression"],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["regressions"] == [] and data["summary"]["changed"] == 2 and data["summary"]["findings_new"] == 0


def test_reverse_change_exits_1_and_names_the_regression(dovecot_factory, site, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ca, ca_file, policy = site
    cert, key = leaf(ca, tmp_path, "server")
    dv = dovecot_factory("plaintext_refused", cert_path=cert, key_path=key, dns_name=NAME)
    before, after = tmp_path / "before.jsonl", tmp_path / "after.jsonl"
    assert scan(dv.address, ca_file, before, "--policy", str(policy)).returncode == 0

    dv.reconfigure("plaintext_allowed")
    regressed = scan(
        dv.address, ca_file, after, "--baseline", str(before), "--policy", str(policy), "--fail-on-regression"
    )
    assert regressed.returncode == 1, regressed.stdout + regressed.stderr
    out = regressed.stdout
    for port, proto in ((dv.ports.imap, "imap"), (dv.ports.pop3, "pop3")):
        label = f"{dv.address}:{port} {proto}/starttls"
        assert f"REGRESSION {label}: plaintext_login refused -> accepted" in out
        assert f"REGRESSION {label}: new finding [critical] plaintext-login-accepted" in out
        assert f"FAIL {dv.address}:{port} {proto} [plaintext-login] plaintext login accepted" in out
    assert f"{dv.address}:{dv.ports.imaps}" not in out.split("Policy:")[0]  # 993/995 did not change
    assert "Policy FAILED." in out


def test_replaced_certificate_is_the_only_change(dovecot_factory, site, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ca, ca_file, policy = site
    old_cert, old_key = leaf(ca, tmp_path, "old")
    new_cert, new_key = leaf(ca, tmp_path, "new")
    dv = dovecot_factory("plaintext_refused", cert_path=old_cert, key_path=old_key, dns_name=NAME)
    before, after = tmp_path / "before.jsonl", tmp_path / "after.jsonl"
    assert scan(dv.address, ca_file, before).returncode == 0

    dv.reconfigure(cert_path=new_cert, key_path=new_key)
    second = scan(dv.address, ca_file, after, "--baseline", str(before), "--policy", str(policy))
    assert second.returncode == 0, second.stdout + second.stderr

    old_sha, new_sha = sha256(old_cert), sha256(new_cert)
    diff = diff_results(read_results(before), read_results(after))
    assert len(diff.endpoints) == 4
    for e in diff.endpoints:
        assert e.status == "changed" and e.fixed == () and e.new == ()
        assert [(c.field, c.direction) for c in e.changes] == [("certificate", "neutral")]
        assert f"sha256 {old_sha[:16]}" in (e.changes[0].before or "")
        assert f"sha256 {new_sha[:16]}" in (e.changes[0].after or "")
    assert second.stdout.count("~ certificate: CN=mail.mailprobe.test") == 4
    assert "0 regressions" in second.stdout


def test_two_scans_in_one_file_report_as_the_second_alone(dovecot_factory, site, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Before and after the fix appended to one file (as an admin re-running the same command would): every report
    states the after-state, exactly as the after-scan alone, and says the file holds two scans."""
    ca, ca_file, _policy = site
    cert, key = leaf(ca, tmp_path, "server")
    dv = dovecot_factory("plaintext_allowed", cert_path=cert, key_path=key, dns_name=NAME)
    both, alone = tmp_path / "both.jsonl", tmp_path / "alone.jsonl"
    assert scan(dv.address, ca_file, both).returncode == 1
    refused = scan(dv.address, ca_file, both)
    assert refused.returncode == 2 and "already holds results of an earlier scan" in refused.stderr  # not mixed in
    dv.reconfigure("plaintext_refused")
    assert scan(dv.address, ca_file, both, "--append").returncode == 0
    assert scan(dv.address, ca_file, alone).returncode == 0

    def report(path: Path, fmt: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "scanner", "report", str(path), "--format", fmt],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )

    for fmt in ("junit", "json", "csv"):
        from_both, from_alone = report(both, fmt), report(alone, fmt)
        assert from_both.returncode == from_alone.returncode == 0, from_both.stderr
        assert "holds 2 scans" in from_both.stderr and "holds" not in from_alone.stderr
        if fmt == "json":
            a, b = json.loads(from_both.stdout), json.loads(from_alone.stdout)
            assert a["summary"] == b["summary"] and len(a["scans"]) == 2 and len(b["scans"]) == 1
            assert a["summary"]["endpoints"] == 4 and a["summary"]["verdicts"].get("accepted") is None
        elif fmt == "junit":
            assert 'tests="4"' in from_both.stdout and 'failures="0"' in from_both.stdout
    verdicts = [{r.port: r.plaintext_login.verdict for r in read_results(path)} for path in (both, alone)]
    assert verdicts[0] == verdicts[1] and verdicts[0][dv.ports.imap] == "refused"
