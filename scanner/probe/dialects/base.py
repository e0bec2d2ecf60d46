"""What the probe needs to know about one mail protocol, behind one small interface.

The probe's control flow (connect, greeting, capabilities, dummy logins in clear, STARTTLS, the same logins over
TLS, goodbye) is the same for every protocol; a dialect says how each step is spoken and what the capabilities mean.
Adding a protocol means a new dialect (and its verdict table), not a new branch in the probe.

Dialects stay free of I/O: they build commands with the protocol's sans-I/O machine and hand them to ``ask``, which
the probe binds to a live session.
"""

from __future__ import annotations

import secrets
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from scanner.model import Finding, Protocol
from scanner.protocols.base import ClientMachine
from scanner.protocols.events import Continuation, Greeting, Response
from scanner.protocols.ntlm import Challenge, NtlmError, decode_base64, negotiate_message, parse_challenge
from scanner.verdicts.findings import LoginFacts, login_findings
from scanner.verdicts.ntlm import ntlm_offered
from scanner.verdicts.plaintext import Advertised

M = TypeVar("M", bound=ClientMachine)

# Send one command and return its complete answer; SASL challenges are answered with the payloads in order, and
# cancelled (``*``) once they run out.
Ask = Callable[[bytes, tuple[bytes, ...]], Awaitable[Response]]
# The same, also returning the SASL challenges the server sent before its answer.
AskSasl = Callable[[bytes, tuple[bytes, ...]], Awaitable[tuple[Response, tuple[Continuation, ...]]]]


@dataclass(frozen=True)
class NtlmAnswer:
    """The CHALLENGE the server sent to mailprobe's NEGOTIATE, or why there was none."""

    challenge: Challenge | None
    error: str | None = None
    ended: bool = False  # the server ended the session with its answer (BYE, 421): no goodbye


@dataclass(frozen=True)
class DummyCredentials:
    """Random credentials that cannot belong to anyone; never real ones."""

    user: str
    password: str

    @classmethod
    def random(cls) -> DummyCredentials:
        return cls(f"mailprobe-{secrets.token_hex(6)}", secrets.token_urlsafe(18))

    @property
    def sasl_plain(self) -> bytes:
        return b"\0" + self.user.encode() + b"\0" + self.password.encode()


@dataclass(frozen=True)
class LoginAnswer:
    """The answer that ends one dummy login, and the step it came at ("USER" for a POP3 refusal before PASS)."""

    response: Response
    stage: str = ""


class Dialect(ABC, Generic[M]):
    """One protocol as the probe speaks it."""

    protocol: Protocol

    @abstractmethod
    def new_machine(self) -> M:
        """A fresh sans-I/O client machine for one connection."""

    @abstractmethod
    async def read_capabilities(self, machine: M, ask: Ask, greeting: Greeting | None) -> tuple[str, ...]:
        """Ask for the capabilities (after the greeting, and again after TLS with ``greeting`` None)."""

    @abstractmethod
    def offers_starttls(self, capabilities: tuple[str, ...]) -> bool:
        """Whether the capabilities advertise the upgrade to TLS."""

    async def before_starttls(self, machine: M, ask: Ask) -> None:  # noqa: B027 - optional step, none by default
        """Whatever must be said between the greeting and the STARTTLS command on a fresh connection."""

    async def before_auth(self, machine: M, ask: AskSasl) -> None:  # noqa: B027 - optional step, none by default
        """Whatever must be said before an AUTH on a connection that has not said it yet (SMTP: EHLO)."""

    @abstractmethod
    def starttls(self, machine: M) -> bytes:
        """The command that asks for TLS."""

    @abstractmethod
    def login_mechanisms(self, capabilities: tuple[str, ...]) -> list[str]:
        """The dummy logins to try, in order, given what was advertised in clear."""

    @abstractmethod
    async def login(self, machine: M, ask: Ask, mechanism: str, credentials: DummyCredentials) -> LoginAnswer:
        """One dummy login with ``mechanism``."""

    @abstractmethod
    def goodbye(self, machine: M) -> bytes:
        """The polite end of a session."""

    def offers_ntlm(self, capabilities: tuple[str, ...]) -> bool:
        """Whether the capabilities offer the NTLM SASL mechanism."""
        return ntlm_offered(self.protocol, capabilities)

    @abstractmethod
    def ntlm_command(self, machine: M) -> bytes:
        """The command that starts an NTLM exchange without an initial response (AUTH NTLM)."""

    async def ntlm(self, machine: M, ask: AskSasl) -> NtlmAnswer:
        """NTLM's first round trip and nothing more: the NEGOTIATE (no name, no credential) answers the server's
        empty challenge, its CHALLENGE is read, then the exchange is cancelled (``*``)."""
        await self.before_auth(machine, ask)
        response, challenges = await ask(self.ntlm_command(machine), (negotiate_message(),))
        return self.read_challenge(challenges, response)

    def read_challenge(self, challenges: tuple[Continuation, ...], response: Response | None) -> NtlmAnswer:
        """The CHALLENGE among the server's SASL challenges; ``response`` is its final answer (None when it never
        came: the session failed after the challenges)."""
        # The CHALLENGE comes in the challenge after the empty first one; a server that skips the empty one sends
        # it first. Text after "+ " / "334 " is the base64 payload.
        chosen = challenges[1] if len(challenges) > 1 else (challenges[0] if challenges else None)
        payload = chosen.line.partition(" ")[2].strip() if chosen is not None else ""
        ended = response is None or response.status == "bye"
        if not payload:
            said = _said(self.protocol, response) if response is not None else "nothing more"
            return NtlmAnswer(None, f"no NTLM challenge; the server answered {said}", ended)
        try:
            return NtlmAnswer(parse_challenge(decode_base64(payload)), ended=ended)
        except NtlmError as exc:
            return NtlmAnswer(None, exc.reason, ended)

    def advertised(self, capabilities: tuple[str, ...]) -> Advertised:
        """The capabilities seen in clear as the facts the verdicts read."""
        return Advertised(self.protocol, capabilities)

    def answer_code(self, response: Response) -> str | None:
        """The code the verdict table reads: the first word of a response code (PRIVACYREQUIRED, AUTH)."""
        return response.code.split()[0] if response.code else None

    def findings(self, facts: LoginFacts) -> list[Finding]:
        """This protocol's login and STARTTLS findings."""
        return login_findings(facts)

    def certificate_findings(self, findings: list[Finding], software: str | None) -> list[Finding]:
        """The certificate findings of this port, as the shared analysis judged them (where to act may differ)."""
        return findings


def _said(protocol: Protocol, response: Response) -> str:
    """A refusal as the server worded it: "504 5.7.4 Unrecognized authentication type", "NO Unsupported",
    "-ERR Authentication failed."."""
    if response.reply_code is not None:
        head = str(response.reply_code)
    elif protocol == "pop3":
        head = "+OK" if response.status == "ok" else "-ERR"
    else:
        head = response.status.upper()
    return " ".join(part for part in (head, response.code, response.text) if part)
