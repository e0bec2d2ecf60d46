"""The fake server's SMTP submission commands: EHLO/HELO, NOOP/RSET, QUIT, STARTTLS, AUTH PLAIN, LOGIN and NTLM;
mail commands are recorded and refused."""

from __future__ import annotations

import base64
import binascii

from scanner.fakeserver.connection import Connection
from scanner.fakeserver.session import Credential


class SmtpConnection(Connection):
    """One SMTP submission client."""

    async def handle(self) -> bool:
        data = await self.read_line()
        verb_b, _, args = data.partition(b" ")
        verb = verb_b.decode("latin-1").upper()
        self._record(data, verb)
        if self.profile.mode == "reject-all":
            await self.send(self.profile.unknown)
        elif verb == "EHLO":
            caps = self._capabilities()
            first = self.profile.capability_ok
            lines = [f"250-{first}", *(f"250-{c}" for c in caps[:-1]), f"250 {caps[-1]}"] if caps else [f"250 {first}"]
            await self.send(lines)
        elif verb == "HELO":
            await self.send([f"250 {self.profile.capability_ok}"])
        elif verb in ("NOOP", "RSET"):
            await self.send(self.profile.noop)
        elif verb == "QUIT":
            await self.send(self.profile.logout)
            return False
        elif verb == "STARTTLS":
            return await self._starttls()
        elif verb == "AUTH":
            return await self._smtp_auth(args.split(b" "))
        else:  # MAIL, RCPT, DATA and the rest: recorded (tests assert they never come) and refused
            await self.send(self.profile.unknown)
        return True

    async def _smtp_auth(self, words: list[bytes]) -> bool:
        mech = words[0].decode("latin-1").upper()
        command = f"AUTH {mech}"
        initial = words[1] if len(words) > 1 else None
        if mech == "NTLM" and initial is None:
            return await self._ntlm()
        if mech == "PLAIN":
            payload = await self._sasl_payload(command, initial)
            self._plain_credential(command, payload)
        elif mech == "LOGIN":
            payload = await self._login_payloads(command, initial)
        else:
            payload = None
        if payload == b"*":
            await self.send(["501 5.7.0 Authentication aborted"])
            return True
        return await self._answer(command)

    async def _login_payloads(self, command: str, initial: bytes | None) -> bytes | None:
        """AUTH LOGIN: ask for the user name and the password (base64 "Username:" / "Password:") when the profile
        would check credentials; "*" when the client cancels."""
        answer = self._lookup(command)
        if answer is None or not answer.continuation:
            return None
        got: list[str] = []
        for prompt, given in ((b"VXNlcm5hbWU6", initial), (b"UGFzc3dvcmQ6", None)):
            if given is None:
                await self.write(b"334 " + prompt + b"\r\n")
                given = await self.read_line()
                self._record(given, "")
            if given == b"*":
                return given
            try:
                got.append(base64.b64decode(given, validate=True).decode("utf-8", "replace"))
            except (binascii.Error, ValueError):
                return given
        self.session.credentials.append(Credential(command, self.state.phase, got[0], got[1]))
        return b""
