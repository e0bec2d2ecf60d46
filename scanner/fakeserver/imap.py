"""The fake server's IMAP commands: CAPABILITY, NOOP, LOGOUT, STARTTLS, LOGIN, AUTHENTICATE PLAIN and NTLM."""

from __future__ import annotations

import re

from scanner.fakeserver.connection import Connection
from scanner.fakeserver.session import Credential

_LITERAL = re.compile(rb"\{(\d{1,9})(\+?)\}$")
_LITERAL_IN_ARGS = re.compile(rb"\{(\d{1,9})\+?\}\r\n")


class ImapConnection(Connection):
    """One IMAP client: tagged commands, literals read in whole."""

    async def _imap_command(self) -> bytes:
        """A whole command line, with any literals ({n} / {n+}) read in and kept inline."""
        data = await self.read_line()
        while match := _LITERAL.search(data):
            if not match.group(2):
                await self.write(b"+ Ready for additional command text.\r\n")
            literal = await self.read_exact(int(match.group(1)))
            data += b"\r\n" + literal + await self.read_line()
        return data

    async def handle(self) -> bool:
        data = await self._imap_command()
        tag, _, rest = data.partition(b" ")
        verb_b, _, args = rest.partition(b" ")
        tag_s, verb = tag.decode("latin-1"), verb_b.decode("latin-1").upper()
        self._record(data, verb)
        if self.profile.mode == "reject-all" or not tag or not verb:
            await self.send(self.profile.unknown, tag_s or "*")
            return True
        if verb == "CAPABILITY":
            caps = " ".join(("CAPABILITY", *self._capabilities()))
            await self.send([f"* {caps}", self.profile.capability_ok], tag_s)
        elif verb == "NOOP":
            await self.send(self.profile.noop, tag_s)
        elif verb == "LOGOUT":
            await self.send(self.profile.logout, tag_s)
            return False
        elif verb == "STARTTLS":
            return await self._starttls(tag_s)
        elif verb == "LOGIN":
            words = imap_words(args)
            if len(words) == 2:
                user, password = (w.decode("utf-8", "replace") for w in words)
                self.session.credentials.append(Credential("LOGIN", self.state.phase, user, password))
            return await self._answer("LOGIN", tag_s)
        elif verb == "AUTHENTICATE":
            words = imap_words(args)
            mech = words[0].decode("latin-1").upper() if words else ""
            command = f"AUTHENTICATE {mech}"
            if mech == "NTLM":
                return await self._ntlm(tag_s)
            if mech == "PLAIN":
                payload = await self._sasl_payload(command, words[1] if len(words) > 1 else None, tag_s)
                self._plain_credential(command, payload)
                if payload == b"*":
                    await self.send(["{tag} BAD AUTHENTICATE aborted."], tag_s)
                    return True
            return await self._answer(command, tag_s)
        else:
            await self.send(self.profile.unknown, tag_s)
        return True


def imap_words(args: bytes) -> list[bytes]:
    """IMAP arguments: atoms, "quoted strings" (with \\ escapes) and literals kept inline by _imap_command."""
    words: list[bytes] = []
    i = 0
    while i < len(args):
        if args[i : i + 1] == b" ":
            i += 1
        elif args[i : i + 1] == b'"':
            out = bytearray()
            i += 1
            while i < len(args) and args[i : i + 1] != b'"':
                if args[i : i + 1] == b"\\":
                    i += 1
                out += args[i : i + 1]
                i += 1
            words.append(bytes(out))
            i += 1
        elif match := _LITERAL_IN_ARGS.match(args, i):
            start = match.end()
            words.append(args[start : start + int(match.group(1))])
            i = start + int(match.group(1))
        else:
            end = args.find(b" ", i)
            end = len(args) if end < 0 else end
            words.append(args[i:end])
            i = end
    return words
