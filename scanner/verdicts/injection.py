"""The STARTTLS command-injection verdict and its finding (``starttls-command-injection``).

Pure rules over the tries the probe made (``InjectionTry``): vulnerable only when the answer to the injected command
came inside TLS before mailprobe sent anything there. Silence, an answer in clear before the handshake (pipelining
processed in order) and a try that could not be completed never make a finding; the server's wording is never read.
"""

from __future__ import annotations

from collections.abc import Sequence

from scanner.model import Finding, InjectionTry, Protocol, StartTlsInjection
from scanner.untrusted import for_terminal_quoted

FINDING_ID = "starttls-command-injection"

VARIANT_WORDS = {
    "same-write": "in the same write as STARTTLS",
    "separate-segment": "as a separate TCP segment right after STARTTLS, before its answer was read",
}

KNOWN_CVES = (
    "Postfix CVE-2011-0411",
    "Dovecot submission CVE-2021-33515",
    "Courier POP3 CVE-2021-38084",
    "aiosmtpd CVE-2024-34083",
    "Apache James CVE-2021-38542",
)

_IMPLICIT_PORTS = {"imap": "993", "pop3": "995", "smtp": "465"}
_STARTTLS_WORD = {"imap": "STARTTLS", "pop3": "STLS", "smtp": "STARTTLS"}


def judge_injection(tries: Sequence[InjectionTry], *, starttls_ok: bool, not_run: str = "") -> StartTlsInjection:
    """The verdict of the tries: vulnerable when one was answered inside TLS; not vulnerable when at least one was
    completed and none was; inconclusive when none could be completed.

    Completed: silent, answered in clear, or a handshake the injected bytes broke while the probe's own STARTTLS
    (``starttls_ok``) worked: the server then read those bytes as TLS data (or hung up), never as a command."""
    if not tries:
        return StartTlsInjection("not_tested", (), not_run or "not run")
    if any(t.outcome == "answered-in-tls" for t in tries):
        return StartTlsInjection("vulnerable", tuple(tries))
    completed = ("silent", "answered-in-clear", "broke-handshake") if starttls_ok else ("silent", "answered-in-clear")
    if any(t.outcome in completed for t in tries):
        return StartTlsInjection("not_vulnerable", tuple(tries))
    why = "no try got past the handshake" if starttls_ok else "no try got past the handshake, nor did STARTTLS alone"
    return StartTlsInjection("inconclusive", tuple(tries), why)


def injection_findings(protocol: Protocol, injection: StartTlsInjection | None) -> list[Finding]:
    """``starttls-command-injection`` (high) for a vulnerable port, else nothing."""
    if injection is None or injection.verdict != "vulnerable":
        return []
    word = _STARTTLS_WORD[protocol]
    answered = [t for t in injection.tries if t.outcome == "answered-in-tls"]
    ways = "; ".join(
        f"{for_terminal_quoted(t.sent)} appended {VARIANT_WORDS[t.variant]} was answered inside TLS with "
        + " / ".join(for_terminal_quoted(line, 200) for line in t.evidence[:4])
        + (f" (and {len(t.evidence) - 4} more lines)" if len(t.evidence) > 4 else "")
        for t in answered
    )
    detail = (
        f"The server runs commands that arrived in clear after {word} as commands of the TLS session, so a man in "
        f"the middle can append commands to a client's {word} and have them run as that client once TLS is up "
        f"(the CVE-2011-0411 class; known cases: {', '.join(KNOWN_CVES)}). Evidence: {ways}, before mailprobe sent "
        "anything over TLS. The injected command is harmless and changes nothing on the server."
    )
    remediation = (
        "Upgrade the server software to a release that discards everything received before the TLS handshake "
        f"(RFC 3207 4.2, RFC 2595 3.1). Until then, offer implicit TLS (port {_IMPLICIT_PORTS[protocol]}) and close "
        f"or restrict this {word} port."
    )
    return [Finding(FINDING_ID, "high", f"{word} command injection", detail, remediation)]
