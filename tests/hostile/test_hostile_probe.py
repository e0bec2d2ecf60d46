"""The probe against hostile servers: each gets a right row, within its deadline, and clean output everywhere.

"Bounded time" here is a deadline, not a speed claim: a probe must end well before the endpoint's cap, because its
replies are bounded by the reply timeout however the server meters its bytes.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import warnings
from pathlib import Path

import pytest

from scanner.certgen import Issued, make_ca
from scanner.model import Endpoint, EndpointResult
from scanner.probe import conversation as probe_module
from scanner.probe.conversation import probe_endpoint
from scanner.probe.options import ProbeOptions
from scanner.tls.legacy import local_support
from tests.hostile.channels import PAYLOAD, assert_every_channel_clean
from tests.hostile.servers import Handler, hold, imap_tag, imap_verb, line, reset, say, serve

OPTIONS = ProbeOptions(
    read_timeout=1.0, login_timeout=1.0, tls_timeout=2.0, connect_timeout=2.0, endpoint_timeout=30.0,
    legacy_tls=False,
)  # fmt: skip
# Far below the cap: what a probe bounded by its reply deadlines needs on a loaded machine, with a wide margin.
WELL_BEFORE_CAP = 15.0


async def run_probe(
    port: int, protocol: str = "imap", transport: str = "starttls", options: ProbeOptions = OPTIONS
) -> tuple[EndpointResult, float]:
    endpoint = Endpoint("127.0.0.1", "127.0.0.1", port, protocol, transport)  # type: ignore[arg-type]
    started = time.monotonic()
    result = await probe_endpoint(endpoint, options)
    return result, time.monotonic() - started


def ids(result: EndpointResult) -> set[str]:
    return {f.id for f in result.findings}


def client_lines(result: EndpointResult) -> list[str]:
    return [t.text for t in result.transcript if t.direction == "C"]


# --- servers ---------------------------------------------------------------------------------------------------


def drip(data: bytes, interval: float) -> Handler:
    async def handler(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        for byte in data:
            w.write(bytes([byte]))
            await w.drain()
            await asyncio.sleep(interval)
        await asyncio.Event().wait()

    return handler


def imap(
    greeting: bytes = b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready",
    caps: bytes = b"IMAP4rev1 STARTTLS LOGINDISABLED",
    login: bytes = b"NO [PRIVACYREQUIRED] Plaintext authentication disallowed",
    on_starttls: Handler | None = None,
    on_capability: Handler | None = None,
    on_login: Handler | None = None,
) -> Handler:
    """A small IMAP server; each ``on_*`` takes over the connection at that command."""

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await say(w, greeting)
        while command := await line(r):
            tag, verb = imap_tag(command), imap_verb(command)
            if verb == b"CAPABILITY":
                if on_capability:
                    return await on_capability(r, w)
                await say(w, b"* CAPABILITY " + caps, tag + b" OK CAPABILITY completed")
            elif verb == b"STARTTLS":
                if on_starttls is None:
                    await say(w, tag + b" BAD STARTTLS not available")
                    continue
                await say(w, tag + b" OK Begin TLS negotiation now")
                return await on_starttls(r, w)
            elif verb in (b"LOGIN", b"AUTHENTICATE"):
                if on_login:
                    return await on_login(r, w)
                await say(w, tag + b" " + login)
            elif verb == b"LOGOUT":
                await say(w, b"* BYE", tag + b" OK LOGOUT completed")
                return
            else:
                await say(w, tag + b" BAD unknown command")

    return handler


async def endless_continuation(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    while True:
        await say(w, b"+ ")
        if not await line(r):
            return


async def endless_untagged(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    while True:
        await say(w, *([b"* OK [ALERT] still here"] * 200))
        await asyncio.sleep(0)


async def endless_line(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    w.write(b"* OK ")
    while True:
        w.write(b"A" * 65536)
        await w.drain()


async def garbage_after_ok(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    w.write(bytes(range(256)) * 4)
    await w.drain()
    await asyncio.Event().wait()


async def close_now(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    w.close()


async def reset_now(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    reset(w)


def banner(text: bytes) -> Handler:
    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(text)
        await w.drain()
        await line(r)

    return handler


def pop3(capa: tuple[bytes, ...] = (b"+OK", b"USER", b"."), stls: bytes = b"-ERR not here") -> Handler:
    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await say(w, b"+OK POP3 ready")
        while command := await line(r):
            verb = command.split()[0].upper() if command.split() else b""
            if verb == b"CAPA":
                await say(w, *capa)
            elif verb == b"USER":
                await say(w, b"+OK")
            elif verb == b"PASS":
                await say(w, b"-ERR [AUTH] Authentication failed.")
            elif verb == b"STLS":
                await say(w, stls)
            elif verb == b"QUIT":
                await say(w, b"+OK bye")
                return
            else:
                await say(w, b"-ERR unknown")

    return handler


# --- bounded, right rows ---------------------------------------------------------------------------------------

GREETING_FAILURES = [
    ("silence", hold, "no greeting within 1 s"),
    ("drip-feed greeting", drip(b"* OK " + b"A" * 400 + b"\r\n", 0.2), "no greeting within 1 s"),
    ("endless line", endless_line, "line too long"),
    ("garbage", banner(bytes(range(1, 256))), "not an IMAP greeting"),
    ("http on 143", banner(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"), "not an IMAP greeting"),
    ("ssh on 143", banner(b"SSH-2.0-OpenSSH_9.6\r\n"), "not an IMAP greeting"),
    ("smtp on 143", banner(b"220 mail.example.org ESMTP Postfix\r\n"), "not an IMAP greeting"),
    ("tls on 143", banner(bytes.fromhex("160303003102000031030300") + b"\x00" * 40), "not an IMAP greeting"),
    ("pop3 greeting on 143", banner(b"+OK POP3 ready\r\n"), "not an IMAP greeting"),
    ("close at once", close_now, "closed"),
    ("reset at once", reset_now, ""),
    ("bye greeting", banner(b"* BYE go away \x1b[2J\r\n"), "refused the session"),
]


@pytest.mark.parametrize(("name", "handler", "reason"), GREETING_FAILURES, ids=[c[0] for c in GREETING_FAILURES])
async def test_servers_that_never_give_a_usable_greeting(name: str, handler: Handler, reason: str) -> None:
    async with serve(handler) as srv:
        result, took = await run_probe(srv.port)
    assert result.state == "error", result
    assert reason in (result.error or ""), result.error
    assert result.plaintext_login.verdict == "not_tested"
    assert not result.findings  # nothing is judged about a service that never spoke
    assert took < WELL_BEFORE_CAP
    assert_every_channel_clean([result])


async def test_preauth_greeting_in_clear_is_judged_without_a_login() -> None:
    async with serve(imap(greeting=b"* PREAUTH [CAPABILITY IMAP4rev1] logged in as you")) as srv:
        result, took = await run_probe(srv.port)
    assert result.state == "open" and "preauth-in-clear" in ids(result)
    assert result.starttls == "failed" and "starttls-missing" not in ids(result)
    assert not any(c.startswith("a") and " LOGIN " in c for c in client_lines(result))  # nothing to log in to
    assert took < WELL_BEFORE_CAP


IMAP_TRAPS = [
    ("reply with another tag", b"* CAPABILITY IMAP4rev1\r\nz9 OK wrong tag\r\n"),
    ("literal larger than any reply", b"* CAPABILITY {999999999}\r\n"),
    ("line without an end", b"* CAPABILITY " + b"X" * 20000),
    ("binary in the reply", b"* CAPABILITY \x00\xff\xfe\r\n\x00\x00\x00\r\n"),
]


@pytest.mark.parametrize(("name", "reply"), IMAP_TRAPS, ids=[t[0] for t in IMAP_TRAPS])
async def test_imap_traps_in_the_capability_reply_end_in_an_error_row(name: str, reply: bytes) -> None:
    async def trap(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(reply)
        await w.drain()
        await asyncio.Event().wait()

    async with serve(imap(on_capability=trap)) as srv:
        result, took = await run_probe(srv.port)
    assert result.state == "error" and "capability" in (result.error or "")
    assert took < WELL_BEFORE_CAP
    assert_every_channel_clean([result])


async def test_pop3_err_greeting_is_a_refused_session() -> None:
    async def refuse(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await say(w, b"-ERR [SYS/TEMP] too busy \x1b[2J")

    async with serve(refuse) as srv:
        result, took = await run_probe(srv.port, protocol="pop3")
    assert result.state == "error" and "refused the session" in (result.error or "")
    assert took < WELL_BEFORE_CAP
    assert_every_channel_clean([result])


async def test_drip_fed_capability_reply_is_bounded_by_one_reply_deadline() -> None:
    caps = b"* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED " + b"X" * 300 + b"\r\na1 OK done\r\n"
    async with serve(imap(on_capability=drip(caps, 0.1))) as srv:
        result, took = await run_probe(srv.port)
    assert result.state == "error"
    assert "capability" in (result.error or "") and "within 1 s" in (result.error or "")
    assert took < WELL_BEFORE_CAP  # 35 s of dripping, cut at the reply deadline


async def test_flood_of_untagged_lines_is_a_protocol_error_not_a_hang() -> None:
    async with serve(imap(on_capability=endless_untagged)) as srv:
        result, took = await run_probe(srv.port)
    assert result.state == "error" and "more than" in (result.error or "")
    assert took < WELL_BEFORE_CAP


def sasl_forever(greeting: bytes, login_answer: bytes) -> Handler:
    """An IMAP server that answers AUTHENTICATE with ``+`` continuations for ever."""

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await say(w, greeting)
        while command := await line(r):
            tag, verb = imap_tag(command), imap_verb(command)
            if verb == b"AUTHENTICATE":
                return await endless_continuation(r, w)
            if verb == b"CAPABILITY":
                await say(w, b"* CAPABILITY IMAP4rev1 AUTH=PLAIN", tag + b" OK done")
            elif verb == b"LOGIN":
                await say(w, tag + b" " + login_answer)
            else:
                await say(w, tag + b" BAD no")

    return handler


async def test_endless_sasl_continuation_is_cancelled_once_and_the_probe_moves_on() -> None:
    server = sasl_forever(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready", b"NO [AUTHENTICATIONFAILED] failed.")
    async with serve(server) as srv:
        result, took = await run_probe(srv.port)
    assert result.state == "open"
    assert client_lines(result).count("*") == 1  # the one cancel, then the exchange is over
    assert any("AUTHENTICATE PLAIN in clear: ERROR" in e for e in result.plaintext_login.evidence)
    assert result.starttls == "not_offered"  # the probe went on to the TLS half and asked
    assert took < WELL_BEFORE_CAP


async def test_pop3_one_line_capa_means_no_capabilities_and_user_pass_is_still_tried() -> None:
    async with serve(pop3(capa=(b"+OK",))) as srv:
        result, took = await run_probe(srv.port, protocol="pop3")
    assert result.state == "open", result.error
    assert result.capabilities.before_tls == ()
    assert any(c.startswith("USER mailprobe-") for c in client_lines(result))
    assert any(c.startswith("PASS ") for c in client_lines(result))
    assert result.plaintext_login.verdict != "not_tested"
    assert result.starttls == "not_offered"
    assert took < WELL_BEFORE_CAP


async def test_pop3_capa_body_that_never_ends_is_bounded() -> None:
    async with serve(pop3(capa=(b"+OK", b"USER", *([b"X-JUNK"] * 2000)))) as srv:
        result, took = await run_probe(srv.port, protocol="pop3")
    assert result.state == "error" and "more than" in (result.error or "")
    assert took < WELL_BEFORE_CAP


async def test_probe_cut_short_by_the_cap_invents_nothing_about_starttls() -> None:
    options = ProbeOptions(read_timeout=1.0, login_timeout=60.0, tls_timeout=2.0, endpoint_timeout=2.5,
                           legacy_tls=False)  # fmt: skip
    async with serve(imap(on_login=hold)) as srv:
        result, took = await run_probe(srv.port, options=options)
    assert result.state == "open"
    assert result.starttls == "not_tested"
    assert "starttls-missing" not in ids(result) and "starttls-failed" not in ids(result)
    incomplete = next(f for f in result.findings if f.id == "probe-incomplete")
    assert "STARTTLS was not tried" in incomplete.detail
    assert "longer than 2.5 s" in (result.error or "")
    assert took < options.endpoint_timeout + 5
    assert_every_channel_clean([result])


# --- TLS: broken upgrades, legacy-only servers, failed analysis ---------------------------------------------------


@pytest.fixture(scope="module")
def leaf() -> Issued:
    return make_ca("hostile suite CA").issue(["localhost"])


def server_context(leaf: Issued, tmp_path: Path, legacy_only: bool = False) -> ssl.SSLContext:
    cert, key = leaf.write(tmp_path, "server")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if legacy_only:
        ctx.set_ciphers("ALL:@SECLEVEL=0")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0 is deprecated: that is the point
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1
    ctx.load_cert_chain(cert, key)
    return ctx


def upgrade_then(ctx: ssl.SSLContext, after: Handler) -> Handler:
    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await w.start_tls(ctx)
        await after(r, w)

    return handler


def imap_over_tls(login: bytes) -> Handler:
    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        while command := await line(r):
            tag, verb = imap_tag(command), imap_verb(command)
            if verb == b"CAPABILITY":
                await say(w, b"* CAPABILITY IMAP4rev1 AUTH=PLAIN", tag + b" OK done")
            elif verb == b"LOGIN":
                await say(w, tag + b" " + login)
            else:
                await say(w, tag + b" OK")

    return handler


BROKEN_UPGRADES = [
    ("garbage instead of a handshake", garbage_after_ok),
    ("close after the OK", close_now),
    ("reset after the OK", reset_now),
    ("silence after the OK", hold),
]


@pytest.mark.parametrize(("name", "after_ok"), BROKEN_UPGRADES, ids=[c[0] for c in BROKEN_UPGRADES])
async def test_broken_starttls_is_a_failed_upgrade_and_the_clear_verdict_stands(name: str, after_ok: Handler) -> None:
    async with serve(imap(on_starttls=after_ok)) as srv:
        result, took = await run_probe(srv.port)
    assert result.state == "open"
    assert result.starttls == "failed"
    assert "starttls-failed" in ids(result)
    assert result.plaintext_login.verdict == "refused"  # PRIVACYREQUIRED in clear decides
    assert took < WELL_BEFORE_CAP
    assert_every_channel_clean([result])


def _tls10_or_skip() -> None:
    if local_support("TLSv1") is not None:
        pytest.skip(f"the local OpenSSL cannot offer TLS 1.0: {local_support('TLSv1')}")


async def test_tls10_only_implicit_server_is_judged_not_failed(leaf: Issued, tmp_path: Path) -> None:
    _tls10_or_skip()
    try:
        ctx = server_context(leaf, tmp_path, legacy_only=True)
    except (ssl.SSLError, ValueError) as exc:
        pytest.skip(f"the local OpenSSL will not serve TLS 1.0: {exc}")

    async def implicit(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await say(w, b"* OK ready")
        await imap_over_tls(b"NO [AUTHENTICATIONFAILED] no")(r, w)

    async with serve(implicit, ssl_context=ctx) as srv:
        result, took = await run_probe(srv.port, transport="implicit")
    assert result.state == "open", result.error
    assert result.tls is not None and result.tls.version == "TLSv1"
    assert result.tls.certificate is not None and "localhost" in result.tls.certificate.sans
    assert "tls-legacy-version" in ids(result)
    assert took < WELL_BEFORE_CAP


async def test_tls10_only_starttls_server_is_upgraded_and_judged(leaf: Issued, tmp_path: Path) -> None:
    _tls10_or_skip()
    try:
        ctx = server_context(leaf, tmp_path, legacy_only=True)
    except (ssl.SSLError, ValueError) as exc:
        pytest.skip(f"the local OpenSSL will not serve TLS 1.0: {exc}")
    server = imap(on_starttls=upgrade_then(ctx, imap_over_tls(b"NO [AUTHENTICATIONFAILED] no")))
    async with serve(server) as srv:
        result, _ = await run_probe(srv.port)
    assert result.starttls == "ok", result.transcript
    assert result.tls is not None and result.tls.version == "TLSv1"
    assert "tls-legacy-version" in ids(result) and "starttls-failed" not in ids(result)
    assert result.plaintext_login.verdict == "refused"


async def test_a_failing_tls_analysis_never_erases_the_plaintext_verdict(
    leaf: Issued, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken_analysis(*_args: object, **_kwargs: object) -> None:
        raise ValueError("unsupported key type in an intermediate")

    monkeypatch.setattr(probe_module, "inspect_tls", broken_analysis)
    ctx = server_context(leaf, tmp_path)
    server = imap(
        greeting=b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready",
        caps=b"IMAP4rev1 STARTTLS",
        login=b"OK LOGIN completed",
        on_starttls=upgrade_then(ctx, imap_over_tls(b"OK LOGIN completed")),
    )
    async with serve(server) as srv:
        result, _ = await run_probe(srv.port)
    assert result.state == "open" and result.error is None
    assert result.plaintext_login.verdict == "accepted"
    assert {"plaintext-login-accepted", "tls-analysis-failed"} <= ids(result)
    assert result.tls is not None and result.tls.version  # the handshake facts stand
    assert "internal error" not in (result.error or "")


# --- payloads in every field, probed for real -------------------------------------------------------------------


async def test_hostile_text_from_a_real_conversation_reaches_no_channel_raw() -> None:
    evil = PAYLOAD.replace("\r", "").replace("\n", "").encode()
    server = imap(
        greeting=b"* OK [CAPABILITY IMAP4rev1 STARTTLS " + evil + b"] " + evil,
        caps=b"IMAP4rev1 STARTTLS X-" + evil,
        login=b"OK [" + evil + b'] =HYPERLINK("http://evil.example/") welcome',
    )
    async with serve(server) as srv:
        result, _ = await run_probe(srv.port)
    assert result.state == "open"
    assert result.plaintext_login.verdict == "accepted"  # the server's words never change mailprobe's verdict
    assert result.greeting is not None and "\x1b" in result.greeting  # the record keeps the exact text
    assert_every_channel_clean([result])


# --- a scan of hundreds of hostile endpoints with tarpits ----------------------------------------------------------

SCAN_KINDS: list[tuple[str, Handler, str, set[str]]] = [
    ("tarpit", hold, "imap", {"error"}),
    ("drip", drip(b"* OK " + b"A" * 400 + b"\r\n", 0.2), "imap", {"error"}),
    ("endless line", endless_line, "imap", {"error"}),
    ("garbage", banner(bytes(range(1, 256))), "imap", {"error"}),
    ("http", banner(b"HTTP/1.1 400 Bad Request\r\n\r\n"), "imap", {"error"}),
    ("reset", reset_now, "imap", {"error"}),
    ("login tarpit", imap(on_login=hold), "imap", {"open"}),
    ("broken starttls", imap(on_starttls=garbage_after_ok), "imap", {"open"}),
    ("pop3 one-line capa", pop3(capa=(b"+OK",)), "pop3", {"open"}),
    ("hostile words", imap(greeting=b"* OK [CAPABILITY IMAP4rev1 STARTTLS] " + PAYLOAD.encode()[:60]), "imap",
     {"open"}),
]  # fmt: skip
SCAN_ADDRESSES = [f"127.0.9.{i}" for i in range(1, 31)]  # all of 127/8 is loopback


async def test_a_scan_of_300_hostile_endpoints_finishes_with_every_row_within_its_deadline() -> None:
    from contextlib import AsyncExitStack

    from scanner.scan.scheduler import Scan

    options = ProbeOptions(read_timeout=1.0, login_timeout=1.0, tls_timeout=1.0, connect_timeout=2.0,
                           endpoint_timeout=6.0, legacy_tls=False)  # fmt: skip
    async with AsyncExitStack() as stack:
        kinds: dict[int, tuple[str, set[str]]] = {}
        endpoints = []
        for name, handler, protocol, states in SCAN_KINDS:
            srv = await stack.enter_async_context(serve(handler, hosts=SCAN_ADDRESSES))
            kinds[srv.port] = (name, states)
            endpoints += [Endpoint(a, a, srv.port, protocol, "starttls") for a in SCAN_ADDRESSES]  # type: ignore[arg-type]
        scan = Scan(endpoints, options, concurrency=128, per_host=2)
        results = [r async for r in scan.results()]
    assert sorted(r.key for r in results) == sorted(e.key for e in endpoints)  # every row, once
    for r in results:
        name, states = kinds[r.port]
        assert r.state in states, (name, r.state, r.error)
        # the cap, plus the bounded close of a connection cut by it (at most 2 s), plus slack for a loaded machine (a
        # machine at load 30 or more, 3 s of slack was not enough); a row past the cap by more is a deadline not kept
        assert r.duration_ms <= (options.endpoint_timeout + 6.0) * 1000, (name, r.duration_ms)
        assert "internal error" not in (r.error or ""), (name, r.error)
    assert_every_channel_clean(results)


# --- hostile certificates made at run time, over a real handshake -----------------------------------------------

_V3 = bytes.fromhex("a003020102")


def _negative_serial(tbs: bytes) -> bytes:
    at = tbs.index(_V3) + len(_V3)
    return tbs[: at + 2] + b"\x80" + tbs[at + 3 :]  # negative and still DER (as in tests/tls/test_hostile_certificates)


def hostile_chain(kind: str) -> tuple[list[bytes], bytes]:
    """(chain as DER, leaf key PEM) for one kind of certificate a hostile server may present."""
    from scanner.certgen import tampered

    root = make_ca("hostile probe root")
    issuing = make_ca("hostile probe issuing", parent=root)
    if kind == "ip-only SANs":
        issued = issuing.issue([], ip_addresses=["127.0.0.1"])
    elif kind == "first SAN not a host name":
        issued = issuing.issue(["mail_1.corp", "localhost"])
    else:
        issued = issuing.issue(["localhost"])
    chain = list(issued.chain_der)
    if kind == "negative serial":
        chain[0] = tampered(chain[0], issuing.key, _negative_serial)
    elif kind == "version out of range":
        chain[0] = tampered(chain[0], issuing.key, lambda tbs: tbs.replace(_V3, bytes.fromhex("a003020105"), 1))
    return chain, issued.key_pem


# (An intermediate with an unknown key type cannot be served by OpenSSL's server side at all: that one is covered
# by the analysis tests in tests/tls/test_hostile_certificates.py.)
HOSTILE_CERTIFICATES = ["negative serial", "version out of range", "ip-only SANs", "first SAN not a host name"]


@pytest.mark.parametrize("kind", HOSTILE_CERTIFICATES)
async def test_a_hostile_certificate_never_erases_the_plaintext_verdict(kind: str, tmp_path: Path) -> None:
    chain, key_pem = hostile_chain(kind)
    cert_path, key_path = tmp_path / "chain.pem", tmp_path / "key.pem"
    cert_path.write_text("".join(ssl.DER_cert_to_PEM_cert(der) for der in chain))
    key_path.write_bytes(key_pem)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(cert_path, key_path)
    except ssl.SSLError as exc:
        pytest.skip(f"the local OpenSSL will not serve this chain: {exc}")
    server = imap(
        greeting=b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready",
        caps=b"IMAP4rev1 STARTTLS",
        login=b"OK LOGIN completed",
        on_starttls=upgrade_then(ctx, imap_over_tls(b"OK LOGIN completed")),
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with serve(server) as srv:
            result, _ = await run_probe(srv.port)
    assert not [w for w in caught if "cryptography" in str(w.filename) or "serial" in str(w.message)], caught
    assert result.state == "open" and "internal error" not in (result.error or "")
    assert result.plaintext_login.verdict == "accepted"
    assert "plaintext-login-accepted" in ids(result)
    assert result.starttls == "ok"
    assert result.tls is not None and result.tls.certificate is not None  # judged on what can be read
    assert_every_channel_clean([result])


async def test_a_login_answer_cannot_forge_more_evidence() -> None:
    forged = b'NO x" after 1 ms; LOGIN over TLS: OK "fine'
    async with serve(imap(greeting=b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready", caps=b"IMAP4rev1 STARTTLS",
                          login=forged)) as srv:  # fmt: skip
        result, _ = await run_probe(srv.port)
    said = next(e for e in result.plaintext_login.evidence if e.startswith("LOGIN in clear: NO"))
    assert '\\" after 1 ms; LOGIN over TLS: OK \\"fine"' in said  # the server's quotes stay inside its quotation
    assert not any(e.startswith("LOGIN over TLS: OK") for e in result.plaintext_login.evidence)
