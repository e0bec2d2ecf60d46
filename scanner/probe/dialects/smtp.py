"""SMTP submission as the probe speaks it: EHLO (HELO when EHLO is refused), STARTTLS, one dummy AUTH, QUIT.

Never MAIL, RCPT or DATA: the machine cannot even produce them. One AUTH per connection, so with a refused EHLO a
connection carries at most two refused commands. AUTH PLAIN is sent without an initial response, so the dummy
credentials only leave when the server asks for them with a 334.
"""

from __future__ import annotations

from dataclasses import replace

from scanner.model import Finding
from scanner.probe.dialects.base import Ask, AskSasl, Dialect, DummyCredentials, LoginAnswer
from scanner.protocols.events import Greeting, Response
from scanner.protocols.lines import has_capability
from scanner.protocols.smtp import SmtpClient
from scanner.verdicts.findings import LoginFacts
from scanner.verdicts.submission import SUBMISSION_CERTIFICATE, submission_findings

# RFC 5321 4.1.1.1 wants the client's name; an .invalid name (RFC 2606) can never be mistaken for a real host.
CLIENT_NAME = "mailprobe.invalid"


def auth_mechanisms(capabilities: tuple[str, ...]) -> tuple[str, ...]:
    """The SASL mechanisms of the EHLO ``AUTH`` keyword (also the old ``AUTH=`` spelling), upper case."""
    found: list[str] = []
    for cap in capabilities:
        words = cap.upper().replace("=", " ", 1).split() if cap.upper().startswith("AUTH=") else cap.upper().split()
        if words and words[0] == "AUTH":
            found.extend(w for w in words[1:] if w not in found)
    return tuple(found)


class SmtpDialect(Dialect[SmtpClient]):
    protocol = "smtp"

    def new_machine(self) -> SmtpClient:
        return SmtpClient()

    async def read_capabilities(self, machine: SmtpClient, ask: Ask, greeting: Greeting | None) -> tuple[str, ...]:
        answer = await ask(machine.ehlo(CLIENT_NAME), ())
        if answer.status == "ok":
            return answer.capabilities or ()
        if answer.status == "err":
            await ask(machine.helo(CLIENT_NAME), ())  # RFC 5321 4.1.4: an old server gets HELO; no extensions
        return ()

    def offers_starttls(self, capabilities: tuple[str, ...]) -> bool:
        return has_capability(capabilities, "STARTTLS")

    async def before_starttls(self, machine: SmtpClient, ask: Ask) -> None:
        await ask(machine.ehlo(CLIENT_NAME), ())  # RFC 3207: STARTTLS follows EHLO

    async def before_auth(self, machine: SmtpClient, ask: AskSasl) -> None:
        if not machine.extensions:  # a connection of its own, or the first command after TLS (RFC 3207 4.2)
            await ask(machine.ehlo(CLIENT_NAME), ())

    def starttls(self, machine: SmtpClient) -> bytes:
        return machine.starttls()

    def login_mechanisms(self, capabilities: tuple[str, ...]) -> list[str]:
        """One dummy AUTH: PLAIN or LOGIN as offered in clear, else the bare "AUTH" that picks the mechanism the
        server offers on the connection where it is sent (Exchange offers LOGIN only after STARTTLS)."""
        offered = auth_mechanisms(capabilities)
        for mechanism in ("PLAIN", "LOGIN"):
            if mechanism in offered:
                return [f"AUTH {mechanism}"]
        return ["AUTH"]

    async def login(self, machine: SmtpClient, ask: Ask, mechanism: str, credentials: DummyCredentials) -> LoginAnswer:
        if mechanism == "AUTH":
            offered = auth_mechanisms(machine.extensions)
            mechanism = "AUTH LOGIN" if "LOGIN" in offered and "PLAIN" not in offered else "AUTH PLAIN"
        if mechanism == "AUTH LOGIN":
            payloads = (credentials.user.encode(), credentials.password.encode())
            return LoginAnswer(await ask(machine.auth_login(), payloads))
        command = machine.auth_plain(credentials.user, credentials.password, initial_response=False)
        return LoginAnswer(await ask(command, (credentials.sasl_plain,)))

    def ntlm_command(self, machine: SmtpClient) -> bytes:
        return machine.auth("NTLM")

    def goodbye(self, machine: SmtpClient) -> bytes:
        return machine.quit()

    def answer_code(self, response: Response) -> str | None:
        """``535 5.7.8``: the reply code with the enhanced code, both of which the verdict table reads."""
        if response.reply_code is None:
            return response.code
        return f"{response.reply_code} {response.code}" if response.code else str(response.reply_code)

    def findings(self, facts: LoginFacts) -> list[Finding]:
        return submission_findings(facts)

    def certificate_findings(self, findings: list[Finding], software: str | None) -> list[Finding]:
        """Judged exactly as on 993; the remediation also says where a submission port's certificate is set."""
        where = " On this submission port: " + SUBMISSION_CERTIFICATE.for_software(software)
        return [replace(f, remediation=f.remediation + where) if f.id.startswith("cert-") else f for f in findings]
