"""The verdict that matters most: is plaintext login really refused?

Pure logic over what the probe saw. We trust no single signal: what is advertised, the answer to a dummy login in
clear, the same login over TLS (the differential) and timing are combined, and the server's own words are kept as
evidence. ``inconclusive`` is an honest answer; a confident wrong one is the worst bug this product can have.

The order of evidence (docs/results.md), per mechanism:

1. standard signals decide first: OK, the RFC 5530 codes, SMTP's reply codes, BAD, and LOGINDISABLED with a NO
   without a code (``standard_reading``);
2. then the differential: the same login over TLS. The same answer shows a password check only when no standard
   signal says otherwise; a different answer, with a failed login over TLS, shows a refusal in clear;
3. the wording (``scanner.verdicts.login_words``) comes last: it tips a case that would otherwise be inconclusive,
   or leaves one inconclusive where its words and the structure disagree, and never makes a verdict confident
   against a code or the differential. Paraphrasing a server's words can therefore move a verdict to or from
   ``inconclusive``, never from ``accepted`` to ``refused`` or back (tests/verdicts/test_metamorphic.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from scanner.model import PlaintextLogin
from scanner.untrusted import for_terminal, for_terminal_quoted
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
        if self.outcome == "timeout":  # the probe's own words, not the server's
            return f"{self.mechanism} {where}: TIMEOUT after {self.elapsed_ms} ms: {for_terminal(self.text)}"
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
_NO_ANSWER = ("timeout", "closed", "error", "bye")

Signal = Literal[
    "accepted",
    "policy",
    "credentials",
    "not-executed",
    "mailbox",
    "user-refused",
    "unrelated",
    "unsupported",
    "unknown",
]


def _smtp_signal(attempt: LoginAttempt) -> Signal:
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
    """What one answer says on its own, and why we read it so (shown in the evidence). ``standard`` marks a standard
    signal (status, response or reply code, LOGINDISABLED), which decides before the differential; a reading from
    the wording tables only tips a case that would otherwise be inconclusive."""

    signal: Signal
    why: str
    standard: bool = False


def standard_reading(attempt: LoginAttempt, advertised: Advertised) -> Reading | None:
    """The standard signal in one answer, or None when it has none (a NO/-ERR without a code that decides, POP3's
    [AUTH] included: Dovecot says it for a refusal and for a bad password alike). Never looks at the words:

    - OK (SMTP 235): accepted. (A server that says OK to anything still took the password in clear.)
    - a temporary or unrelated code (UNAVAILABLE, SYS/TEMP, LOGIN-DELAY ...; SMTP 4xx): says nothing about passwords;
    - [PRIVACYREQUIRED] (RFC 5530; SMTP 530, 534, 538, 523): refused for want of privacy;
    - [AUTHENTICATIONFAILED] (RFC 5530; SMTP 535): the password was checked, whatever the words next to it say;
    - BAD to a well-formed login: not executed in this state (Exchange SecureLogin);
    - NO without a response code to LOGIN in clear under LOGINDISABLED (RFC 3501 7.2.1): refused. UW imapd answers
      such a LOGIN like a bad password (same words, same 3 s delay), so neither its words nor the same answer over
      TLS show a password check;
    - SMTP 502/503/504: AUTH not available in this state (the differential tells why).
    """
    if advertised.protocol == "smtp":
        signal = _smtp_signal(attempt)
        return None if signal == "unknown" else Reading(signal, f"[{attempt.code}]", standard=True)
    code = (attempt.code or "").upper()
    if attempt.outcome == "ok":
        return Reading("accepted", "OK", standard=True)
    if code in _UNRELATED_CODES:
        return Reading("unrelated", f"[{code}]", standard=True)
    if code in _POLICY_CODES:
        return Reading("policy", f"[{code}]", standard=True)
    if code in _CREDENTIAL_CODES:
        return Reading("credentials", f"[{code}]", standard=True)
    if attempt.outcome == "bad":
        return Reading("not-executed", "BAD: the command was not executed in this state", standard=True)
    if (
        attempt.outcome == "no"
        and not code
        and advertised.logindisabled
        and attempt.mechanism == "LOGIN"
        and not attempt.over_tls
    ):
        return Reading("policy", "LOGINDISABLED advertised and a NO without a response code", standard=True)
    return None


def words_reading(attempt: LoginAttempt, advertised: Advertised) -> Reading | None:
    """What the wording tables (scanner.verdicts.login_words) make of the server's words, or None. SMTP has reply
    codes for every case and is never read by its words."""
    if advertised.protocol == "smtp":
        return None
    meaning = words_meaning(attempt.text)
    if meaning is None:
        return None
    kind, family = meaning
    return Reading(kind, f"{family} wording for {_MEANING_WORDS[kind]}")


def read_answer(attempt: LoginAttempt, advertised: Advertised) -> Reading:
    """One answer on its own: its standard signal if it has one, else its wording, else what its stage shows (a POP3
    USER refused before the password was sent), else unknown."""
    found = standard_reading(attempt, advertised) or words_reading(attempt, advertised)
    if found is not None:
        return found
    if attempt.stage == "USER":
        return Reading("user-refused", "USER refused without saying why")
    return Reading("unknown", "no standard code or known wording")


_MEANING_WORDS = {
    "policy": "a refusal without TLS",
    "credentials": "a failed password check",
    "mailbox": "an unknown mailbox",
    "unsupported": "a login the server does not offer",
}


def decided_in_clear(attempt: LoginAttempt, protocol: Literal["imap", "pop3", "smtp"] = "imap") -> bool:
    """True when the answer in clear settles this mechanism on its own, so repeating the login over TLS would only
    add one more failed login to the server's logs (and to lockout and fail2ban counters) without changing the
    verdict: accepted, [AUTHENTICATIONFAILED] (the password was checked), [PRIVACYREQUIRED] (RFC 5530: refused for
    want of privacy), or a POP3 USER refused in words that demand TLS (no password was sent, and without an answer
    over TLS the words tip it). Everything else (a NO without a code, BAD, LOGINDISABLED + NO, a USER refused as an
    unknown mailbox or without words) is left to the differential: a server may answer the same way over TLS, and
    only the comparison tells. SMTP: 235, 535 and the policy refusals (530, 538, 523) settle; 503/504 (AUTH not
    available in clear) do not."""
    if attempt.over_tls or attempt.outcome in _NO_ANSWER:
        return False
    advertised = Advertised(protocol, ())
    reading = standard_reading(attempt, advertised)
    if reading is not None:
        return reading.signal in ("accepted", "credentials", "policy")
    words = words_reading(attempt, advertised)
    return attempt.stage == "USER" and attempt.outcome == "err" and words is not None and words.signal == "policy"


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


def _usable(attempt: LoginAttempt | None) -> bool:
    return attempt is not None and attempt.outcome not in _NO_ANSWER


def _no_answer(attempt: LoginAttempt) -> str:
    if attempt.outcome == "timeout" and attempt.text:
        return attempt.text  # the probe's own words: a login answer that never came, likely an auth penalty
    return attempt.outcome


def _judge_one(
    clear: LoginAttempt, tls: LoginAttempt | None, adv: Advertised, evidence: LoginEvidence
) -> tuple[str, str]:
    """One mechanism's verdict, in the order of evidence (docs/results.md): standard signals first, then the
    differential, then the wording, which only tips a case that would otherwise be inconclusive."""
    mech = clear.mechanism
    if clear.outcome in _NO_ANSWER:
        return "inconclusive", f"{mech}: no usable answer in clear ({_no_answer(clear)})"
    standard = standard_reading(clear, adv)
    words = words_reading(clear, adv)
    if standard is not None:
        return _by_standard(clear, tls, standard, words, adv)
    if tls is not None and _usable(tls):
        return _differential(clear, tls, adv)
    return _without_differential(clear, tls, words, adv, evidence)


def _by_standard(
    clear: LoginAttempt, tls: LoginAttempt | None, reading: Reading, words: Reading | None, adv: Advertised
) -> tuple[str, str]:
    """A standard signal in clear decides; the wording never outranks it (it is named when it disagrees)."""
    mech = clear.mechanism
    disagree = ""  # what the words add: they agree, or they disagree and are outranked
    if words is not None and reading.signal in ("policy", "credentials"):
        if words.signal == reading.signal:
            disagree = f"; its words agree ({words.why})"
        else:
            disagree = f"; its words ({words.why}) do not outrank {reading.why.split(' and ')[0]}"
    if reading.signal == "accepted":
        return "accepted", f"{mech}: the server accepted random dummy credentials in clear"
    if reading.signal == "credentials":
        return "accepted", f"{mech}: {reading.why} in clear: the password sent in clear was checked{disagree}"
    if reading.signal == "unrelated":
        return "inconclusive", f"{mech}: the server gave a temporary or unrelated reason ({reading.why})"
    if reading.signal == "unsupported":
        return _judge_unsupported(clear, tls, adv)
    if reading.signal == "not-executed":
        if tls is not None and tls.outcome == "bad":
            return "inconclusive", f"{mech}: BAD in clear and over TLS too; the mechanism may be off everywhere"
        return "refused", f"{mech}: refused in clear ({reading.why}){_tls_side(clear, tls)}"
    # policy: PRIVACYREQUIRED, an SMTP policy code, or LOGINDISABLED with a NO without a code
    if reading.why.startswith("["):
        if tls is not None and _usable(tls) and tls.answer == clear.answer:
            return "refused", (
                f"{mech}: {reading.why} in clear, and over TLS too: this mechanism takes no password anywhere"
            )
        return "refused", f"{mech}: refused in clear ({reading.why}){disagree}{_tls_side(clear, tls)}"
    same = tls is not None and _usable(tls) and tls.answer == clear.answer
    return "refused", (
        f"{mech}: {reading.why}: refused as RFC 3501 7.2.1 requires{disagree}"
        + (
            "; the same answer over TLS does not show a password check here, since a server that refuses LOGIN "
            "under LOGINDISABLED may answer it like a bad password (UW imapd: the same words, the same 3 s delay)"
            if same
            else _tls_side(clear, tls)
        )
    )


def _tls_side(clear: LoginAttempt, tls: LoginAttempt | None) -> str:
    """What the answer over TLS adds to a refusal decided in clear, for the evidence."""
    if tls is None or not _usable(tls):
        return ""
    if tls.outcome == "ok":
        return "; accepted over TLS"
    if tls.answer == clear.answer:
        return "; the same answer over TLS"
    return f"; it differs from the failed login over TLS{_timing_note(clear, tls)}"


def _judge_unsupported(clear: LoginAttempt, tls: LoginAttempt | None, adv: Advertised) -> tuple[str, str]:
    """AUTH answered 503/504 in clear: refused in clear if the same AUTH is checked over TLS."""
    mech = clear.mechanism
    said = f"{mech}: AUTH not available in clear ({clear.code})"
    if tls is None or not _usable(tls):
        return "inconclusive", f"{said}, and no answer over TLS to compare with"
    tls_signal = read_answer(tls, adv).signal
    if tls_signal in ("accepted", "credentials"):
        return "refused", f"{said} but checked over TLS ({tls.code}): no password is taken in clear"
    if tls_signal == "unsupported":
        return "inconclusive", f"{said} nor over TLS ({tls.code}): this port offers no password login at all"
    return "inconclusive", f"{said}; over TLS the answer names no credential check ({tls.code})"


def _differential(clear: LoginAttempt, tls: LoginAttempt, adv: Advertised) -> tuple[str, str]:
    """The same dummy login in clear and over TLS, for an answer in clear with no standard signal that decides.
    Fooled by answers that vary for reasons of their own (ids, times): tokens with digits are normalised away
    before comparing. The wording never makes it confident: it can only leave identical answers that demand TLS on
    both sides inconclusive."""
    mech = clear.mechanism
    if tls.outcome == "ok":
        return "refused", f"{mech}: refused in clear but accepted over TLS"
    tls_standard = standard_reading(tls, adv)
    if tls.answer == clear.answer:
        if clear.stage == "USER":
            return "inconclusive", (
                f"{mech}: USER refused the same way in clear and over TLS: the server rejects the dummy user before "
                "any password, so what a real user's password would meet in clear is not known"
            )
        if adv.protocol == "smtp":
            return "inconclusive", (
                f"{mech}: the same reply ({clear.code}) in clear and over TLS, and it is not SMTP's credential "
                "failure (535): no password check is shown"
            )
        words = words_reading(clear, adv)
        if words is not None and words.signal in ("policy", "unsupported"):
            # The words cannot make this confident either way: the same answer shows that the server treats both
            # sides alike, and its words that it takes no such login on either (TLS ended by a proxy in front of
            # it; Dovecot's "Unsupported authentication mechanism" when PLAIN is not enabled).
            return "inconclusive", (
                f"{mech}: the same answer over TLS too, in words that refuse the login itself ({words.why}): the "
                "mechanism may be off everywhere, and no password check is shown"
            )
        return "accepted", (
            f"{mech}: same answer in clear and over TLS, and no standard signal says otherwise (no response code "
            "that refuses, no LOGINDISABLED): the password sent in clear was checked as it is over TLS"
        )
    if tls_standard is not None and tls_standard.signal in ("unrelated", "not-executed", "unsupported", "policy"):
        return "inconclusive", (
            f"{mech}: answers in clear and over TLS differ, but over TLS no password was checked either "
            f"({tls_standard.why})"
        )
    if tls.stage == "USER" and clear.stage != "USER":
        return "inconclusive", (
            f"{mech}: over TLS the dummy user was refused at USER, before any password: nothing shows what a "
            "password check looks like there"
        )
    if adv.protocol == "smtp" and (tls_standard is None or tls_standard.signal != "credentials"):
        return "inconclusive", f"{mech}: answers differ, and over TLS the reply is not a credential failure either"
    if _only_words_differ(clear, tls) and clear.elapsed_ms >= SLOW_MS and tls.elapsed_ms >= SLOW_MS:
        return "inconclusive", (
            f"{mech}: the answers differ only in their words, and both were delayed as a password check is "
            f"({clear.elapsed_ms} ms in clear, {tls.elapsed_ms} ms over TLS)"
        )
    before = " (refused at USER, before the password was sent)" if clear.stage == "USER" else ""
    words = words_reading(clear, adv)
    agree = f"; its words agree ({words.why})" if words is not None and words.signal == "policy" else ""
    return "refused", (
        f"{mech}: the answer in clear{before} differs from the failed login over TLS{_timing_note(clear, tls)}: "
        f"the password sent in clear was not checked as it is over TLS{agree}"
    )


def _only_words_differ(clear: LoginAttempt, tls: LoginAttempt) -> bool:
    return (clear.outcome, (clear.code or "").upper(), clear.stage) == (
        tls.outcome,
        (tls.code or "").upper(),
        tls.stage,
    )


def _without_differential(
    clear: LoginAttempt, tls: LoginAttempt | None, words: Reading | None, adv: Advertised, evidence: LoginEvidence
) -> tuple[str, str]:
    """No standard signal and no answer over TLS to compare with: the structure of the port, then the wording."""
    mech = clear.mechanism
    if clear.stage == "USER":
        if words is not None and words.signal == "policy":
            return "refused", (
                f"{mech}: USER refused in clear ({words.why}) before the password was sent; no answer over TLS "
                "contradicts it"
            )
        if words is not None and words.signal == "mailbox":
            return "inconclusive", (
                f"{mech}: USER refused in clear as an unknown mailbox ({words.why}): the dummy user does not "
                "exist, and what a real user's password would meet is not known"
            )
        return "inconclusive", (
            f"{mech}: USER refused in clear without a reason; an unknown mailbox or a TLS demand, and no answer "
            "over TLS to tell them apart"
        )
    if evidence.no_tls and clear.outcome in ("no", "err") and adv.protocol != "smtp":
        if words is not None and words.signal == "policy":
            return "inconclusive", (
                f"{mech}: this port has no TLS, and the server's words say the login was refused for want of it "
                f"({words.why}); with no TLS there is no comparison to confirm or contradict them"
            )
        # Fooled only by a server that takes the command, refuses every password in clear without saying so, and
        # offers no TLS either: then nobody can log in at all, and nothing crosses that the server would accept.
        found = f" ({words.why})" if words is not None and words.signal == "credentials" else ""
        logindisabled = "" if adv.protocol == "pop3" else ", did not advertise LOGINDISABLED"
        return "accepted", (
            f"{mech}: this port has no TLS (STARTTLS not offered, refused when tried){logindisabled}, took the "
            f"login command and answered it as a failed login{found}, with no policy code: every password it "
            "accepts crosses in clear"
        )
    if (
        not evidence.tls_available
        and words is not None
        and words.signal == "credentials"
        and clear.elapsed_ms >= SLOW_MS
    ):
        return "accepted", (
            f"{mech}: {words.why}, delayed ({clear.elapsed_ms} ms) as a password check is, and no TLS to use: "
            "the password sent in clear was checked"
        )
    if words is not None and words.signal == "policy":
        return "refused", f"{mech}: refused in clear ({words.why}); no answer over TLS contradicts it"
    if not evidence.tls_available:
        return "inconclusive", f"{mech}: no TLS to compare with, and the answer in clear names no standard reason"
    if tls is not None:
        return "inconclusive", f"{mech}: no usable answer over TLS to compare with ({_no_answer(tls)})"
    return "inconclusive", f"{mech}: no answer over TLS to compare with"


def _timing_note(clear: LoginAttempt, tls: LoginAttempt) -> str:
    if clear.elapsed_ms <= FAST_MS and tls.elapsed_ms >= SLOW_MS:
        return f"; timing agrees: immediate in clear ({clear.elapsed_ms} ms), delayed over TLS ({tls.elapsed_ms} ms)"
    return ""
