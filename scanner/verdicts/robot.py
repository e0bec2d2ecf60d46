"""The ROBOT finding, from the check scanner.tls.robot_probe made of one server (``TlsConfiguration.robot``).

A strong oracle is high: the ROBOT paper shows it lets an attacker decrypt recorded sessions that used RSA key
exchange and sign messages with the server's key, given enough connections. A weak one is medium: the attack needs
far more of them, but the key is exposed all the same. An inconclusive check is an info finding, never an
all-clear; a server without RSA key exchange, or without the oracle, has no finding.
"""

from __future__ import annotations

from scanner.model import Finding, RobotCheck, Severity, TlsConfiguration
from scanner.verdicts.mozilla_profiles import PROFILES
from scanner.verdicts.software import DOVECOT, EXCHANGE, POSTFIX

_NO_RSA_CIPHERS = ":".join(PROFILES["intermediate"].openssl_ciphers)  # Mozilla intermediate: no kRSA suite in it
_FIX = {
    EXCHANGE: (
        "Disable the TLS_RSA_* suites (RSA key exchange): Group Policy > Computer Configuration > Administrative "
        "Templates > Network > SSL Configuration Settings > SSL Cipher Suite Order without them, or "
        "Get-TlsCipherSuite -Name TLS_RSA_ | ForEach-Object { Disable-TlsCipherSuite -Name $_.Name }; keep Windows "
        "on its current security updates; reboot (SCHANNEL reads the suites at start)."
    ),
    DOVECOT: (
        f"ssl_cipher_list = {_NO_RSA_CIPHERS} (Mozilla intermediate, no RSA key exchange), or append :!kRSA to the "
        "current value; doveadm reload; update OpenSSL."
    ),
    POSTFIX: (
        "smtpd_tls_exclude_ciphers = kRSA (every TLS security level; smtpd_tls_mandatory_exclude_ciphers = kRSA "
        "too where mandatory TLS uses its own list), or tls_medium_cipherlist = "
        f"{_NO_RSA_CIPHERS} with smtpd_tls_ciphers = medium and smtpd_tls_mandatory_ciphers = medium; "
        "postfix reload; update OpenSSL."
    ),
}


def robot_finding(configuration: TlsConfiguration, software: str | None) -> Finding | None:
    robot = configuration.robot
    if robot is None or robot.verdict in ("not_applicable", "not_vulnerable"):
        return None
    if robot.verdict == "inconclusive":
        return Finding(
            "tls-robot-inconclusive",
            "info",
            "ROBOT check inconclusive (RSA key exchange not cleared)",
            f"The server accepts RSA key exchange but the ROBOT check could not conclude: {robot.note or 'unknown'}. "
            f"{_reactions(robot)}Not an all-clear: run it again, or remove RSA key exchange, which settles it.",
            _fix(software),
        )
    severity: Severity = "high" if robot.oracle == "strong" else "medium"
    impact = (
        "A strong oracle: with enough connections an attacker can decrypt recorded sessions that used RSA key "
        "exchange and sign messages with the server's key (robotattack.org)."
        if robot.oracle == "strong"
        else "A weak oracle: an attack needs far more connections than a strong one's, but the server's RSA key is "
        "exposed to it all the same (robotattack.org)."
    )
    return Finding(
        "tls-robot",
        severity,
        f"RSA key exchange is a Bleichenbacher oracle (ROBOT, {robot.oracle or 'unclassified'})",
        f"Over {robot.version} with {robot.suite}, the server reacts differently to differently padded premaster "
        f"secrets, the same way in two rounds. {_reactions(robot)}{impact}",
        _fix(software),
    )


def robot_line(robot: RobotCheck) -> str:
    """One line for the TUI's detail view and the reports."""
    said = robot.verdict.replace("_", " ") + (f" ({robot.oracle} oracle)" if robot.oracle else "")
    used = f", {robot.suite} over {robot.version}" if robot.suite else ""
    note = f": {robot.note}" if robot.note else ""
    return f"ROBOT: {said}{note}{used}; {robot.connections} connections"


def _reactions(robot: RobotCheck) -> str:
    if not robot.reactions:
        return ""
    said = "; ".join(f"{r.variant}: {' / '.join(r.answers)}" for r in robot.reactions)
    return f"Reactions: {said}. "


def _fix(software: str | None) -> str:
    if software in _FIX:
        return _FIX[software]
    return " ".join(
        f"{name}: {text}"
        for name, text in (("Exchange", _FIX[EXCHANGE]), ("Dovecot", _FIX[DOVECOT]), ("Postfix", _FIX[POSTFIX]))
    )
