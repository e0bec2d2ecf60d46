"""NTLM names decoded from a real server: Dovecot 2.3 with ``auth_mechanisms = plain ntlm`` (through Samba's
ntlm_auth, as Debian builds it) answers mailprobe's NEGOTIATE with a real CHALLENGE on all four ports."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from scanner.model import DEFAULT_PORTS, Endpoint, EndpointResult
from scanner.probe.conversation import probe_endpoint
from scanner.probe.options import ProbeOptions
from tests.dovecot import ntlm_config, require_dovecot, require_ntlm_auth, start_instance

pytestmark = pytest.mark.dovecot

OPTIONS = ProbeOptions(source_address="127.0.0.1", connect_timeout=3, read_timeout=5, legacy_tls=False)


@pytest.fixture(scope="module")
def rows() -> Iterator[dict[int, EndpointResult]]:
    require_dovecot()
    require_ntlm_auth()
    samba = Path(tempfile.mkdtemp(prefix="mp-samba-"))  # not pytest's tmp_path (0700): Dovecot's auth runs the helper
    samba.chmod(0o755)
    extra = ntlm_config(samba, workgroup="MPTEST", netbios_name="DOVECOT01")
    dv = start_instance("plaintext_refused", extra_config=extra)
    try:

        async def run() -> list[EndpointResult]:
            endpoints = [Endpoint(dv.address, dv.address, p, *DEFAULT_PORTS[p]) for p in sorted(DEFAULT_PORTS)]
            return await asyncio.gather(*(probe_endpoint(e, OPTIONS) for e in endpoints))

        yield {r.port: r for r in asyncio.run(run())}
    finally:
        dv.close()
        shutil.rmtree(samba, ignore_errors=True)


@pytest.mark.parametrize(("port", "over_tls", "severity"), [(110, False, "medium"), (143, False, "medium"),
                                                            (993, True, "low"), (995, True, "low")])  # fmt: skip
def test_ntlm_names_from_a_real_dovecot(rows, port: int, over_tls: bool, severity: str) -> None:  # type: ignore[no-untyped-def]
    result = rows[port]
    assert result.state == "open" and result.software == "Dovecot"
    info = result.ntlm
    assert info is not None and info.error is None, result.transcript
    assert info.over_tls is over_tls
    assert info.netbios_computer == "DOVECOT01"
    assert info.netbios_domain == info.target_name == "MPTEST"
    assert info.product_version is not None  # Samba states a Windows version of its own
    assert info.server_time is not None
    clock = dt.datetime.fromisoformat(info.server_time.replace("Z", "+00:00"))
    assert abs((clock - dt.datetime.now(dt.UTC)).total_seconds()) < 600  # the server's own clock, read from the AV pair
    (finding,) = [f for f in result.findings if f.id == "ntlm-info-disclosure"]
    assert finding.severity == severity and "'DOVECOT01'" in finding.detail
    assert finding.remediation.startswith("Remove ntlm from auth_mechanisms")


@pytest.mark.parametrize("port", [110, 143])
def test_the_verdict_stands_beside_ntlm(rows, port: int) -> None:  # type: ignore[no-untyped-def]
    result = rows[port]
    assert result.plaintext_login.verdict == "refused", result.plaintext_login.evidence
    assert result.starttls == "ok"
    changes = " ".join(result.capabilities.removed_after_tls)
    assert ("LOGINDISABLED" in changes) if port == 143 else ("STLS" in changes)
