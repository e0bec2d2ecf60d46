"""After a handshake: judge the presented chain and the TLS parameters (scanner.tls does the analysis)."""

from __future__ import annotations

from scanner.engine.options import ProbeOptions
from scanner.model import Endpoint, Finding, TlsInfo
from scanner.tls.channel import HandshakeInfo


async def inspect_tls(
    endpoint: Endpoint, options: ProbeOptions, handshake: HandshakeInfo
) -> tuple[TlsInfo, list[Finding]]:
    return TlsInfo(handshake.version, handshake.cipher), []
