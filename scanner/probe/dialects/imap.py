"""IMAP as the probe speaks it: CAPABILITY, STARTTLS, LOGIN and AUTHENTICATE PLAIN, LOGOUT."""

from __future__ import annotations

from scanner.probe.dialects.base import Ask, Dialect, DummyCredentials, LoginAnswer
from scanner.protocols.events import Greeting
from scanner.protocols.imap import ImapClient
from scanner.protocols.lines import has_capability


class ImapDialect(Dialect[ImapClient]):
    protocol = "imap"

    def new_machine(self) -> ImapClient:
        return ImapClient()

    async def read_capabilities(self, machine: ImapClient, ask: Ask, greeting: Greeting | None) -> tuple[str, ...]:
        answer = await ask(machine.capability(), ())
        if answer.status == "ok" and answer.capabilities is not None:
            return tuple(answer.capabilities)
        if greeting is not None and greeting.capabilities:
            return tuple(greeting.capabilities)  # some servers only advertise in the greeting
        return ()

    def offers_starttls(self, capabilities: tuple[str, ...]) -> bool:
        return has_capability(capabilities, "STARTTLS")

    def starttls(self, machine: ImapClient) -> bytes:
        return machine.starttls()

    def login_mechanisms(self, capabilities: tuple[str, ...]) -> list[str]:
        """LOGIN always (that is the test); AUTHENTICATE PLAIN too when AUTH=PLAIN is advertised in clear."""
        return ["LOGIN"] + (["AUTHENTICATE PLAIN"] if has_capability(capabilities, "AUTH=PLAIN") else [])

    async def login(self, machine: ImapClient, ask: Ask, mechanism: str, credentials: DummyCredentials) -> LoginAnswer:
        if mechanism == "LOGIN":
            return LoginAnswer(await ask(machine.login(credentials.user, credentials.password), ()))
        command = machine.authenticate_plain(credentials.user, credentials.password)
        return LoginAnswer(await ask(command, (credentials.sasl_plain,)))

    def ntlm_command(self, machine: ImapClient) -> bytes:
        return machine.authenticate("NTLM")

    def goodbye(self, machine: ImapClient) -> bytes:
        return machine.logout()
