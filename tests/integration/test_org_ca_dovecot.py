"""A well-run server with an organisation CA, as issue 13 describes it, scanned by a real mailprobe against a real
Dovecot: the CA and the certificates carry no Authority/Subject Key Identifier (many internal CAs issue them so), the
leaf names the server's address as an IP SAN, and the scan is by bare address.

What a user checks: OpenSSL trusts the chain (openssl verify, as `openssl s_client -CAfile` would), so mailprobe
trusts it too, says which store vouched for it, reports the missing identifiers as a separate low finding in plain
words (no OID), matches the address against the IP SAN, and the scan passes `--fail-on high`. Without an IP SAN the
name is "not checked" (info) and the scan still passes; with --expect-name of another name it is a mismatch.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scanner.certgen import make_ca
from tests.dovecot import DovecotInstance, close_all, require_dovecot, start_instance

ROOT = Path(__file__).resolve().parents[2]
PORTS = (143, 993)


@dataclass
class Site:
    ca_file: Path
    with_ip: DovecotInstance  # leaf with a DNS SAN and the server's address as IP SAN
    without_ip: DovecotInstance  # leaf with a DNS SAN only
    files: Path


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    require_dovecot()
    files = Path(tempfile.mkdtemp(prefix="mp-orgca-"))
    files.chmod(0o755)
    root = make_ca("Example Corp Root CA", key_ids=False)
    issuing = make_ca("Example Corp Issuing CA", parent=root, key_ids=False)
    instances: list[DovecotInstance] = []
    try:
        plain = issuing.issue(["mail.corp.example.test"], key_ids=False)
        cert, key = plain.write(files, "plain")
        without_ip = start_instance("plaintext_refused", cert_path=cert, key_path=key)
        instances.append(without_ip)
        # The address is known once the instance runs: start it, then restart it with a leaf naming that address.
        probe = start_instance("plaintext_refused", cert_path=cert, key_path=key)
        instances.append(probe)
        address_cert = issuing.issue(["mail2.corp.example.test"], ip_addresses=[probe.address], key_ids=False)
        cert2, key2 = address_cert.write(files, "with-ip")
        probe.reconfigure("plaintext_refused", cert_path=cert2, key_path=key2)
        yield Site(root.write(files, "corp-root"), probe, without_ip, files)
    finally:
        close_all(instances)
        shutil.rmtree(files, ignore_errors=True)


def scan(address: str, ca_file: Path, *extra: str) -> tuple[int, dict[int, dict], str]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "scanner",
            "scan",
            address,
            "-p",
            ",".join(map(str, PORTS)),
            "--format",
            "json",
            "--source-address",
            "127.0.0.1",
            "--no-ptr",
            "--no-legacy-tls",
            "--timeout",
            "5",
            "--fail-on",
            "high",
            "--ca-file",
            str(ca_file),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )
    rows = {row["port"]: row for row in json.loads(done.stdout)["results"]} if done.stdout.strip() else {}
    return done.returncode, rows, done.stderr


def test_openssl_itself_accepts_the_chain(site: Site) -> None:
    if not shutil.which("openssl"):
        pytest.skip("no openssl command")
    leaf_chain = (site.files / "with-ip.crt").read_text()
    leaf, intermediate = re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\n", leaf_chain, re.S)
    (site.files / "leaf.pem").write_text(leaf)
    (site.files / "intermediate.pem").write_text(intermediate)
    done = subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            str(site.ca_file),
            "-untrusted",
            str(site.files / "intermediate.pem"),
            str(site.files / "leaf.pem"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0 and "OK" in done.stdout, done.stdout + done.stderr


def test_bare_address_scan_with_ip_san_passes_fail_on_high(site: Site) -> None:
    code, rows, stderr = scan(site.with_ip.address, site.ca_file)
    assert set(rows) == set(PORTS), stderr
    for row in rows.values():
        cert = row["tls"]["certificate"]
        assert cert["trusted"] is True, cert["trust_error"]
        assert cert["trust_store"].startswith("ca-file "), cert["trust_store"]
        assert cert["name_match"] is True
        assert {"name": site.with_ip.address, "source": "address", "result": "match", "note": ""} in cert["name_checks"]
        findings = {f["id"]: f for f in row["findings"]}
        assert "cert-untrusted" not in findings and "cert-name-mismatch" not in findings
        deviation = findings["cert-profile-deviation"]
        assert deviation["severity"] == "low"
        assert "Authority Key Identifier" in deviation["detail"]
        assert not re.search(r"\d+\.\d+\.\d+\.\d+\.\d+", deviation["detail"])  # no OID
    assert rows[143]["plaintext_login"]["verdict"] == "refused"
    assert code == 0, (stderr, [f["id"] for r in rows.values() for f in r["findings"]])


def test_bare_address_scan_without_ip_san_is_not_checked_and_passes(site: Site) -> None:
    code, rows, stderr = scan(site.without_ip.address, site.ca_file)
    assert set(rows) == set(PORTS), stderr
    for row in rows.values():
        cert = row["tls"]["certificate"]
        assert cert["trusted"] is True and cert["name_match"] is None
        assert cert["name_checks"] == [
            {
                "name": site.without_ip.address,
                "source": "address",
                "result": "not checked",
                "note": "the certificate names no IP address",
            }
        ]
        ids = {f["id"]: f["severity"] for f in row["findings"]}
        assert ids.get("cert-name-not-checked") == "info" and "cert-name-mismatch" not in ids
    assert code == 0, stderr


def test_expect_name_of_another_name_is_a_mismatch(site: Site) -> None:
    code, rows, stderr = scan(site.without_ip.address, site.ca_file, "--expect-name", "imap.other.example.test")
    assert set(rows) == set(PORTS), stderr
    for row in rows.values():
        assert row["tls"]["certificate"]["name_match"] is False
        assert "cert-name-mismatch" in {f["id"] for f in row["findings"]}
    assert code == 1


def test_expect_name_that_matches_passes(site: Site) -> None:
    code, rows, stderr = scan(site.without_ip.address, site.ca_file, "--expect-name", "mail.corp.example.test")
    checks = rows[993]["tls"]["certificate"]["name_checks"]
    assert {"name": "mail.corp.example.test", "source": "expect-name", "result": "match", "note": ""} in checks
    assert code == 0, stderr
