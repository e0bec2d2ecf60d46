"""The real-Dovecot harness does what other tests rely on, checked with raw asyncio streams and stdlib ssl.

Clients connect from 127.0.0.1 to the instance's own 127.0.0.x, so Dovecot does not treat them as secured.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from pathlib import Path

import pytest

import tests.dovecot as dovecot
from tests.dovecot import DovecotInstance, _listening

pytestmark = pytest.mark.dovecot

CLIENT_ADDRESS = "127.0.0.1"
TIMEOUT = 10.0  # Dovecot delays a failed login by about 2 s


def _tls_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the harness serves throwaway certificates
    return ctx


class Client:
    """A line-oriented client over asyncio streams, able to upgrade to TLS in place."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, host: str, port: int, *, tls: bool = False) -> Client:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, local_addr=(CLIENT_ADDRESS, 0), ssl=_tls_context() if tls else None),
            TIMEOUT,
        )
        return cls(reader, writer)

    async def line(self) -> str:
        raw = await asyncio.wait_for(self.reader.readline(), TIMEOUT)
        assert raw.endswith(b"\r\n"), f"incomplete line or EOF: {raw!r}"
        return raw.decode()

    async def send(self, text: str) -> None:
        self.writer.write(text.encode() + b"\r\n")
        await self.writer.drain()

    async def imap(self, tag: str, command: str) -> list[str]:
        """Send a tagged IMAP command; all lines up to and including the tagged one."""
        await self.send(f"{tag} {command}")
        lines = []
        while True:
            lines.append(await self.line())
            if lines[-1].startswith(f"{tag} "):
                return lines

    async def pop3(self, command: str) -> str:
        await self.send(command)
        return await self.line()

    async def pop3_multiline(self, command: str) -> list[str]:
        first = await self.pop3(command)
        assert first.startswith("+OK"), first
        lines = []
        while (line := await self.line()) != ".\r\n":
            lines.append(line.strip())
        return lines

    async def starttls(self) -> None:
        await asyncio.wait_for(self.writer.start_tls(_tls_context()), TIMEOUT)

    @property
    def tls_version(self) -> str | None:
        obj = self.writer.get_extra_info("ssl_object")
        return obj.version() if obj else None

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()


async def imap_greeting(dv: DovecotInstance, *, tls: bool = False) -> tuple[Client, str]:
    c = await Client.connect(dv.address, dv.ports.imaps if tls else dv.ports.imap, tls=tls)
    return c, await c.line()


async def pop3_greeting(dv: DovecotInstance, *, tls: bool = False) -> tuple[Client, str]:
    c = await Client.connect(dv.address, dv.ports.pop3s if tls else dv.ports.pop3, tls=tls)
    return c, await c.line()


# --- greetings and capabilities --------------------------------------------------------------------------------


async def test_greeting_on_all_four_ports(dovecot_plaintext_refused: DovecotInstance) -> None:
    dv = dovecot_plaintext_refused
    assert dv.address != "127.0.0.1" and dv.address.startswith("127.")
    assert dv.ports.all() == (110, 143, 993, 995)
    for connect, tls, prefix in (
        (imap_greeting, False, "* OK "),
        (imap_greeting, True, "* OK "),
        (pop3_greeting, False, "+OK "),
        (pop3_greeting, True, "+OK "),
    ):
        c, greeting = await connect(dv, tls=tls)
        assert greeting.startswith(prefix), greeting
        assert re.search(r"Dovecot( \(\w+\))? ready\.", greeting), greeting  # Debian adds "(Debian)"
        assert (c.tls_version is not None) == tls
        await c.close()


async def test_plaintext_refused_imap_login_gets_privacyrequired(dovecot_plaintext_refused: DovecotInstance) -> None:
    dv = dovecot_plaintext_refused
    c, greeting = await imap_greeting(dv)
    assert "LOGINDISABLED" in greeting and "STARTTLS" in greeting
    # the real test password: the refusal is policy, not a wrong credential
    reply = await c.imap("a1", f'LOGIN "{dv.user.name}" "{dv.user.password}"')
    assert reply[-1].startswith("a1 NO [PRIVACYREQUIRED]"), reply
    await c.close()


async def test_plaintext_refused_pop3_user_pass_disallowed(dovecot_plaintext_refused: DovecotInstance) -> None:
    dv = dovecot_plaintext_refused
    c, _ = await pop3_greeting(dv)
    assert "USER" not in await c.pop3_multiline("CAPA")
    reply = await c.pop3(f"USER {dv.user.name}")
    if reply.startswith("+OK"):  # some versions only refuse at PASS
        reply = await c.pop3(f"PASS {dv.user.password}")
    assert reply.startswith("-ERR"), reply
    assert re.search(r"(Plaintext|Cleartext) authentication disallowed", reply), reply
    await c.close()


async def test_plaintext_allowed_wrong_password_then_right_one(dovecot_plaintext_allowed: DovecotInstance) -> None:
    dv = dovecot_plaintext_allowed
    c, greeting = await imap_greeting(dv)
    assert "LOGINDISABLED" not in greeting and "STARTTLS" in greeting
    bad = await c.imap("a1", f'LOGIN "{dv.user.name}" "wrong-{dv.user.password}"')
    assert bad[-1].startswith("a1 NO [AUTHENTICATIONFAILED]"), bad
    good = await c.imap("a2", f'LOGIN "{dv.user.name}" "{dv.user.password}"')
    assert good[-1].startswith("a2 OK"), good
    await c.imap("a3", "LOGOUT")
    await c.close()

    p, _ = await pop3_greeting(dv)
    assert "USER" in await p.pop3_multiline("CAPA")
    assert (await p.pop3(f"USER {dv.users[1].name}")).startswith("+OK")
    assert (await p.pop3(f"PASS {dv.users[1].password}")).startswith("+OK")
    await p.close()


async def test_ssl_no_offers_no_starttls_and_no_tls_ports(dovecot_ssl_no: DovecotInstance) -> None:
    dv = dovecot_ssl_no
    c, greeting = await imap_greeting(dv)
    assert greeting.startswith("* OK") and "STARTTLS" not in greeting and "LOGINDISABLED" not in greeting
    assert (await c.imap("a1", "STARTTLS"))[-1].startswith("a1 BAD")
    await c.close()
    p, _ = await pop3_greeting(dv)
    assert "STLS" not in await p.pop3_multiline("CAPA")
    await p.close()
    for port in (dv.ports.imaps, dv.ports.pop3s):
        with pytest.raises(ConnectionRefusedError):
            await Client.connect(dv.address, port, tls=True)


@pytest.mark.parametrize("fixture", ["dovecot_plaintext_refused", "dovecot_plaintext_allowed", "dovecot_ssl_required"])
async def test_starttls_then_login_works(fixture: str, request: pytest.FixtureRequest) -> None:
    dv: DovecotInstance = request.getfixturevalue(fixture)
    c, _ = await imap_greeting(dv)
    assert (await c.imap("a1", "STARTTLS"))[-1].startswith("a1 OK")
    await c.starttls()
    assert c.tls_version in ("TLSv1.2", "TLSv1.3")
    caps = (await c.imap("a2", "CAPABILITY"))[0]
    assert "LOGINDISABLED" not in caps and "STARTTLS" not in caps
    assert (await c.imap("a3", f'LOGIN "{dv.user.name}" "{dv.user.password}"'))[-1].startswith("a3 OK")
    await c.close()

    p, _ = await pop3_greeting(dv)
    assert (await p.pop3("STLS")).startswith("+OK")
    await p.starttls()
    capa = await p.pop3_multiline("CAPA")
    assert "USER" in capa and "STLS" not in capa
    assert (await p.pop3(f"USER {dv.user.name}")).startswith("+OK")
    assert (await p.pop3(f"PASS {dv.user.password}")).startswith("+OK")
    await p.close()


async def test_ssl_required_refuses_cleartext_login(dovecot_ssl_required: DovecotInstance) -> None:
    dv = dovecot_ssl_required
    c, greeting = await imap_greeting(dv)
    assert "LOGINDISABLED" in greeting
    reply = await c.imap("a1", f'LOGIN "{dv.user.name}" "{dv.user.password}"')
    assert reply[-1].startswith("a1 NO [PRIVACYREQUIRED]"), reply
    await c.close()


# --- harness features other tests rely on ---------------------------------------------------------------------


async def test_log_records_tls_and_cleartext_logins(dovecot_factory) -> None:
    dv = dovecot_factory("plaintext_allowed")
    clear_user, tls_user = dv.users
    c, _ = await imap_greeting(dv)
    assert (await c.imap("a1", f'LOGIN "{clear_user.name}" "{clear_user.password}"'))[-1].startswith("a1 OK")
    await c.close()
    c, _ = await imap_greeting(dv, tls=True)
    assert (await c.imap("a1", f'LOGIN "{tls_user.name}" "{tls_user.password}"'))[-1].startswith("a1 OK")
    await c.close()

    lip = re.escape(dv.address)
    base = rf"imap-login: (Info: )?Login: user=<{{}}>, method=PLAIN, rip=127\.0\.0\.1, lip={lip}, mpid=\d+"
    clear = dv.wait_for_log(base.format(re.escape(clear_user.name)) + r"(, [^,]+)?, session=")
    assert "TLS" not in clear.group(0) and "secured" not in clear.group(0)
    dv.wait_for_log(base.format(re.escape(tls_user.name)) + r", TLS, session=")


async def test_reconfigure_from_allowed_to_refused(dovecot_factory) -> None:
    dv = dovecot_factory("plaintext_allowed")
    address, users = dv.address, dv.users
    c, greeting = await imap_greeting(dv)
    assert "LOGINDISABLED" not in greeting
    await c.close()

    dv.reconfigure("plaintext_refused")
    assert (dv.address, dv.users, dv.setup) == (address, users, "plaintext_refused")
    c, greeting = await imap_greeting(dv)
    assert "LOGINDISABLED" in greeting
    reply = await c.imap("a1", f'LOGIN "{dv.user.name}" "{dv.user.password}"')
    assert reply[-1].startswith("a1 NO [PRIVACYREQUIRED]"), reply
    await c.close()


async def test_serves_the_given_certificate(dovecot_factory, tmp_path: Path) -> None:
    from scanner import certgen

    ca = certgen.make_ca("harness test CA")
    leaf = ca.issue(["given.mailprobe.test"])
    cert, key = leaf.write(tmp_path, "given")
    dv = dovecot_factory("plaintext_refused", cert_path=cert, key_path=key)
    ctx = ssl.create_default_context(cadata=ca.cert_der)
    c = await Client.connect(dv.address, dv.ports.imaps, tls=True)
    served = c.writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    await c.close()
    assert served == leaf.cert_der

    # a client that trusts only this CA verifies the served certificate under its name
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(
            dv.address, dv.ports.pop3s, local_addr=(CLIENT_ADDRESS, 0), ssl=ctx,
            server_hostname="given.mailprobe.test",
        ),
        TIMEOUT,
    )  # fmt: skip
    assert (await asyncio.wait_for(reader.readline(), TIMEOUT)).startswith(b"+OK")
    writer.close()


async def test_parallel_instances_use_distinct_addresses(dovecot_factory) -> None:
    a, b = dovecot_factory("plaintext_refused"), dovecot_factory("ssl_no")
    assert a.address != b.address
    _, ga = await imap_greeting(a)
    _, gb = await imap_greeting(b)
    assert "LOGINDISABLED" in ga and "STARTTLS" not in gb


def test_close_leaves_no_process_and_frees_ports(dovecot_factory) -> None:
    dv = dovecot_factory("plaintext_refused")
    pgid = dv.pid
    assert pgid is not None and all(_listening(dv.address, p) for p in dv.ports.all())
    dv.close()
    assert not Path(f"/proc/{pgid}").exists()
    assert dv._group_members(pgid) == []
    assert not any(_listening(dv.address, p) for p in dv.ports.all())
    assert not dv.root.exists()


def test_start_waits_for_extra_ports_and_fails_when_one_never_listens() -> None:
    dovecot.require_dovecot()
    # 2525 is in no Dovecot configuration of ours: start() must give up on it, saying which ports it waited for.
    instance = DovecotInstance("plaintext_refused", extra_ports=(2525,))
    try:
        with pytest.raises(dovecot.DovecotError, match="2525"):
            instance.start(timeout=2.0)
        assert not instance.running
    finally:
        instance.close()


def test_missing_dovecot_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dovecot, "dovecot_binary", lambda: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="not installed"):
        dovecot.require_dovecot()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        dovecot.require_dovecot()
