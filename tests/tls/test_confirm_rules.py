"""Enumeration and confirmation against a server answering by rules (tests/tls/rule_server.py): the differences
OpenSSL will not be set up to show (TLS_FALLBACK_SCSV ignored, no RFC 5746 or RFC 7627, TLS compression) keep a
server from confirming another's configuration, as the others do against real OpenSSL (test_confirm.py)."""

from __future__ import annotations

import dataclasses

import pytest

from scanner.model import TlsConfiguration
from scanner.tls.confirm import confirm_configuration
from scanner.tls.enumerate import enumerate_tls
from scanner.verdicts.tls_profile import deviating_offers
from tests.tls.rule_server import Rules, rule_server
from tests.tls.test_enumerate import FAST

POOL = Rules(
    suites={
        "TLSv1.3": ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"),
        "TLSv1.2": (
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
        ),
    },
    groups=("x25519", "secp256r1", "secp521r1"),
)


async def _enumerated(rules: Rules) -> TlsConfiguration:
    async with rule_server(rules) as server:
        config = await enumerate_tls(server.open, server_name=None, limits=FAST)
    assert config.untested == ()
    return config


async def _confirmed(known: TlsConfiguration, rules: Rules) -> TlsConfiguration | None:
    async with rule_server(rules) as server:
        return await confirm_configuration(
            server.open, known, server_name=None, must_accept=deviating_offers(known), limits=FAST
        )


@pytest.mark.parametrize("server_order", [True, False], ids=["imposes-its-order", "follows-ours"])
async def test_the_enumeration_reads_the_rules_back_and_a_twin_confirms(server_order: bool) -> None:
    rules = dataclasses.replace(POOL, server_order=server_order)
    known = await _enumerated(rules)
    assert known.versions == ("TLSv1.2", "TLSv1.3")
    by_version = {vs.version: vs for vs in known.suites}
    assert set(by_version["TLSv1.2"].suites) == set(POOL.suites["TLSv1.2"])
    if server_order:
        assert by_version["TLSv1.2"].suites == POOL.suites["TLSv1.2"] and by_version["TLSv1.2"].server_order
    assert set(known.groups) == set(POOL.groups) and known.dh_bits == 2048 and known.dh_group == "custom"
    assert (known.fallback_scsv, known.secure_renegotiation, known.extended_master_secret, known.compression) == (
        True,
        True,
        True,
        False,
    )
    confirmed = await _confirmed(known, rules)
    assert confirmed is not None and confirmed.handshakes < known.handshakes


@pytest.mark.parametrize("server_order", [True, False], ids=["imposes-its-order", "follows-ours"])
@pytest.mark.parametrize(
    "change",
    [
        {"fallback_scsv": False},
        {"secure_renegotiation": False},
        {"extended_master_secret": False},
        {"compression": True},
        {"dh_prime": (1 << 1023) + 0x1F},
        {"suites": {**POOL.suites, "TLSv1": ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",)}},
        {"groups": (*POOL.groups, "secp384r1")},
    ],
    ids=[
        "fallback-scsv-ignored",
        "no-rfc5746",
        "no-rfc7627",
        "compression",
        "1024-bit-dh",
        "tls10-too",
        "one-more-group",
    ],
)
async def test_a_server_differing_in_any_of_these_does_not_confirm(server_order: bool, change: dict) -> None:  # type: ignore[type-arg]
    rules = dataclasses.replace(POOL, server_order=server_order)
    known = await _enumerated(rules)
    assert await _confirmed(known, dataclasses.replace(rules, **change)) is None
