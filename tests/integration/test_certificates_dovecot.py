"""Issue 4's acceptance test: each kind of certificate, served by a real Dovecot on 143 (STARTTLS) and 993
(implicit TLS), scanned with the real CLI (`python -m scanner scan ... --format json`).

With `--ca-file` (the private test CA) and `--expect-name`, each scan must give exactly the findings
docs/findings-tls.md says it should, and no others; without `--ca-file` the same certificate must be
`trusted: false` for the documented reason (the `trust_error` kind). The expected sets below are written by hand
from docs/findings-tls.md, never computed with the code under test.

One Dovecot per certificate kind ("plaintext_refused" set-up: no login findings), all started at once, and all scans
run as parallel subprocesses: the whole module takes a few seconds. The scanner connects from 127.0.0.1, each
Dovecot listens on its own 127.0.0.x; targets are addresses (plus --expect-name) and --no-ptr keeps DNS out.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
from cryptography.hazmat.primitives import hashes

from scanner.certgen import CA, Issued, exchange_default, make_ca
from tests.dovecot import DovecotInstance, close_all, require_dovecot, start_instance

pytestmark = pytest.mark.dovecot

ROOT = Path(__file__).resolve().parents[2]
NAME = "mail.example.test"
EXCHANGE_FQDN = "EX01.corp.example.test"
PORTS = (143, 993)

# Debian's OpenSSL runs at security level 2, where Dovecot refuses to load an RSA 1024 key ("ee key too small") or a
# SHA-1 signed certificate ("ca md too weak") and every handshake fails. Level 0 lets it serve them, as an old or
# differently built server would, so that the scanner can be checked on what it reports about them.
WEAK_CRYPTO_CONFIG = "ssl_cipher_list = DEFAULT:@SECLEVEL=0\n"

# Severities from docs/findings-tls.md, for the exit code (default --fail-on high).
SEVERITY = {
    "cert-untrusted": "high",
    "cert-self-signed": "high",
    "cert-exchange-default": "medium",
    "cert-name-mismatch": "high",
    "cert-expired": "high",
    "cert-not-yet-valid": "high",
    "cert-weak-key": "medium",
    "cert-weak-signature": "medium",
    "tls-legacy-version": "medium",
}

# trust_error kinds (docs/findings-tls.md, "How the certificate is judged").
SELF_SIGNED = "self-signed"
INCOMPLETE = "incomplete chain or unknown issuer"
UNKNOWN_ISSUER = "unknown issuer"
EXPIRED = "expired"
NOT_YET_VALID = "not yet valid"
WEAK_SIGNATURE = "weak signature"


@dataclass(frozen=True)
class Authorities:
    root: CA
    intermediate: CA


@dataclass(frozen=True)
class Kind:
    """One certificate kind, served by its own Dovecot."""

    make: Callable[[Authorities, dt.datetime], Issued]
    extra_config: str = ""  # added to the Dovecot configuration


@dataclass(frozen=True)
class Scan:
    """One CLI run against a kind's Dovecot and what it must report on both ports."""

    kind: str
    ca_file: Literal["root", "none", "pinned"]  # the test CA, nothing, or the served certificate itself
    expect_name: str
    findings: frozenset[str]
    trust_kind: str | None  # None: trusted
    legacy_accepted: tuple[str, ...] | None = None  # run the TLS 1.0/1.1 checks; the versions they must find
    extra: dict[str, Any] = field(default_factory=dict)  # further tls.certificate fields to check

    @property
    def id(self) -> str:
        return f"{self.kind}-{self.ca_file}-{self.expect_name}" + (
            "-legacy" if self.legacy_accepted is not None else ""
        )


def _days(now: dt.datetime, n: int) -> dt.datetime:
    return now + dt.timedelta(days=n)


# Leaves are valid 90 days unless said otherwise: not expiring within 30 days, not longer than 398 days.
KINDS: dict[str, Kind] = {
    # Sent with its intermediate (a full chain), as a well set-up server does.
    "good": Kind(lambda ca, now: ca.intermediate.issue([NAME])),
    "expired": Kind(lambda ca, now: ca.root.issue([NAME], not_before=_days(now, -120), not_after=_days(now, -30))),
    "not-yet-valid": Kind(lambda ca, now: ca.root.issue([NAME], not_before=_days(now, 30), not_after=_days(now, 120))),
    "wrong-name": Kind(lambda ca, now: ca.root.issue(["other.example.test"])),
    "wildcard": Kind(lambda ca, now: ca.root.issue(["*.example.test"])),
    "exchange-default": Kind(lambda ca, now: exchange_default(EXCHANGE_FQDN)),
    "weak-key": Kind(
        lambda ca, now: ca.root.issue([NAME], key_size=1024, reuse_key=False), extra_config=WEAK_CRYPTO_CONFIG
    ),
    "sha1": Kind(lambda ca, now: ca.root.issue([NAME], hash_name="sha1"), extra_config=WEAK_CRYPTO_CONFIG),
    # Signed by the intermediate, served without it.
    "missing-intermediate": Kind(lambda ca, now: ca.intermediate.issue([NAME], include_intermediates=False)),
    # Positive control for the legacy check on "good": a Dovecot that still accepts TLS 1.0 and 1.1 (OpenSSL 3
    # allows them only at security level 0).
    "legacy-enabled": Kind(
        lambda ca, now: ca.root.issue([NAME]), extra_config="ssl_min_protocol = TLSv1\n" + WEAK_CRYPTO_CONFIG
    ),
}

S = frozenset
SCANS: list[Scan] = [
    # good: nothing at all; TLS 1.0/1.1 refused by Dovecot's default ssl_min_protocol (TLSv1.2).
    Scan("good", "root", NAME, S(), None, legacy_accepted=(), extra={"chain_length": 2, "name_match": True}),
    Scan("good", "none", NAME, S({"cert-untrusted"}), UNKNOWN_ISSUER, extra={"chain_length": 2}),
    # A date problem alone is reported as such: no cert-untrusted on top (overlap rule).
    Scan("expired", "root", NAME, S({"cert-expired"}), EXPIRED),
    Scan("expired", "none", NAME, S({"cert-untrusted", "cert-expired"}), INCOMPLETE),
    Scan("not-yet-valid", "root", NAME, S({"cert-not-yet-valid"}), NOT_YET_VALID),
    Scan("not-yet-valid", "none", NAME, S({"cert-untrusted", "cert-not-yet-valid"}), INCOMPLETE),
    # Trust is judged on the certificate's own name: a wrong name is a name finding, not a trust failure.
    Scan("wrong-name", "root", NAME, S({"cert-name-mismatch"}), None, extra={"name_match": False}),
    Scan("wrong-name", "none", NAME, S({"cert-untrusted", "cert-name-mismatch"}), INCOMPLETE),
    # *.example.test: one whole left-most label only.
    Scan("wildcard", "root", NAME, S(), None, extra={"name_match": True}),
    Scan("wildcard", "root", "imap.mail.example.test", S({"cert-name-mismatch"}), None, extra={"name_match": False}),
    Scan("wildcard", "root", "example.test", S({"cert-name-mismatch"}), None, extra={"name_match": False}),
    Scan("wildcard", "none", NAME, S({"cert-untrusted"}), INCOMPLETE),
    # Exchange's default: self-signed (high) plus exchange-default (medium); no cert-untrusted on top; no long
    # validity finding for a self-signed certificate. DNS names compare case-insensitively.
    Scan(
        "exchange-default",
        "root",
        NAME,
        S({"cert-self-signed", "cert-exchange-default", "cert-name-mismatch"}),
        SELF_SIGNED,
        extra={"self_signed": True, "exchange_default": True},
    ),
    Scan(
        "exchange-default",
        "root",
        EXCHANGE_FQDN.lower(),
        S({"cert-self-signed", "cert-exchange-default"}),
        SELF_SIGNED,
        extra={"name_match": True},
    ),
    Scan(
        "exchange-default",
        "none",
        NAME,
        S({"cert-self-signed", "cert-exchange-default", "cert-name-mismatch"}),
        SELF_SIGNED,
    ),
    # Pinned with --ca-file: trusted, but still flagged as Exchange's default.
    Scan("exchange-default", "pinned", EXCHANGE_FQDN.lower(), S({"cert-exchange-default"}), None),
    Scan("weak-key", "root", NAME, S({"cert-weak-key"}), None, extra={"key": "RSA 1024"}),
    Scan("weak-key", "none", NAME, S({"cert-untrusted", "cert-weak-key"}), INCOMPLETE),
    # A CA-issued SHA-1 leaf: weak signature, and untrusted because the verifier refuses SHA-1.
    Scan("sha1", "root", NAME, S({"cert-untrusted", "cert-weak-signature"}), WEAK_SIGNATURE),
    Scan("sha1", "none", NAME, S({"cert-untrusted", "cert-weak-signature"}), INCOMPLETE),
    Scan("missing-intermediate", "root", NAME, S({"cert-untrusted"}), INCOMPLETE, extra={"chain_length": 1}),
    Scan("missing-intermediate", "none", NAME, S({"cert-untrusted"}), INCOMPLETE),
    Scan("legacy-enabled", "root", NAME, S({"tls-legacy-version"}), None, legacy_accepted=("TLSv1", "TLSv1.1")),
    Scan("legacy-enabled", "none", NAME, S({"cert-untrusted"}), INCOMPLETE),
]


@dataclass(frozen=True)
class Outcome:
    returncode: int
    stderr: str
    rows: dict[int, dict[str, Any]]


@dataclass(frozen=True)
class Served:
    """What the scans ran against: the expected fingerprint per kind, and each scan's outcome."""

    sha256: dict[str, str]
    outcomes: dict[str, Outcome]
    logs: dict[str, str]


def _command(scan: Scan, address: str, ca_path: Path | None) -> list[str]:
    args = [sys.executable, "-m", "scanner", "scan", address, "-p", ",".join(map(str, PORTS))]
    args += ["--expect-name", scan.expect_name, "--source-address", "127.0.0.1", "--format", "json"]
    # a loaded machine must not turn a slow handshake into a missing row; the certificate checks and the legacy
    # check (which the TLS enumeration replaces): the enumeration has its own tests (test_tls_profiles.py)
    args += ["--no-ptr", "--timeout", "30", "--no-tls-enumeration"]
    if ca_path is not None:
        args += ["--ca-file", str(ca_path)]
    if scan.legacy_accepted is None:
        args.append("--no-legacy-tls")
    return args


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    require_dovecot()
    files = Path(tempfile.mkdtemp(prefix="mp-certs-"))  # not pytest's tmp_path: Dovecot must read these
    files.chmod(0o755)
    now = dt.datetime.now(dt.UTC)
    root = make_ca("mailprobe acceptance root")
    authorities = Authorities(root, make_ca("mailprobe acceptance intermediate", parent=root))
    root_pem = root.write(files, "root")
    instances: dict[str, DovecotInstance] = {}
    try:
        issued: dict[str, Issued] = {}
        for name, kind in KINDS.items():
            issued[name] = kind.make(authorities, now)
            cert_path, key_path = issued[name].write(files, name)
            instances[name] = start_instance(
                "plaintext_refused",
                cert_path=cert_path,
                key_path=key_path,
                extra_config=kind.extra_config,
            )
        procs = {}
        for scan in SCANS:
            ca_path = {"root": root_pem, "none": None, "pinned": files / f"{scan.kind}.crt"}[scan.ca_file]
            procs[scan.id] = subprocess.Popen(
                _command(scan, instances[scan.kind].address, ca_path),
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        outcomes = {}
        for scan_id, proc in procs.items():
            out, err = proc.communicate(timeout=300)
            rows = {row["port"]: row for row in json.loads(out)["results"]} if out.strip() else {}
            outcomes[scan_id] = Outcome(proc.returncode, err, rows)
        yield Served(
            sha256={name: i.cert.fingerprint(hashes.SHA256()).hex() for name, i in issued.items()},
            outcomes=outcomes,
            logs={name: dv.read_log() for name, dv in instances.items()},
        )
    finally:
        close_all(list(instances.values()))
        shutil.rmtree(files, ignore_errors=True)


def test_every_kind_is_scanned_with_and_without_the_ca() -> None:
    for kind in KINDS:
        assert {s.ca_file for s in SCANS if s.kind == kind} >= {"root", "none"}, kind


@pytest.mark.parametrize("scan", SCANS, ids=lambda s: s.id)
@pytest.mark.parametrize("port", PORTS)
def test_findings_and_trust(served: Served, scan: Scan, port: int) -> None:
    outcome = served.outcomes[scan.id]
    assert set(outcome.rows) == set(PORTS), outcome.stderr
    row = outcome.rows[port]
    assert row["state"] == "open", (row.get("error"), served.logs[scan.kind][-2000:])
    assert row["transport"] == ("starttls" if port == 143 else "implicit")
    cert = row["tls"]["certificate"]
    assert cert["sha256"] == served.sha256[scan.kind]  # the certificate this kind's Dovecot was given

    assert {f["id"] for f in row["findings"]} == scan.findings, row["findings"]
    assert cert["trusted"] is (scan.trust_kind is None), cert["trust_error"]
    if scan.trust_kind is None:
        assert cert["trust_error"] is None
    else:
        assert cert["trust_error_kind"] == scan.trust_kind, cert["trust_error"]
        assert not re.search(r"\d+\.\d+\.\d+\.\d+\.\d+", cert["trust_error"]), "an OID reached the user"
    assert (scan.ca_file != "none") == ("ca-file" in cert["trust_store"]), cert["trust_store"]
    assert scan.expect_name in cert["names_checked"]
    for key, value in scan.extra.items():
        assert cert[key] == value, key
    if scan.legacy_accepted is not None:
        assert row["tls"]["legacy_versions_accepted"] == list(scan.legacy_accepted)
        untested = [entry.split(":", 1)[0] for entry in row["tls"].get("legacy_versions_untested", [])]
        assert not {"TLSv1", "TLSv1.1"} & set(untested), untested  # both really tried


@pytest.mark.parametrize("scan", SCANS, ids=lambda s: s.id)
def test_exit_code_follows_the_findings(served: Served, scan: Scan) -> None:
    high = any(SEVERITY[f] in ("critical", "high") for f in scan.findings)
    assert served.outcomes[scan.id].returncode == (1 if high else 0), served.outcomes[scan.id].stderr


@pytest.mark.parametrize("scan", [s for s in SCANS if s.legacy_accepted is not None], ids=lambda s: s.id)
def test_one_legacy_probe_per_server(served: Served, scan: Scan) -> None:
    """143 and 993 of one Dovecot share one TLS configuration: one port probes the legacy versions, the other
    takes its result and names the port it came from."""
    rows = served.outcomes[scan.id].rows
    sources = {port: rows[port]["tls"].get("legacy_versions_probed_on") for port in PORTS}
    assert list(sources.values()).count(None) == 1, sources  # exactly one port probed ...
    probed = next(port for port, source in sources.items() if source is None)
    assert all(source == probed for port, source in sources.items() if port != probed), sources  # ... for both
    assert rows[143]["tls"]["legacy_versions_accepted"] == rows[993]["tls"]["legacy_versions_accepted"]
