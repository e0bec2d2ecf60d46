"""What servers say when they refuse a login, by family: a refusal for want of TLS (policy), a failed password check
(credentials), or an unknown mailbox (POP3 USER). Written from the servers' sources and documentation.

    words_meaning("Login only available under a layer")   # ("policy", "Cyrus")
    words_meaning("Logon failure: unknown user name or bad password.")   # ("credentials", "Exchange")

The wording comes last in the order of evidence (scanner.verdicts.plaintext, docs/results.md): it only tips a case
that the standard signals and the differential (the same login over TLS) leave inconclusive, and never outranks them.
An answer matching no row is "unknown"; a row that matches a policy and a credential meaning at once is not trusted
either way. Server text is data: it is matched, never interpreted further.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Literal

Meaning = Literal["policy", "credentials", "mailbox", "unsupported"]


@dataclass(frozen=True)
class Wording:
    meaning: Meaning
    family: str  # who says it ("Dovecot", "Cyrus", ...; "common" when many do)
    pattern: str  # a regular expression, matched without regard to case


_w = Wording  # short, for the table below


WORDINGS: tuple[Wording, ...] = (
    # --- refused for want of TLS ------------------------------------------------------------------------------
    _w("policy", "Dovecot", r"plaintext authentication (is )?disallowed"),
    _w("policy", "Cyrus", r"only available under a layer"),
    _w("policy", "Zimbra / nginx (Zimbra build)", r"cleartext logins? (are )?disabled"),
    _w("policy", "Zimbra", r"only valid after entering (tls|ssl) mode"),  # Pop3Handler.checkIfLoginPermitted
    _w("policy", "GNU Mailutils", r"command disabled"),  # "LOGIN Command disabled", "...: Use STARTTLS first"
    _w("policy", "Exchange", r"command (was )?received in (an )?invalid state"),
    _w("policy", "Exchange", r"command is not valid in this state"),
    _w("policy", "Courier", r"(starttls|stls|tls|ssl|encryption) (is )?required"),
    _w("policy", "hMailServer", r"ssl/tls[- ]connection is required"),
    _w(
        "policy",
        "UW imapd",
        r"(plaintext|cleartext|clear text) (login|authentication|password)s? (is |are )?"
        r"(disallowed|not allowed|disabled|refused|forbidden)",
    ),
    _w("policy", "common", r"use (starttls|stls) (first|before)"),
    _w("policy", "common", r"(must|need to|please) (issue a )?(starttls|stls|use tls|use ssl|encrypt)"),
    _w(
        "policy",
        "common",
        r"(requires?|only (allowed|permitted|available) (over|with|under)) "
        r"(a )?(tls|ssl|secure|encrypt)",
    ),
    _w(
        "policy",
        "common",
        r"(not allowed|not permitted|disabled|disallowed|refused) (over|on|with|for) "
        r"(an? )?(un|in|non[- ]?)(secure|encrypted)",
    ),
    _w("policy", "common", r"privacy required"),
    # --- a password was checked and failed --------------------------------------------------------------------
    _w("credentials", "Dovecot / Courier / Zimbra / Cyrus", r"authentication failed"),
    _w("credentials", "Cyrus", r"authentication failure"),
    _w("credentials", "Exchange", r"logon failure"),
    _w("credentials", "Exchange / Courier / Zimbra / nginx", r"\blogin (failed|incorrect)"),
    _w("credentials", "GNU Mailutils", r"user name or passw(or)?d rejected"),
    _w("credentials", "GNU Mailutils", r"\bbad login\b"),
    _w("credentials", "hMailServer / nginx", r"invalid (user ?name|login|credentials)( or| and|,|/) ?passw"),
    _w("credentials", "UW imapd", r"invalid (login |authentication )?credentials"),
    _w("credentials", "common", r"(bad|wrong|incorrect|invalid) (user ?name or )?passw(or)?d"),
    # --- the login itself is not offered (the same answer over TLS is then no password check) ------------------
    _w("unsupported", "Dovecot", r"unsupported authentication mechanism"),
    _w("unsupported", "common", r"(mechanism|authentication method) (is )?not (supported|available|enabled)"),
    # --- POP3 USER: this mailbox does not exist (says nothing about passwords) --------------------------------
    _w("mailbox", "common", r"(no such|unknown|invalid) (user|mailbox|account)\b"),  # not "invalid username/..."
    _w("mailbox", "common", r"(user|mailbox|account) (unknown|not found|does not exist|doesn't exist)"),
)


def words_meaning(text: str) -> tuple[Meaning, str] | None:
    """The meaning of a server's refusal text and who says it so, or None when it says nothing clear (or says
    contradictory things: a policy word and a credential word in one answer)."""
    found = [w for w, pattern in _compiled() if pattern.search(text)]
    meanings = {w.meaning for w in found}
    if not found or {"policy", "credentials"} <= meanings:
        return None
    # "unknown user" next to a TLS demand: the TLS demand is what stops the login.
    first = next(w for w in found if w.meaning == "policy") if "policy" in meanings else found[0]
    return first.meaning, first.family


@functools.cache
def _compiled() -> tuple[tuple[Wording, re.Pattern[str]], ...]:
    """The table's patterns, compiled on the first answer they read rather than at every start-up."""
    return tuple((w, re.compile(w.pattern, re.IGNORECASE)) for w in WORDINGS)
