"""A probe's row from what it observed: the verdict, the findings and the result, built from ``Seen`` (what the
conversation saw, filled in as it goes). No I/O, no clock: the conversation (``conversation``) drives the sockets and
hands over what it saw and how long it took, so every row, a probe stopped half-way included, is built here and can
be tested without a server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scanner.model import (
    Capabilities,
    Endpoint,
    EndpointResult,
    Finding,
    InjectionTry,
    NtlmInfo,
    PlaintextLogin,
    StartTls,
    State,
    TlsInfo,
)
from scanner.probe.dialects import dialect_for
from scanner.probe.options import ProbeOptions
from scanner.probe.transcript import Transcript
from scanner.verdicts.capability_changes import capability_changes, capability_findings
from scanner.verdicts.findings import LoginFacts
from scanner.verdicts.injection import injection_findings, judge_injection
from scanner.verdicts.plaintext import LoginAttempt, LoginEvidence, judge_plaintext_login
from scanner.verdicts.software import detect_software

if TYPE_CHECKING:
    from scanner.tls.channel import HandshakeInfo


@dataclass
class Seen:
    """Everything observed so far; turned into a result even when the probe stops half-way."""

    state: State = "error"
    error: str | None = None
    greeting: str | None = None
    caps_before: tuple[str, ...] = ()
    caps_after: tuple[str, ...] = ()
    starttls: StartTls = "not_applicable"
    starttls_advertised: bool = False
    starttls_error: str | None = None
    preauth: bool = False
    clear: list[LoginAttempt] = field(default_factory=list)
    over_tls: list[LoginAttempt] = field(default_factory=list)
    login_tried: bool = False
    handshake: HandshakeInfo | None = None
    injected: bytes = b""
    injection_tries: list[InjectionTry] = field(default_factory=list)
    injection_not_run: str = ""  # why the STARTTLS command-injection test was not run
    tls_info: TlsInfo | None = None
    extra_findings: list[Finding] = field(default_factory=list)
    incomplete: str | None = None  # why the probe stopped before its end (time cap, a failure of ours)
    ptr: str | None = None  # the address's PTR name, looked up during the probe (when the endpoint had none)
    ntlm: NtlmInfo | None = None  # what an NTLM CHALLENGE named, where NTLM is offered


def analysis_failed(reason: str) -> Finding:
    return Finding(
        "tls-analysis-failed",
        "medium",
        "TLS session could not be fully analysed",
        f"The handshake completed, but analysing what the server presented failed ({reason}): the certificate "
        "and the TLS versions of this endpoint are not judged. Everything else in this row stands.",
        "Inspect the certificate by hand (openssl s_client -showcerts) and replace it if it is malformed.",
    )


def _incomplete(reason: str, seen: Seen, transport: str) -> Finding:
    missing = []
    if transport == "starttls" and seen.starttls == "not_applicable":
        missing.append("STARTTLS was not tried")
    if seen.handshake is None:
        missing.append("no TLS handshake, so no certificate")
    if not seen.login_tried and transport == "starttls":
        missing.append("no dummy login in clear")
    said = "; not reached: " + ", ".join(missing) if missing else ""
    return Finding(
        "probe-incomplete",
        "info",
        "Probe stopped before its end",
        f"{reason}{said}. Only what was observed is reported; nothing is assumed about the steps not reached.",
        "Probe this endpoint again; if it stops again, the server is too slow or stalls on purpose.",
    )


_IMPLICIT = PlaintextLogin("not_applicable", ("implicit TLS: no cleartext phase on this port",))


def assemble(
    endpoint: Endpoint, options: ProbeOptions, seen: Seen, transcript: Transcript, duration_ms: int
) -> EndpointResult:
    """The row of ``endpoint``: what was seen, judged. Never raises: when judging fails, the facts seen stand with
    the reason (an "inconclusive" verdict), never a made-up one."""
    try:
        return _result(endpoint, options, seen, transcript, duration_ms)
    except Exception as exc:
        return _bare_result(endpoint, seen, transcript, duration_ms, f"internal error: {type(exc).__name__}: {exc}")


def _result(
    endpoint: Endpoint, options: ProbeOptions, seen: Seen, transcript: Transcript, duration_ms: int
) -> EndpointResult:
    software = detect_software(seen.greeting, seen.caps_before + seen.caps_after)
    dialect = dialect_for(endpoint.protocol)
    advertised = dialect.advertised(seen.caps_before)
    if endpoint.transport == "implicit":
        verdict = _IMPLICIT
        starttls: StartTls = "not_applicable"
    else:
        starttls = seen.starttls
        if seen.state == "open" and starttls == "not_applicable":
            starttls = "not_tested"  # the probe stopped before STARTTLS: nothing is known about it
        if seen.state != "open" and not seen.clear:
            verdict = PlaintextLogin("not_tested", (seen.error or "endpoint not reachable",))
        elif not options.login_probe and not seen.preauth:
            verdict = PlaintextLogin("not_tested", ("login probe disabled (--no-login-probe)",))
        else:
            verdict = judge_plaintext_login(
                LoginEvidence(
                    advertised=advertised,
                    clear=tuple(seen.clear),
                    tls=tuple(seen.over_tls),
                    tls_available=seen.starttls == "ok",
                    preauth=seen.preauth,
                    no_tls=seen.starttls == "not_offered",
                )
            )
    findings: list[Finding] = []
    injection = None
    if endpoint.transport == "starttls" and seen.state == "open" and not seen.preauth:
        not_run = seen.injection_not_run or seen.incomplete or ""
        injection = judge_injection(seen.injection_tries, starttls_ok=seen.starttls == "ok", not_run=not_run)
    if seen.state == "open":
        findings = dialect.findings(
            LoginFacts(
                protocol=endpoint.protocol,
                transport=endpoint.transport,
                software=software,
                advertised=advertised,
                starttls=starttls,
                starttls_advertised=seen.starttls_advertised,
                starttls_error=seen.starttls_error,
                preauth=seen.preauth,
                plaintext_login=verdict,
                injected_after_starttls=seen.injected,
            )
        )
        findings.extend(injection_findings(endpoint.protocol, injection))
        if endpoint.transport == "starttls":
            findings.extend(capability_findings(endpoint.protocol, software, seen.caps_before, seen.caps_after))
        findings.extend(seen.extra_findings)
        if seen.incomplete:
            findings.append(_incomplete(seen.incomplete, seen, endpoint.transport))
    tls = seen.tls_info
    if tls is None and seen.handshake is not None:
        tls = TlsInfo(seen.handshake.version, seen.handshake.cipher)
    return _observed(
        endpoint,
        seen,
        transcript,
        duration_ms,
        error=seen.error,
        software=software,
        starttls=starttls if seen.state == "open" or endpoint.transport == "implicit" else "not_applicable",
        plaintext_login=verdict,
        tls=tls,
        findings=tuple(findings),
        starttls_injection=injection,
    )


def _bare_result(
    endpoint: Endpoint, seen: Seen, transcript: Transcript, duration_ms: int, reason: str
) -> EndpointResult:
    """What is left when judging itself failed: the facts seen, and the reason, never a made-up verdict."""
    return _observed(
        endpoint, seen, transcript, duration_ms, error=reason, plaintext_login=PlaintextLogin("inconclusive", (reason,))
    )


def _observed(
    endpoint: Endpoint, seen: Seen, transcript: Transcript, duration_ms: int, **judged: Any
) -> EndpointResult:
    """The result: what was observed of ``endpoint``, with what was judged of it (``judged``: the other fields)."""
    return EndpointResult(
        host=endpoint.host,
        address=endpoint.address,
        name=endpoint.name,
        port=endpoint.port,
        protocol=endpoint.protocol,
        transport=endpoint.transport,
        state=seen.state,
        greeting=seen.greeting,
        capabilities=Capabilities(
            seen.caps_before,
            seen.caps_after,
            *capability_changes(endpoint.protocol, seen.caps_before, seen.caps_after),
        ),
        ntlm=seen.ntlm,
        transcript=transcript.lines(),
        duration_ms=duration_ms,
        ptr=endpoint.ptr or seen.ptr,
        srv_domain=endpoint.srv_domain,
        **judged,
    )
