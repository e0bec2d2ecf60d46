"""The fake server's POP3 commands: CAPA, NOOP, QUIT, STLS, USER/PASS, AUTH PLAIN and NTLM."""

from __future__ import annotations

from scanner.fakeserver.connection import Connection
from scanner.fakeserver.session import Credential


class Pop3Connection(Connection):
    """One POP3 client."""

    async def handle(self) -> bool:
        data = await self.read_line()
        verb_b, _, args = data.partition(b" ")
        verb = verb_b.decode("latin-1").upper()
        self._record(data, verb)
        if self.profile.mode == "reject-all":
            await self.send(self.profile.unknown)
            return True
        if verb == "CAPA":
            await self.send([self.profile.capability_ok, *self._capabilities(), "."])
        elif verb == "NOOP":
            await self.send(self.profile.noop)
        elif verb == "QUIT":
            await self.send(self.profile.logout)
            return False
        elif verb == "STLS":
            return await self._starttls()
        elif verb == "USER":
            user = args.decode("utf-8", "replace")
            self.state.pending_user = user
            self.session.credentials.append(Credential("USER", self.state.phase, user, None))
            return await self._answer("USER")
        elif verb == "PASS":
            password = args.decode("utf-8", "replace")
            user = self.state.pending_user or ""
            self.session.credentials.append(Credential("PASS", self.state.phase, user, password))
            return await self._answer("PASS")
        elif verb == "AUTH" and args.upper() == b"NTLM":
            return await self._ntlm()
        elif verb == "AUTH" and args.split(b" ")[0].upper() == b"PLAIN":
            words = args.split(b" ")
            payload = await self._sasl_payload("AUTH PLAIN", words[1] if len(words) > 1 else None)
            self._plain_credential("AUTH PLAIN", payload)
            if payload == b"*":
                await self.send(["-ERR Authentication aborted."])
                return True
            return await self._answer("AUTH PLAIN")
        else:
            await self.send(self.profile.unknown)
        return True
