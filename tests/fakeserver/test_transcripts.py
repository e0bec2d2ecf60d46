"""Replay every fixtures/transcripts/*.txt against the profile it names: each S: line must match byte for byte."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest

from scanner.fakeserver import FakeServer, Profile, bundled_profile, load_profile
from tests.fakeserver.helpers import HOST, SERVER_FIXTURES, TRANSCRIPTS, read_line

TRANSCRIPT_FILES = sorted(TRANSCRIPTS.glob("*.txt"))


def _profile_for(path: Path) -> Profile:
    for line in path.read_text("utf-8").splitlines():
        if line.startswith("# profile:"):
            name = line.split(":", 1)[1].strip()
            fixture = SERVER_FIXTURES / f"{name}.toml"
            return load_profile(fixture) if fixture.exists() else bundled_profile(name)
    raise AssertionError(f"{path.name} names no profile")


def _steps(path: Path) -> list[tuple[str, str]]:
    steps = []
    for raw in path.read_text("utf-8").split("\n"):
        if raw.startswith(("C: ", "S: ")):
            steps.append((raw[0], raw[3:]))  # keep trailing spaces: "+ " is a real continuation
        elif raw.strip() in ("== tls ==", "== closed =="):
            steps.append((raw.strip(), ""))
        elif raw.strip() and not raw.startswith("#"):
            raise AssertionError(f"{path.name}: unparsable line {raw!r}")
    return steps


def test_there_are_transcripts_for_every_exchange_login_type() -> None:
    names = {p.stem for p in TRANSCRIPT_FILES}
    for proto in ("imap", "pop3"):
        for login_type in ("securelogin", "plaintextauthentication", "plaintextlogin"):
            assert f"exchange-{proto}-{login_type}" in names
    assert {"exchange-imaps", "exchange-pop3s"} <= names


@pytest.mark.parametrize("path", TRANSCRIPT_FILES, ids=lambda p: p.stem)
async def test_profile_reproduces_transcript(
    path: Path, server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> None:
    profile = _profile_for(path)
    steps = _steps(path)
    async with FakeServer(profile, host=HOST, ssl_context=server_ctx, login_delay=0.01) as srv:
        implicit = steps[0][0] == "== tls =="
        assert implicit == profile.implicit_tls
        reader, writer = await asyncio.open_connection(HOST, srv.port, ssl=client_ctx if implicit else None)
        try:
            for number, (kind, text) in enumerate(steps[1:] if implicit else steps, 1):
                if kind == "C":
                    writer.write(text.encode() + b"\r\n")
                    await writer.drain()
                elif kind == "S":
                    got = await read_line(reader)
                    assert got == text.encode() + b"\r\n", f"step {number}"
                elif kind == "== tls ==":
                    await asyncio.wait_for(writer.start_tls(client_ctx), 5)
                else:
                    assert await asyncio.wait_for(reader.read(), 2) == b"", "server should close here"
        finally:
            writer.close()
        await srv.wait_idle()
    session = srv.sessions[0]
    sent = [t for k, t in steps if k == "C"]
    assert [r.data.decode() for r in session.received] == sent
