"""The verdict that matters most: is plaintext login really refused?

Pure logic over what the probe saw. We trust no single signal: what is advertised, the answer to a dummy login in
clear, the same login over TLS (the differential) and timing are combined, and the server's own words are kept as
evidence. ``inconclusive`` is an honest answer; a confident wrong one is the worst bug this product can have.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from scanner.model import PlaintextLogin
from scanner.untrusted import for_terminal_quoted
from scanner.verdicts.login_words import words_meaning

Outcome = Literal["ok", "no", "bad", "err", "bye", "closed", "timeout", "error"]

# A credential check usually costs a deliberate delay (Dovecot: 2 s); a policy refusal is immediate.
SLOW_MS = 800
FAST_MS = 300

_PLAIN_MECHANISMS = {"PLAIN", "LOGIN"}


@dataclass(frozen=True)
class LoginAttempt:
    """One dummy login and how the server answered it."""

    mechanism: str  # "LOGIN", "AUTHENTICATE PLAIN", "USER/PASS", "AUTH PLAIN"; SMTP "AUTH PLAIN", "AUTH LOGIN", "AUTH"
    over_tls: bool
    outcome: Outcome
    code: str | None  # response code, e.g. PRIVACYREQUIRED, AUTHENTICATIONFAILED, AUTH; SMTP "535 5.7.8"
    text: str  # the server's words (tagged line or -ERR line), dummy user name replaced by <user>
    elapsed_ms: int
    stage: str = ""  # POP3: "USER" when refused before the password was sent, else "PASS"; IMAP: ""

    @property
    def answer(self) -> str:
        """Normalised answer for comparing clear and TLS: status, code and text."""
        return f"{self.outcome}|{(self.code or '').upper()}|{_normalise(self.text)}|{self.stage}"

    def describe(self) -> str:
        where = "over TLS" if self.over_tls else "in clear"
        stage = f" (refused at {self.stage}, before the password was sent)" if self.stage == "USER" else ""
        return f"{self.mechanism} {where}: {self.outcome.upper()} {self._said()} after {self.elapsed_ms} ms{stage}"

    def _said(self) -> str:
        """The server's words as a quotation that its own quotes or line breaks cannot end early."""
        code = f"[{self.code}] " if self.code else ""
        return for_terminal_quoted(f"{code}{self.text}")


@dataclass(frozen=True)
class Advertised:
    """What the server offered before TLS."""

    protocol: Literal["imap", "pop3", "smtp"]
    capabilities: tuple[str, ...]

    @property
    def logindisabled(self) -> bool:
        return self.protocol == "imap" and _has(self.capabilities, "LOGINDISABLED")

    @property
    def plaintext_mechanisms(self) -> tuple[str, ...]:
        """Plaintext password mechanisms offered in clear: AUTH=PLAIN/LOGIN, SASL PLAIN/LOGIN, USER; SMTP's EHLO
        keyword ``AUTH PLAIN LOGIN`` (or the old ``AUTH=PLAIN LOGIN``)."""
        found: list[str] = []
        for cap in self.capabilities:
            upper = cap.upper()
            if self.protocol == "smtp":
                words = upper.replace("=", " ", 1).split() if upper.startswith("AUTH=") else upper.split()
                if words and words[0] == "AUTH":
                    found.extend(f"AUTH {w}" for w in words[1:] if w in _PLAIN_MECHANISMS)
                continue
            if self.protocol == "imap" and upper.startswith("AUTH="):
                if upper[5:] in _PLAIN_MECHANISMS:
                    found.append(cap)
            elif self.protocol == "pop3":
                words = upper.split()
                if words and words[0] == "SASL":
                    found.extend(f"SASL {w}" for w in words[1:] if w in _PLAIN_MECHANISMS)
                elif words == ["USER"]:
                    found.append("USER")
        return tuple(found)


def _has(capabilities: Sequence[str], name: str) -> bool:
    return any(cap.upper() == name for cap in capabilities)


def _normalise(text: str) -> str:
    # Tokens with digits vary between answers (session ids, hex references, timestamps) without changing meaning.
    return re.sub(r"[^\s]*\d[^\s]*", "#", re.sub(r"\s+", " ", text)).strip().lower()


# Response codes with a standard meaning (RFC 5530, RFC 3206).
_POLICY_CODES = {"PRIVACYREQUIRED"}
_CREDENTIAL_CODES = {"AUTHENTICATIONFAILED"}
# Codes that say the server could not or would not check anything now: never proof of a password check.
_UNRELATED_CODES = {"UNAVAILABLE", "SYS/TEMP", "SYS/PERM", "IN-USE", "LIMIT", "SERVERBUG", "LOGIN-DELAY"}

Signal = Literal["accepted", "policy", "credentials", "mailbox", "user-refused", "unrelated", "unsupported", "unknown"]


def _smtp_signal(attempt: LoginAttempt) -> str:
    """SMTP's verdict table (RFC 4954, RFC 3463/5248): the reply code with its enhanced code, never the text."""
    reply, _, enhanced = (attempt.code or "").partition(" ")
    if attempt.outcome == "ok":
        return "accepted"
    if reply.startswith("4") or enhanced.startswith("4."):
        return "unrelated"  # 454 4.7.0 and friends: the server could not check anything now
    if reply == "535" or enhanced == "5.7.8":
        return "credentials"  # 535 5.7.8 credentials invalid (Exchange: 535 5.7.3)
    if reply in ("530", "534", "538", "523") or enhanced in ("5.7.10", "5.7.11", "5.7.9"):
        return "policy"  # must STARTTLS first / mechanism too weak / encryption required or needed
    if reply in ("502", "503", "504"):
        return "unsupported"  # AUTH not enabled in this state, or the mechanism not offered here
    return "unknown"


@dataclass(frozen=True)
class Reading:
    """What one answer says on its own, and why we read it so (shown in the evidence)."""

    signal: Signal
    why: str


def read_answer(attempt: LoginAttempt, advertised: Advertised) -> Reading:
    """Classify one answer on its own. The rules, in order, each with the server behaviour that would fool it:

    1. OK: accepted. (A server that says OK to anything still took the password in clear.)
    2. A temporary or unrelated code (UNAVAILABLE, LOGIN-DELAY, ...): says nothing about passwords.
    3. [PRIVACYREQUIRED] (RFC 5530): policy. (A server sending it over TLS too is caught by the differential.)
    4. [AUTHENTICATIONFAILED]: the password was checked, unless the words say the opposite (a server mislabelling
       its TLS demand): then the words are not trusted either way.
    5. Words from the family tables (scanner.verdicts.login_words): policy, credentials or unknown mailbox.
    6. BAD to a well-formed login: not executed in this state (Exchange SecureLogin): policy.
    7. POP3 USER refused with no words: an unknown mailbox or a policy; only the differential can tell.
    8. NO to LOGIN in clear under LOGINDISABLED (RFC 3501 7.2.1): policy, whatever the credentials.
    Anything else is unknown.
    """
    if advertised.protocol == "smtp":
        return Reading(_smtp_signal(attempt), f"[{attempt.code}]")  # type: ignore[arg-type]
    code = (attempt.code or "").upper()
    meaning = words_meaning(attempt.text)
    if attempt.outcome == "ok":
        return Reading("accepted", "OK")
    if code in _UNRELATED_CODES:
        return Reading("unrelated", f"[{code}]")
    if code in _POLICY_CODES:
        return Reading("policy", f"[{code}]")
    if code in _CREDENTIAL_CODES:
        if meaning and meaning[0] == "policy":
            return Reading("unknown", f"[{code}] but {meaning[1]} words for a TLS demand")
        return Reading("credentials", f"[{code}]")
    if meaning:
        kind, family = meaning
        return Reading(kind, f"{family} wording for {_MEANING_WORDS[kind]}")
    if attempt.outcome == "bad":
        return Reading("policy", "BAD: the command was not executed in this state")
    if attempt.stage == "USER":
        return Reading("user-refused", "USER refused without saying why")
    if attempt.outcome == "no" and advertised.logindisabled and attempt.mechanism == "LOGIN" and not attempt.over_tls:
        return Reading("policy", "LOGINDISABLED advertised")  # RFC 3501 7.2.1
    return Reading("unknown", "no standard code or known wording")


_MEANING_WORDS = {
    "policy": "a refusal without TLS",
    "credentials": "a failed password check",
    "mailbox": "an unknown mailbox",
}


def decided_in_clear(attempt: LoginAttempt, protocol: Literal["imap", "pop3", "smtp"] = "imap") -> bool:
    """True when the answer in clear settles this mechanism on its own, so repeating the login over TLS would only
    add one more failed login to the server's logs (and to lockout and fail2ban counters) without changing the
    verdict: accepted, [AUTHENTICATIONFAILED] (the password was checked), [PRIVACYREQUIRED] (RFC 5530: refused for
    want of privacy), or a POP3 USER refused in words that demand TLS. Everything else (family wording for a
    password check, BAD, LOGINDISABLED + NO, a USER refused as an unknown mailbox or without words) is left to the
    differential: a server may answer the same way over TLS, and only the comparison tells. SMTP: 235, 535 and
    the policy refusals (530, 538, 523) settle; 503/504 (AUTH not available in clear) do not."""
    if attempt.over_tls or attempt.outcome in ("timeout", "closed", "error", "bye"):
        return False
    if protocol == "smtp":
        return _smtp_signal(attempt) in ("accepted", "credentials", "policy")
    reading = read_answer(attempt, Advertised(protocol, ()))
    code = (attempt.code or "").upper()
    if reading.signal == "accepted":
        return True
    if reading.signal == "policy":
        return code in _POLICY_CODES or (attempt.stage == "USER" and attempt.outcome == "err")
    return reading.signal == "credentials" and code in _CREDENTIAL_CODES


@dataclass(frozen=True)
class LoginEvidence:
    advertised: Advertised
    clear: tuple[LoginAttempt, ...]
    tls: tuple[LoginAttempt, ...]  # the same mechanisms over TLS; empty when TLS was not reached
    tls_available: bool  # STARTTLS worked (so the TLS half could be tried at all)
    preauth: bool = False
    no_tls: bool = False  # the port has no TLS at all: STARTTLS/STLS not advertised, and refused when tried


def judge_plaintext_login(evidence: LoginEvidence) -> PlaintextLogin:
    """Combine the signals into refused / accepted / inconclusive, with the evidence that decided."""
    notes: list[str] = []
    adv = evidence.advertised
    if evidence.preauth:
        return PlaintextLogin("accepted", ("greeting was PREAUTH: the session is authenticated without any login",))
    if adv.logindisabled:
        notes.append("advertised in clear: LOGINDISABLED")
    if adv.plaintext_mechanisms:
        notes.append("advertised in clear: " + " ".join(adv.plaintext_mechanisms))
    elif adv.capabilities:
        notes.append("no plaintext password mechanism advertised in clear")
    if not evidence.clear:
        return PlaintextLogin("not_tested", tuple(notes))
    notes.extend(a.describe() for a in evidence.clear)
    notes.extend(a.describe() for a in evidence.tls)

    by_mechanism = {a.mechanism: a for a in evidence.tls}
    decisions: list[tuple[str, str]] = []  # (verdict, reason) per clear attempt
    for attempt in evidence.clear:
        decisions.append(_judge_one(attempt, by_mechanism.get(attempt.mechanism), adv, evidence))

    accepted = [reason for verdict, reason in decisions if verdict == "accepted"]
    refused = [reason for verdict, reason in decisions if verdict == "refused"]
    if accepted:
        # One mechanism that takes a password in clear is enough for a password to cross in clear.
        return PlaintextLogin("accepted", tuple(notes + accepted))
    if refused and len(refused) == len(decisions):
        return PlaintextLogin("refused", tuple(notes + refused))
    reasons = [reason for _, reason in decisions]
    return PlaintextLogin("inconclusive", tuple(notes + reasons))


def _judge_one(
    clear: LoginAttempt, tls: LoginAttempt | None, adv: Advertised, evidence: LoginEvidence
) -> tuple[str, str]:
    """One mechanism's verdict. Server behaviour that would make each branch wrong is named beside it."""
    mech = clear.mechanism
    if clear.outcome in ("timeout", "closed", "error", "bye"):
        return "inconclusive", f"{mech}: no usable answer in clear ({clear.outcome})"
    reading = read_answer(clear, adv)
    if reading.signal == "accepted":
        return "accepted", f"{mech}: the server accepted random dummy credentials in clear"
    if reading.signal == "credentials" and reading.why.startswith("["):
        return "accepted", f"{mech}: {reading.why} in clear: the password sent in clear was checked"
    if reading.signal == "unsupported":
        return _judge_unsupported(clear, tls, adv)
    if reading.signal == "unrelated":
        return "inconclusive", f"{mech}: the server gave a temporary or unrelated reason ({reading.why})"
    if tls is not None and tls.outcome not in ("timeout", "closed", "error", "bye"):
        return _differential(clear, tls, reading, read_answer(tls, adv))
    # No answer over TLS to compare with: decide on what the answer in clear says, and on whether TLS exists.
    if reading.signal == "policy":
        return "refused", f"{mech}: refused in clear ({reading.why})"
    if reading.signal == "mailbox":
        return "inconclusive", (
            f"{mech}: USER refused in clear as an unknown mailbox ({reading.why}): the dummy user does not exist, "
            "and what a real user's password would meet is not known"
        )
    if reading.signal == "user-refused":
        return "inconclusive", (
            f"{mech}: USER refused in clear without a reason; an unknown mailbox or a TLS demand, and no answer "
            "over TLS to tell them apart"
        )
    if evidence.no_tls and clear.outcome in ("no", "err"):
        # Fooled only by a server that takes the command, refuses every password in clear without saying so, and
        # offers no TLS either: then nobody can log in at all, and nothing crosses that the server would accept.
        said = f" ({reading.why})" if reading.signal == "credentials" else ""
        logindisabled = "" if adv.protocol == "pop3" else ", did not advertise LOGINDISABLED"
        return "accepted", (
            f"{mech}: this port has no TLS (STARTTLS not offered, refused when tried){logindisabled}, took the "
            f"login command and answered it as a failed login{said}, with no policy code or words: every password "
            "it accepts crosses in clear"
        )
    if not evidence.tls_available and reading.signal == "credentials" and clear.elapsed_ms >= SLOW_MS:
        return "accepted", (
            f"{mech}: {reading.why}, delayed ({clear.elapsed_ms} ms) as a password check is, and no TLS to use: "
            "the password sent in clear was checked"
        )
    if not evidence.tls_available:
        return "inconclusive", f"{mech}: no TLS to compare with, and the answer in clear names no standard reason"
    return "inconclusive", f"{mech}: no answer over TLS to compare with"


def _judge_unsupported(clear: LoginAttempt, tls: LoginAttempt | None, adv: Advertised) -> tuple[str, str]:
    """AUTH answered 503/504 in clear: refused in clear if the same AUTH is checked over TLS."""
    mech = clear.mechanism
    said = f"{mech}: AUTH not available in clear ({clear.code})"
    if tls is None or tls.outcome in ("timeout", "closed", "error", "bye"):
        return "inconclusive", f"{said}, and no answer over TLS to compare with"
    tls_signal = read_answer(tls, adv).signal
    if tls_signal in ("accepted", "credentials"):
        return "refused", f"{said} but checked over TLS ({tls.code}): no password is taken in clear"
    if tls_signal == "unsupported":
        return "inconclusive", f"{said} nor over TLS ({tls.code}): this port offers no password login at all"
    return "inconclusive", f"{said}; over TLS the answer names no credential check ({tls.code})"


def _differential(clear: LoginAttempt, tls: LoginAttempt, reading: Reading, tls_reading: Reading) -> tuple[str, str]:
    """The same dummy login in clear and over TLS. Fooled by answers that vary for reasons of their own (ids,
    times): tokens with digits are normalised away before comparing."""
    mech = clear.mechanism
    same = tls.answer == clear.answer
    if same and reading.signal in ("unknown", "credentials") and clear.outcome in ("no", "err"):
        return "accepted", f"{mech}: same answer in clear and over TLS, so the password sent in clear was checked"
    if same and reading.signal in ("mailbox", "user-refused"):
        return "inconclusive", (
            f"{mech}: USER refused the same way in clear and over TLS: the server rejects unknown mailboxes at USER, "
            "so what a real user's password would meet in clear is not known"
        )
    if same and reading.signal == "policy" and reading.why.startswith("["):
        return "refused", f"{mech}: {reading.why} in clear, and over TLS too: this mechanism takes no password anywhere"
    if same:
        return "inconclusive", f"{mech}: refused the same way over TLS too; the mechanism may be off everywhere"
    if tls.outcome == "ok":
        return "refused", f"{mech}: refused in clear but accepted over TLS"
    both_credentials = reading.signal == "credentials" and tls_reading.signal == "credentials"
    if both_credentials and clear.stage == tls.stage:
        return "accepted", (
            f"{mech}: a failed password check in clear ({reading.why}) as over TLS: the password sent in clear was "
            "checked"
        )
    if tls_reading.signal in ("credentials", "unknown") and tls.outcome in ("no", "err"):
        if reading.signal == "credentials" and clear.stage == tls.stage:
            return "inconclusive", f"{mech}: both answers read as failed password checks, in different words"
        timing = _timing_note(clear, tls)
        said = f" ({reading.why})" if reading.signal == "policy" else ""
        return "refused", f"{mech}: answer in clear{said} differs from the credential failure over TLS{timing}"
    return "inconclusive", f"{mech}: answers in clear and over TLS differ but neither looks like a refusal"


def _timing_note(clear: LoginAttempt, tls: LoginAttempt) -> str:
    if clear.elapsed_ms <= FAST_MS and tls.elapsed_ms >= SLOW_MS:
        return f"; timing agrees: immediate in clear ({clear.elapsed_ms} ms), delayed over TLS ({tls.elapsed_ms} ms)"
    return ""
