"""POP3 as the probe speaks it: CAPA, STLS, USER/PASS and AUTH PLAIN, QUIT."""

from __future__ import annotations

from scanner.probe.dialects.base import Ask, Dialect, DummyCredentials, LoginAnswer
from scanner.protocols.events import Greeting
from scanner.protocols.lines import has_capability
from scanner.protocols.pop3 import Pop3Client


class Pop3Dialect(Dialect[Pop3Client]):
    protocol = "pop3"

    def new_machine(self) -> Pop3Client:
        return Pop3Client()

    async def read_capabilities(self, machine: Pop3Client, ask: Ask, greeting: Greeting | None) -> tuple[str, ...]:
        answer = await ask(machine.capa(), ())
        if answer.status == "ok" and answer.capabilities is not None:
            return tuple(answer.capabilities)
        return ()

    def offers_starttls(self, capabilities: tuple[str, ...]) -> bool:
        return has_capability(capabilities, "STLS")

    def starttls(self, machine: Pop3Client) -> bytes:
        return machine.stls()

    def login_mechanisms(self, capabilities: tuple[str, ...]) -> list[str]:
        """USER/PASS always (that is the test); AUTH PLAIN too when ``SASL ... PLAIN`` is advertised in clear."""
        upper = [c.upper().split() for c in capabilities]
        sasl_plain = any(words[:1] == ["SASL"] and "PLAIN" in words[1:] for words in upper)
        return ["USER/PASS"] + (["AUTH PLAIN"] if sasl_plain else [])

    async def login(self, machine: Pop3Client, ask: Ask, mechanism: str, credentials: DummyCredentials) -> LoginAnswer:
        if mechanism == "USER/PASS":
            answer = await ask(machine.user(credentials.user), ())
            if answer.status != "ok":
                return LoginAnswer(answer, "USER")
            return LoginAnswer(await ask(machine.pass_(credentials.password), ()), "PASS")
        command = machine.auth_plain(credentials.user, credentials.password)
        return LoginAnswer(await ask(command, (credentials.sasl_plain,)))

    def ntlm_command(self, machine: Pop3Client) -> bytes:
        return machine.auth("NTLM")

    def goodbye(self, machine: Pop3Client) -> bytes:
        return machine.quit()
