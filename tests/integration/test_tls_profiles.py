"""Real Dovecot and Postfix set up as Mozilla's modern, intermediate and old profiles, and one with TLS 1.0 and a
suite without forward secrecy, scanned as a user would (``mailprobe scan``). The expected compliance of each set-up
is the one sslyze's --mozilla_config checker gives (benchmarks/tls_oracle.py runs it, with testssl.sh, and
docs/tls-configuration.md records where the two tools agree and where they differ, and why)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tls_profile_servers import SETUPS, ProfileHost, profile_host

pytestmark = pytest.mark.dovecot
ROOT = Path(__file__).resolve().parents[2]
PORTS = (143, 993, 587)  # Dovecot STARTTLS and implicit TLS, Postfix submission (STARTTLS)


def scan(host: ProfileHost, *extra: str) -> dict[int, dict]:
    done = subprocess.run(
        [sys.executable, "-m", "scanner", "scan", host.address, "-p", ",".join(map(str, PORTS)), "--ca-file",
         str(host.ca_file), "--source-address", "127.0.0.1", "--format", "json", "--no-ptr", "--no-tui", *extra],
        capture_output=True, text=True, timeout=180, cwd=ROOT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    return {row["port"]: row for row in json.loads(done.stdout)["results"]}  # --format json: {scan, results}


@pytest.fixture(scope="module")
def scanned() -> Iterator[dict[str, tuple[ProfileHost, dict[int, dict]]]]:
    directory = Path(tempfile.mkdtemp(prefix="mp-profiles-"))  # not pytest's tmp_path: Dovecot must read these
    directory.chmod(0o755)
    with contextlib.ExitStack() as stack:
        hosts = {name: stack.enter_context(profile_host(name, directory)) for name in SETUPS}
        yield {name: (host, scan(host)) for name, host in hosts.items()}


@pytest.mark.parametrize("name", list(SETUPS))
def test_compliance_matches_the_oracle_on_every_port(scanned, name: str) -> None:  # type: ignore[no-untyped-def]
    host, rows = scanned[name]
    assert set(rows) == set(PORTS)
    for port, row in rows.items():
        mozilla = row["tls"]["mozilla"]
        assert mozilla["guidelines"] == "5.7"
        verdicts = {profile: mozilla[profile]["compliant"] for profile in ("modern", "intermediate", "old")}
        assert verdicts == host.expected, (port, {p: mozilla[p]["deviations"] for p in verdicts})
        strictest = next((p for p in ("modern", "intermediate", "old") if host.expected[p]), "none")
        assert mozilla["summary"] == strictest
        config = row["tls"]["configuration"]
        assert config["untested"] == [], (port, config["untested"])
        assert 0 < config["handshakes"] <= 120 or config["enumerated_on"] is not None


def test_what_the_enumeration_finds_on_the_legacy_server(scanned) -> None:  # type: ignore[no-untyped-def]
    _, rows = scanned["legacy"]
    for port in PORTS:
        config = rows[port]["tls"]["configuration"]
        assert config["versions"] == ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
        tls10 = next(s for s in config["suites"] if s["version"] == "TLSv1")
        assert tls10["suites"] == ["TLS_RSA_WITH_CAMELLIA_128_CBC_SHA"]  # ECDHE-RSA-AES128-GCM is TLS 1.2 only
        assert config["forward_secrecy"] == "some"
        assert config["groups"] == ["x25519", "secp256r1", "secp384r1"]  # ssl_curve_list / tls_eecdh_auto_curves
        assert config["fallback_scsv"] is True  # OpenSSL refuses the downgraded hello (Dovecot closes, Postfix alerts)
        assert config["secure_renegotiation"] is True and config["compression"] is False
        assert rows[port]["tls"]["legacy_versions_accepted"] == ["TLSv1", "TLSv1.1"]
        findings = {f["id"]: f for f in rows[port]["findings"]}
        assert {"tls-mozilla-tls-versions", "tls-mozilla-ciphers", "tls-legacy-version"} <= set(findings)
    dovecot_fix = {f["id"]: f for f in rows[993]["findings"]}["tls-mozilla-tls-versions"]["remediation"]
    postfix_fix = {f["id"]: f for f in rows[587]["findings"]}["tls-mozilla-tls-versions"]["remediation"]
    assert dovecot_fix.startswith("ssl_min_protocol = TLSv1.2")
    assert "smtpd_tls_protocols = >=TLSv1.2" in postfix_fix


def test_the_ports_of_one_dovecot_share_one_enumeration(scanned) -> None:  # type: ignore[no-untyped-def]
    _, rows = scanned["intermediate"]
    sources = {port: rows[port]["tls"]["configuration"]["enumerated_on"] for port in (143, 993)}
    assert sorted(sources.values(), key=str) in ([143, None], [993, None]), sources
    shared = next(port for port, source in sources.items() if source is not None)
    own = sources[shared]
    first, second = rows[own]["tls"]["configuration"], rows[shared]["tls"]["configuration"]
    assert {k: v for k, v in first.items() if k != "enumerated_on"} == {
        k: v for k, v in second.items() if k != "enumerated_on"
    }
    assert rows[587]["tls"]["configuration"]["enumerated_on"] is None  # submission is never shared


def test_tls_profile_chooses_the_findings_and_the_flag_skips_it(scanned) -> None:  # type: ignore[no-untyped-def]
    host, default = scanned["intermediate"]
    assert not [f for f in default[993]["findings"] if f["id"].startswith("tls-mozilla-")]  # meets intermediate
    modern = scan(host, "--tls-profile", "modern", "-p", "993")
    ids = {f["id"] for f in modern[993]["findings"]}
    assert {"tls-mozilla-tls-versions", "tls-mozilla-certificate-types"} <= ids
    skipped = scan(host, "--no-tls-enumeration", "-p", "993")
    assert skipped[993]["tls"]["configuration"] is None and skipped[993]["tls"]["mozilla"] is None


def test_check_and_the_table_name_the_profile_met(scanned) -> None:  # type: ignore[no-untyped-def]
    host, _ = scanned["intermediate"]
    common = [host.address, "-p", "993", "--ca-file", str(host.ca_file), "--source-address", "127.0.0.1"]
    check = subprocess.run(
        [sys.executable, "-m", "scanner", "check", *common],
        capture_output=True, text=True, timeout=120, cwd=ROOT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert f"{host.address}:993 imap/implicit:" in check.stdout and "TLS meets Mozilla intermediate" in check.stdout
    table = subprocess.run(
        [sys.executable, "-m", "scanner", "scan", *common, "--no-ptr", "--format", "table", "--no-tui"],
        capture_output=True, text=True, timeout=120, cwd=ROOT, stdin=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "200"},  # the table is cut to the terminal's width
    )  # fmt: skip
    assert "TLSv1.3 (intermediate)" in table.stdout, table.stdout


@pytest.mark.parametrize("name", list(SETUPS))
def test_dovecot_and_postfix_are_not_vulnerable_to_heartbleed_or_ccs_injection(scanned, name: str) -> None:  # type: ignore[no-untyped-def]
    """OpenSSL 3 behind every set-up, STARTTLS and implicit TLS alike: an all-clear with its evidence (not
    applicable where only TLS 1.3 is served: modern), no finding."""
    _, rows = scanned[name]
    for port, row in rows.items():
        config = row["tls"]["configuration"]
        expected = "not_applicable" if config["versions"] == ["TLSv1.3"] else "not_vulnerable"
        for check in ("heartbleed", "ccs_injection"):
            assert config[check]["verdict"] == expected, (port, check, config[check])
            assert config[check]["evidence"], (port, check)
        ids = {f["id"] for f in row["findings"]}
        assert not ids & {"tls-heartbleed", "tls-ccs-injection", "tls-heartbleed-inconclusive",
                          "tls-ccs-injection-inconclusive"}, (port, ids)  # fmt: skip
