"""confirm_configuration against real OpenSSL servers: a server set up as the one enumerated confirms it with a few
hellos; a server that differs in any way the judgement depends on (one more suite, version or group, another order,
another DH prime) does not, and is left to a full enumeration."""

from __future__ import annotations

import ssl
import subprocess
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from scanner.certgen import Issued, make_ca
from scanner.model import TlsConfiguration
from scanner.tls.confirm import confirm_configuration
from scanner.tls.enumerate import enumerate_tls
from scanner.verdicts.tls_profile import deviating_offers
from tests.tls.helpers import echo, serve
from tests.tls.test_enumerate import FAST, front

Setup = Callable[[ssl.SSLContext], None]


@pytest.fixture(scope="module")
def leaf() -> Issued:
    return make_ca("confirmation test CA").issue(["imap.example.test"])


def _context(leaf: Issued, directory: Path, setup: Setup) -> ssl.SSLContext:
    cert, key = leaf.write(directory, "server")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    setup(ctx)
    return ctx


def intermediate(ctx: ssl.SSLContext) -> None:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305")
    ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE


async def _enumerated(leaf: Issued, tmp_path: Path, setup: Setup) -> TlsConfiguration:
    async with serve(echo, ctx=_context(leaf, tmp_path, setup)) as backend, front(backend) as f:
        config = await enumerate_tls(f.opener(), server_name=None, limits=FAST)
    assert config.untested == ()
    return config


async def _confirmed(
    leaf: Issued, tmp_path: Path, setup: Setup, known: TlsConfiguration
) -> tuple[TlsConfiguration | None, int]:
    async with serve(echo, ctx=_context(leaf, tmp_path, setup)) as backend, front(backend) as f:
        confirmed = await confirm_configuration(f.opener(), known, server_name=None, limits=FAST)
    return confirmed, f.connections


async def test_a_server_with_the_same_configuration_confirms_it_with_few_hellos(leaf: Issued, tmp_path: Path) -> None:
    known = await _enumerated(leaf, tmp_path, intermediate)
    confirmed, connections = await _confirmed(leaf, tmp_path / "other", intermediate, known)
    assert confirmed is not None
    ignore = {"handshakes", "duration_ms"}
    assert {k: v for k, v in vars(confirmed).items() if k not in ignore} == {
        k: v for k, v in vars(known).items() if k not in ignore
    }
    assert confirmed.handshakes == connections  # the cost reported is this server's own
    assert confirmed.handshakes < known.handshakes / 2, (confirmed.handshakes, known.handshakes)


def _one_more_suite(ctx: ssl.SSLContext) -> None:
    intermediate(ctx)
    ctx.set_ciphers(
        "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-SHA"
    )


def _client_order(ctx: ssl.SSLContext) -> None:
    intermediate(ctx)
    ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE


def _another_first_suite(ctx: ssl.SSLContext) -> None:
    intermediate(ctx)
    ctx.set_ciphers("ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305")


def _other_groups(ctx: ssl.SSLContext) -> None:
    intermediate(ctx)
    ctx.set_ecdh_curve("secp521r1")  # one curve; the known server had OpenSSL's list, X25519 first


def _tls12_only(ctx: ssl.SSLContext) -> None:
    intermediate(ctx)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2


def _tls11_too(ctx: ssl.SSLContext) -> None:
    _one_more_suite(ctx)  # a CBC suite: TLS 1.1 has no GCM
    try:
        ctx.set_ciphers(
            "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-SHA"
            ":@SECLEVEL=0"
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_1
    except (ValueError, ssl.SSLError) as exc:
        pytest.skip(f"the local OpenSSL will not serve TLS 1.1: {exc}")


@pytest.mark.parametrize(
    "differs",
    [_one_more_suite, _client_order, _another_first_suite, _other_groups, _tls12_only],
    ids=lambda f: f.__name__.strip("_"),
)
async def test_a_server_that_differs_does_not_confirm(leaf: Issued, tmp_path: Path, differs: Setup) -> None:
    known = await _enumerated(leaf, tmp_path, intermediate)
    confirmed, _ = await _confirmed(leaf, tmp_path / "other", differs, known)
    assert confirmed is None


async def test_a_server_that_accepts_an_older_version_does_not_confirm(leaf: Issued, tmp_path: Path) -> None:
    known = await _enumerated(leaf, tmp_path, _one_more_suite)
    assert "TLSv1.1" not in known.versions
    assert "TLSv1.1" in (await _enumerated(leaf, tmp_path / "in-full", _tls11_too)).versions
    confirmed, _ = await _confirmed(leaf, tmp_path / "other", _tls11_too, known)
    assert confirmed is None


def _without_chacha(ctx: ssl.SSLContext) -> None:
    intermediate(ctx)
    ctx.set_ciphers("ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384")


async def test_a_server_with_fewer_suites_inside_every_profile_confirms_with_the_same_judgement(
    leaf: Issued, tmp_path: Path
) -> None:
    """What a confirmation cannot see: a known suite this server lacks. Where that suite is one every profile allows,
    the judgement is the same; the listing errs towards more than is accepted, never less."""
    known = await _enumerated(leaf, tmp_path, intermediate)
    offers = deviating_offers(known)  # what makes it miss modern (TLS 1.2, OpenSSL's extra groups): kept here too
    async with serve(echo, ctx=_context(leaf, tmp_path / "other", _without_chacha)) as backend, front(backend) as f:
        confirmed = await confirm_configuration(f.opener(), known, server_name=None, must_accept=offers, limits=FAST)
    assert confirmed is not None and confirmed.suites == known.suites


async def test_a_server_without_what_made_the_known_one_fail_does_not_confirm(leaf: Issued, tmp_path: Path) -> None:
    """A pool where one server was hardened: enumerated second, it must not take the other's failing judgement."""
    known = await _enumerated(leaf, tmp_path, _one_more_suite)  # a CBC suite: outside intermediate
    offers = deviating_offers(known)
    assert ("TLSv1.2", ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",)) in offers
    ctx = _context(leaf, tmp_path / "other", intermediate)
    async with serve(echo, ctx=ctx) as backend, front(backend) as f:
        without = await confirm_configuration(f.opener(), known, server_name=None, limits=FAST)
        assert without is not None  # nothing outside the known ones: only the offers tell the difference
        confirmed = await confirm_configuration(f.opener(), known, server_name=None, must_accept=offers, limits=FAST)
    assert confirmed is None
    async with serve(echo, ctx=_context(leaf, tmp_path / "twin", _one_more_suite)) as backend, front(backend) as f:
        twin = await confirm_configuration(f.opener(), known, server_name=None, must_accept=offers, limits=FAST)
    assert twin is not None


async def test_a_server_that_stops_answering_is_not_confirmed(leaf: Issued, tmp_path: Path) -> None:
    known = await _enumerated(leaf, tmp_path, intermediate)
    ctx = _context(leaf, tmp_path / "other", intermediate)
    async with serve(echo, ctx=ctx) as backend, front(backend, set(range(2, 100))) as f:
        confirmed = await confirm_configuration(f.opener(), known, server_name=None, limits=FAST)
    assert confirmed is None
    assert f.connections <= 1 + FAST.retries + 1  # one hello, then the refused ones: no storm


@pytest.fixture(scope="module")
def dh_params(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """DH parameters of two sizes (DSA-style, made in a fraction of a second: the test needs sizes, not safety)."""
    directory = tmp_path_factory.mktemp("dh")
    made = {}
    for bits in (1024, 2048):
        path = directory / f"dh{bits}.pem"
        subprocess.run(
            ["openssl", "dhparam", "-dsaparam", "-out", str(path), str(bits)], check=True, capture_output=True
        )
        made[bits] = path
    return made


def _client_order_dhe(dh: Path) -> Setup:
    """A server that follows the client's order (Dovecot's default), with ECDHE and DHE suites, one of them CBC
    (outside intermediate), and DH parameters of its own."""

    def setup(ctx: ssl.SSLContext) -> None:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(
            "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES128-SHA"
            ":@SECLEVEL=0"  # 1024-bit DH too
        )
        ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
        ctx.load_dh_params(dh)

    return setup


async def test_a_server_with_another_dh_prime_does_not_confirm(
    leaf: Issued, tmp_path: Path, dh_params: dict[int, Path]
) -> None:
    known = await _enumerated(leaf, tmp_path, _client_order_dhe(dh_params[2048]))
    assert known.dh_bits == 2048
    offers = deviating_offers(known)
    for bits, confirms in ((2048, True), (1024, False)):
        ctx = _context(leaf, tmp_path / f"dh{bits}", _client_order_dhe(dh_params[bits]))
        async with serve(echo, ctx=ctx) as backend, front(backend) as f:
            confirmed = await confirm_configuration(
                f.opener(), known, server_name=None, must_accept=offers, limits=FAST
            )
        assert (confirmed is not None) is confirms, bits


async def test_a_server_following_our_order_shows_the_dh_prime_and_its_deviations_in_the_order_hello(
    leaf: Issued, tmp_path: Path, dh_params: dict[int, Path]
) -> None:
    """The hello that tells whether the server imposes its order leads with a DHE suite outside the profile: a server
    that follows ours answers it with that suite, which shows its DH prime and that it still takes what made the
    known one fail. Neither costs a handshake of its own (a DHE one is the dearest for the server)."""
    setup = _client_order_dhe(dh_params[2048])
    known = await _enumerated(leaf, tmp_path, setup)
    offers = deviating_offers(known)
    assert any(kind == "TLSv1.2" for kind, _ in offers)
    async with serve(echo, ctx=_context(leaf, tmp_path / "twin", setup)) as backend, front(backend) as f:
        bare = await confirm_configuration(f.opener(), known, server_name=None, limits=FAST)
        asked = await confirm_configuration(f.opener(), known, server_name=None, must_accept=offers, limits=FAST)
    assert bare is not None and asked is not None
    suite_offers = sum(1 for kind, _ in offers if kind != "groups")
    group_offers = len(offers) - suite_offers
    assert asked.handshakes <= bare.handshakes + group_offers, (asked.handshakes, bare.handshakes, offers)


def _with(extra_suite: str | None = None, *, server_order: bool = False) -> Callable[[Path], Setup]:
    def made(dh: Path) -> Setup:
        base = _client_order_dhe(dh)

        def setup(ctx: ssl.SSLContext) -> None:
            base(ctx)
            if extra_suite:
                ctx.set_ciphers(
                    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES128-SHA"
                    f":{extra_suite}:@SECLEVEL=0"
                )
            if server_order:
                ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE

        return setup

    return made


@pytest.mark.parametrize(
    "differs",
    [_with("ECDHE-RSA-AES256-SHA"), _with("AES128-GCM-SHA256"), _with(server_order=True)],
    ids=["one-more-ecdhe-suite", "one-more-rsa-suite", "imposes-its-order"],
)
async def test_a_server_that_differs_from_one_following_our_order_does_not_confirm(
    leaf: Issued, tmp_path: Path, dh_params: dict[int, Path], differs: Callable[[Path], Setup]
) -> None:
    """Against a known server that follows the client's order, the suites outside the known ones ride in the hello
    that checks the order: one more suite, of any kind, or a server imposing its own order, is still caught."""
    known = await _enumerated(leaf, tmp_path, _client_order_dhe(dh_params[2048]))
    offers = deviating_offers(known)
    ctx = _context(leaf, tmp_path / "other", differs(dh_params[2048]))
    async with serve(echo, ctx=ctx) as backend, front(backend) as f:
        confirmed = await confirm_configuration(f.opener(), known, server_name=None, must_accept=offers, limits=FAST)
    assert confirmed is None


async def test_a_pool_of_servers_putting_chacha20_first_for_clients_that_do_confirms(
    leaf: Issued, tmp_path: Path
) -> None:
    """Servers imposing their order with OpenSSL's PRIORITIZE_CHACHA: the enumeration reads the order as theirs, and
    a twin confirms, since no hello of the confirmation leads with ChaCha20 (which such a server would take against
    its own order)."""

    def setup(ctx: ssl.SSLContext) -> None:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers("ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305")
        ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE | 0x00200000  # SSL_OP_PRIORITIZE_CHACHA

    known = await _enumerated(leaf, tmp_path, setup)
    assert known.suites[0].server_order is True
    confirmed, _ = await _confirmed(leaf, tmp_path / "twin", setup, known)
    assert confirmed is not None
