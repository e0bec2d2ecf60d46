"""Exchange's LoginType, read from the wire, so an admin can compare it with the server without a shell on it.

    reading = exchange_login_type("imap", advertised, verdict)
    reading.login_type        # "SecureLogin", "PlainTextAuthentication", "PlainTextLogin" or None (none fits)
    reading.evidence          # the capabilities and the login answer that decided

Exchange shows its LoginType in what it offers before TLS (docs and the decompiled 2013 tree, protocols.md 2):
IMAP  PlainTextLogin: AUTH=PLAIN, no LOGINDISABLED; PlainTextAuthentication: LOGINDISABLED with AUTH=NTLM/GSSAPI;
      SecureLogin (the default): LOGINDISABLED and no AUTH= at all.
POP3  PlainTextLogin: USER and SASL ... PLAIN; PlainTextAuthentication: SASL NTLM/GSSAPI, no PLAIN, no USER;
      SecureLogin: neither SASL nor USER.
The dummy login confirms it: accepted in clear for PlainTextLogin, refused for the other two. When the offer and the
login disagree, no LoginType fits and the reading says so (a proxy in front, or a changed build).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from scanner.model import PlaintextLogin
from scanner.verdicts.plaintext import Advertised

LoginType = Literal["PlainTextLogin", "PlainTextAuthentication", "SecureLogin"]


@dataclass(frozen=True)
class LoginTypeReading:
    login_type: LoginType | None
    evidence: tuple[str, ...]


def exchange_login_type(advertised: Advertised, verdict: PlaintextLogin) -> LoginTypeReading | None:
    """The LoginType an Exchange IMAP4/POP3 STARTTLS port shows; None for other protocols or no capabilities."""
    if advertised.protocol not in ("imap", "pop3") or not advertised.capabilities:
        return None
    offered, why = _from_offer(advertised)
    evidence = [why]
    if verdict.verdict == "accepted":
        evidence.append("the dummy login in clear was checked as a password (plaintext login accepted)")
        fits = offered == "PlainTextLogin"
    elif verdict.verdict == "refused":
        evidence.append("the dummy login in clear was refused before any password check")
        fits = offered in ("PlainTextAuthentication", "SecureLogin")
    else:
        evidence.append(f"the login test did not confirm it ({verdict.verdict})")
        fits = True
    if not fits:
        evidence.append(f"the offer suggests {offered}, the login behaves otherwise: no LoginType fits")
        return LoginTypeReading(None, tuple(evidence))
    return LoginTypeReading(offered, tuple(evidence))


def _from_offer(advertised: Advertised) -> tuple[LoginType, str]:
    caps = [c.upper() for c in advertised.capabilities]
    if advertised.protocol == "imap":
        auth = sorted(c for c in caps if c.startswith("AUTH="))
        listed = " ".join(auth) or "no AUTH= mechanism"
        if "AUTH=PLAIN" in auth and not advertised.logindisabled:
            return "PlainTextLogin", f"before TLS the capabilities offer AUTH=PLAIN without LOGINDISABLED ({listed})"
        if advertised.logindisabled and auth:
            return "PlainTextAuthentication", f"before TLS: LOGINDISABLED with integrated authentication ({listed})"
        return "SecureLogin", f"before TLS: {'LOGINDISABLED and ' if advertised.logindisabled else ''}{listed}"
    sasl = next((c.split()[1:] for c in caps if c.split()[:1] == ["SASL"]), [])
    user = "USER" in caps
    if user or "PLAIN" in sasl:
        return "PlainTextLogin", f"before TLS the capabilities offer {'USER' if user else 'SASL PLAIN'}"
    if sasl:
        return "PlainTextAuthentication", f"before TLS: SASL {' '.join(sasl)} without PLAIN, no USER"
    return "SecureLogin", "before TLS: neither USER nor SASL, only STLS"
