"""The Exchange-like profiles answer NTLM as Exchange does: an empty continuation, the NEGOTIATE, a CHALLENGE with
the full set of AV pairs; the cancel is answered and counted like a refused command."""

from __future__ import annotations

import asyncio
import base64

import pytest

from scanner.fakeserver import FakeServer, ProfileError, bundled_profile, parse_profile
from scanner.protocols.ntlm import decode_base64, negotiate_message, parse_challenge
from tests.fakeserver.helpers import HOST, read_eof, read_line

NEGOTIATE = base64.b64encode(negotiate_message()) + b"\r\n"


async def exchange(profile: str, command: bytes, *, ehlo: bool = False) -> tuple[list[bytes], FakeServer]:
    async with FakeServer(bundled_profile(profile)) as srv:
        reader, writer = await asyncio.open_connection(HOST, srv.port)
        lines = [await read_line(reader)]
        if ehlo:
            writer.write(b"EHLO mailprobe.invalid\r\n")
            while not (await read_line(reader)).startswith(b"250 "):
                pass
        writer.write(command)
        lines.append(await read_line(reader))
        writer.write(NEGOTIATE)
        lines.append(await read_line(reader))
        writer.write(b"*\r\n")
        lines.append(await read_line(reader))
        writer.close()
        await srv.wait_idle()
    return lines, srv


@pytest.mark.parametrize(
    ("profile", "command", "empty", "cancelled"),
    [
        ("exchange-imap-plaintextauthentication", b"a1 AUTHENTICATE NTLM\r\n", b"+ \r\n",
         b"a1 BAD Command Argument Error. 12\r\n"),
        ("exchange-pop3-plaintextauthentication", b"AUTH NTLM\r\n", b"+ \r\n", b"-ERR Protocol error. 14\r\n"),
        ("exchange-submission-clientfrontend", b"AUTH NTLM\r\n", b"334 \r\n", b"501 5.7.0 Authentication aborted\r\n"),
    ],
)  # fmt: skip
async def test_the_challenge_names_the_whole_domain(profile, command, empty, cancelled) -> None:
    lines, srv = await exchange(profile, command, ehlo=profile.startswith("exchange-submission"))
    assert lines[1] == empty
    prefix = empty.rstrip(b"\r\n")
    assert lines[2].startswith(prefix)
    challenge = parse_challenge(decode_base64(lines[2][len(prefix) :].decode()))
    assert challenge.names == {
        "target_name": "CORP",
        "netbios_computer": "EX01",
        "netbios_domain": "CORP",
        "dns_computer": "EX01.corp.example.org",
        "dns_domain": "corp.example.org",
        "dns_tree": "corp.example.org",
    }
    assert str(challenge.version) == "10.0.17763" and challenge.timestamp is not None and not challenge.problems
    assert lines[3] == cancelled
    session = srv.sessions[0]
    assert session.ntlm_negotiate == negotiate_message()  # what the client sent, recorded
    assert session.invalid_state_count == (0 if profile.startswith("exchange-submission") else 1)


async def test_the_cancel_is_the_third_strike_after_two_refused_logins() -> None:
    async with FakeServer(bundled_profile("exchange-imap-plaintextauthentication")) as srv:
        reader, writer = await asyncio.open_connection(HOST, srv.port)
        await read_line(reader)
        writer.write(b'a1 LOGIN "u" "p"\r\na2 LOGIN "u" "p"\r\n')
        await read_line(reader)
        await read_line(reader)
        writer.write(b"a3 AUTHENTICATE NTLM\r\n")
        await read_line(reader)
        writer.write(NEGOTIATE)
        await read_line(reader)
        writer.write(b"*\r\n")
        assert await read_eof(reader) == b"a3 BAD Command Argument Error. 12\r\n* BYE Connection closed. 14\r\n"
        writer.close()
        await srv.wait_idle()


async def test_without_an_ntlm_table_the_mechanism_is_unknown() -> None:
    async with FakeServer(bundled_profile("dovecot-imap-plaintext-refused")) as srv:
        reader, writer = await asyncio.open_connection(HOST, srv.port)
        await read_line(reader)
        writer.write(b"a1 AUTHENTICATE NTLM\r\n")
        assert (await read_line(reader)).startswith(b"a1 BAD")
        writer.close()
        await srv.wait_idle()


def test_profile_errors() -> None:
    base = {"protocol": "imap"}
    with pytest.raises(ProfileError, match="ntlm.version"):
        parse_profile({**base, "ntlm": {"version": "ten"}}, "x")
    with pytest.raises(ProfileError, match="challenge_hex"):
        parse_profile({**base, "ntlm": {"challenge_hex": "zz"}}, "x")
    with pytest.raises(ProfileError, match="ntlm"):
        parse_profile({**base, "ntlm": {"colour": "red"}}, "x")
    assert parse_profile({**base, "ntlm": {}}, "x").ntlm.cancelled == ("{tag} BAD AUTHENTICATE aborted.",)  # type: ignore[union-attr]
