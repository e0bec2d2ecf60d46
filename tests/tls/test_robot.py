"""ROBOT: the premasters and records by their bytes, the verdict from reaction sets (hostile bytes included), and the
check through the scanner's own TLS inspection against loopback servers that really decrypt the premaster."""

from __future__ import annotations

import random
import struct

import pytest

from scanner.certgen import Issued, make_ca
from scanner.model import Endpoint, EndpointResult, Finding, TlsConfiguration, VersionSuites, configuration_from_dict
from scanner.model import configuration_to_dict as to_dict
from scanner.probe.options import ProbeOptions
from scanner.probe.tls_inspect import inspect_tls
from scanner.scan.tls_share import TlsShare
from scanner.tls.channel import HandshakeInfo
from scanner.tls.enumerate import EnumerationLimits
from scanner.tls.robot import (
    MISPLACED_ZERO,
    NO_SEPARATOR,
    VARIANTS,
    WELL_FORMED,
    WRONG_FIRST_BYTES,
    WRONG_VERSION,
    RsaFlight,
    applicability,
    client_flight,
    encrypt,
    needs_second_round,
    premaster_plaintexts,
    public_key,
    reaction_at_eof,
    reaction_of,
    verdict,
)
from scanner.tls.robot_probe import check_robot
from tests.tls.robot_server import Behaviour, RobotServer, conformant, decrypt, private_numbers, robot_server
from tests.tls.rule_server import Rules, rule_server

NAME = "imap.example.test"
RSA_RULES = Rules(
    suites={
        "TLSv1.2": (
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_RSA_WITH_AES_256_CBC_SHA",
        )
    }
)
NO_RSA_RULES = Rules(suites={"TLSv1.2": ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",)})


@pytest.fixture(scope="module")
def issued() -> Issued:
    return make_ca("robot test CA").issue([NAME])


# --- the premasters, decrypted with the private key -----------------------------------------------------------------


def test_the_five_premasters_decrypt_to_the_paddings_they_are_named_for(issued: Issued) -> None:
    n, d = private_numbers(issued)
    key = public_key(issued.cert_der)
    assert key is not None and key[0] == n
    size = (n.bit_length() + 7) // 8
    blocks = {v: decrypt(encrypt(b, *key), n, d) for v, b in premaster_plaintexts(size, "TLSv1.2", n).items()}
    assert set(blocks) == set(VARIANTS) and all(len(b) == size for b in blocks.values())
    separator = size - 48 - 1  # where a 48-byte premaster's 0x00 goes

    good = blocks[WELL_FORMED]
    assert good[:2] == b"\x00\x02" and 0 not in good[2:separator] and good[separator] == 0
    assert good[separator + 1 : separator + 3] == b"\x03\x03" and conformant(good)

    wrong_first = blocks[WRONG_FIRST_BYTES]
    assert wrong_first[:2] != b"\x00\x02" and wrong_first[2:] == good[2:] and not conformant(wrong_first)

    misplaced = blocks[MISPLACED_ZERO]
    assert misplaced[:2] == b"\x00\x02" and misplaced.index(0, 2) == size - 2 and not conformant(misplaced)

    no_separator = blocks[NO_SEPARATOR]
    assert no_separator[:2] == b"\x00\x02" and 0 not in no_separator[2:] and not conformant(no_separator)

    wrong_version = blocks[WRONG_VERSION]
    assert conformant(wrong_version) and wrong_version[separator + 1 : separator + 3] == b"\x02\x02"
    assert len({encrypt(b, *key) for b in premaster_plaintexts(size, "TLSv1.2", n).values()}) == 5


def test_a_wrong_first_byte_that_would_exceed_a_small_modulus_stays_below_it() -> None:
    size = 256
    modulus = (0x41 << (8 * (size - 1))) + 1  # a top byte under 0x41 17 ...: 41 17 would not fit under it
    blocks = premaster_plaintexts(size, "TLSv1.2", modulus)
    assert int.from_bytes(blocks[WRONG_FIRST_BYTES], "big") < modulus
    assert blocks[WRONG_FIRST_BYTES][:2] != b"\x00\x02"
    with pytest.raises(ValueError):
        premaster_plaintexts(58, "TLSv1.2")


def _records(data: bytes) -> list[tuple[int, int, bytes]]:
    out = []
    while data:
        kind, version, length = struct.unpack(">BHH", data[:5])
        out.append((kind, version, data[5 : 5 + length]))
        data = data[5 + length :]
    return out


def test_the_client_flight_is_a_key_exchange_a_change_cipher_spec_and_a_finished() -> None:
    ciphertext = bytes(range(256))
    (cke, ccs, fin) = _records(client_flight(ciphertext, 0x0303, "TLS_RSA_WITH_AES_128_GCM_SHA256"))
    assert cke[:2] == (22, 0x0303) and cke[2][0] == 16 and int.from_bytes(cke[2][1:4], "big") == 258
    assert cke[2][4:6] == b"\x01\x00" and cke[2][6:] == ciphertext
    assert ccs == (20, 0x0303, b"\x01")
    assert fin[:2] == (22, 0x0303) and len(fin[2]) == 40  # GCM: explicit nonce, 16-byte Finished, tag
    cbc = _records(client_flight(ciphertext, 0x0301, "TLS_RSA_WITH_AES_256_CBC_SHA"))
    assert [r[1] for r in cbc] == [0x0301] * 3 and len(cbc[2][2]) == 80
    (cke3, _, _) = _records(client_flight(ciphertext, 0x0300, "TLS_RSA_WITH_AES_256_CBC_SHA"))
    assert cke3[2][4:] == ciphertext  # SSL 3.0: no length before the encrypted premaster
    asked = _records(client_flight(ciphertext, 0x0303, "TLS_RSA_WITH_AES_256_CBC_SHA", certificate_requested=True))
    assert asked[0] == (22, 0x0303, b"\x0b\x00\x00\x03\x00\x00\x00") and len(asked) == 4


# --- the verdict ------------------------------------------------------------------------------------------------------


def _round(*answers: str) -> dict[str, str]:
    return dict(zip(VARIANTS, answers, strict=True))


SAME = _round(*["alert:20"] * 5)
STRONG = _round("alert:20", "alert:51", "alert:20", "alert:20", "alert:20")  # a wrong start stands out
WEAK = _round("alert:20", "closed", "closed", "closed", "alert:20")  # only a fully conformant padding stands out
GOOD_ONLY = _round("alert:51", "alert:20", "alert:20", "alert:20", "alert:20")


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        (SAME, None, ("not_vulnerable", None)),
        (STRONG, STRONG, ("vulnerable", "strong")),
        (_round("reset", "alert:40", "reset", "timeout", "reset"),) * 2 + (("vulnerable", "strong"),),
        (WEAK, WEAK, ("vulnerable", "weak")),
        (GOOD_ONLY, GOOD_ONLY, ("vulnerable", "weak")),
        (STRONG, None, ("inconclusive", None)),  # an oracle shown once is not enough
        (STRONG, SAME, ("inconclusive", None)),
        (STRONG, WEAK, ("inconclusive", None)),
        (_round(*["timeout"] * 5), _round(*["timeout"] * 5), ("inconclusive", None)),
        (_round("handshake:refused", *["alert:20"] * 4),) * 2 + (("inconclusive", None),),
        ({WELL_FORMED: "alert:20"}, None, ("inconclusive", None)),
    ],
)
def test_the_verdict_of_a_set_of_reactions(
    first: dict[str, str], second: dict[str, str] | None, expected: tuple[str, str | None]
) -> None:
    judged = verdict(first, second)
    assert (judged.verdict, judged.oracle) == expected
    assert judged.verdict != "inconclusive" or judged.note


def test_only_five_identical_answers_end_the_check_after_one_round() -> None:
    assert not needs_second_round(SAME)
    for first in (STRONG, WEAK, _round(*["timeout"] * 5), _round(*["handshake:closed"] * 5)):
        assert needs_second_round(first)


def test_hostile_bytes_never_crash_the_reading() -> None:
    rng = random.Random(20171212)
    cases = [
        b"\x16\x03\x03\x00\x04\x0e\x00\x00\x00",  # ServerHelloDone without a ServerHello
        b"\x16\x03\x03\x00\x06\x02\x00\x00\x02\x03\x03",  # a ServerHello of two bytes
        b"\x16\x03\x03\x00\x2a\x02\x00\x00\x26" + b"\x03\x03" + bytes(32) + b"\xff" + b"\x00\x9c\x00",  # sid past it
        b"\x15\x03\x03\x00\x00",  # an empty alert
        b"\x16\x03\x03\xff\xff",  # a record past the limit
        b"\x17\x03\x03\x00\x01\x00",
        b"HTTP/1.1 400 Bad Request\r\n",
        bytes(5000),
    ]
    cases += [bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 400))) for _ in range(400)]
    cases += [b"\x16\x03\x03" + bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 200))) for _ in range(400)]
    for data in cases:
        flight = RsaFlight()
        for at in range(0, len(data), 7):
            answer = flight.feed(data[at : at + 7])
            if answer is not None:
                assert answer.outcome in ("ready", "refused", "not_tls") and "\n" not in answer.detail
                break
        else:
            assert flight.eof().outcome in ("closed", "not_tls")
        word = reaction_of(data)
        assert word is None or word.split(":")[0] in ("alert", "record", "not_tls")
        assert reaction_at_eof(data) in ("closed", "not_tls") or reaction_at_eof(data).startswith(("alert", "record"))
        assert public_key(data) is None


# --- the check against servers that decrypt ---------------------------------------------------------------------------

OPTIONS = ProbeOptions(legacy_tls=False, tls_enumeration=True, tls_timeout=2.0)


async def _inspect(
    server: RobotServer | object, issued: Issued, address: str, share: TlsShare | None = None
) -> tuple[TlsConfiguration, list[Finding]]:
    endpoint = Endpoint(address, address, server.port, "imap", "implicit", name=NAME)  # type: ignore[attr-defined]
    handshake = HandshakeInfo("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", issued.chain_der, NAME)
    info, findings = await inspect_tls(
        endpoint,
        OPTIONS,
        handshake,
        software=None,
        opener=server.open,
        tls=share,  # type: ignore[attr-defined]
    )
    assert info.configuration is not None
    return info.configuration, findings


def _robot_findings(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.id, f.severity) for f in findings if f.id.startswith("tls-robot")]


@pytest.mark.parametrize(
    ("behaviour", "expected", "finding", "connections"),
    [
        ("constant", ("not_vulnerable", None), [], 5),
        ("strong", ("vulnerable", "strong"), [("tls-robot", "high")], 10),
        ("weak", ("vulnerable", "weak"), [("tls-robot", "medium")], 10),
        ("flaky", ("inconclusive", None), [("tls-robot-inconclusive", "info")], 10),
    ],
)
async def test_the_check_reports_what_a_server_that_decrypts_gives_away(
    issued: Issued, behaviour: Behaviour, expected: tuple[str, str | None], finding: list, connections: int
) -> None:
    async with robot_server(RSA_RULES, issued, behaviour) as server:
        configuration, findings = await _inspect(server, issued, server.host)
    robot = configuration.robot
    assert robot is not None
    assert (robot.verdict, robot.oracle) == expected, robot
    assert (robot.version, robot.suite) == ("TLSv1.2", "TLS_RSA_WITH_AES_128_GCM_SHA256")
    assert robot.connections == server.key_exchanges == connections  # each went as far as the key exchange
    assert server.connections == configuration.handshakes + connections
    assert _robot_findings(findings) == finding
    assert [r.variant for r in robot.reactions] == list(VARIANTS)
    if behaviour == "strong":
        assert robot.reactions[1].answers == ("alert:51", "alert:51")  # the wrong start, twice
    # what a results file holds reads back the same, and a file from before the check still loads
    assert configuration_from_dict(to_dict(configuration)) == configuration
    assert configuration_from_dict({k: v for k, v in to_dict(configuration).items() if k != "robot"}).robot is None


async def test_a_server_that_never_answers_the_key_exchange_is_inconclusive(issued: Issued) -> None:
    limits = EnumerationLimits(hello_timeout=0.3, backoff=0.05)
    configuration = TlsConfiguration(
        versions=("TLSv1.2",), suites=(VersionSuites("TLSv1.2", RSA_RULES.suites["TLSv1.2"]),)
    )
    async with robot_server(RSA_RULES, issued, "silent") as server:
        robot = await check_robot(server.open, configuration, server_name=NAME, limits=limits)
    assert (robot.verdict, robot.connections) == ("inconclusive", 10)
    assert all(r.answers == ("timeout", "timeout") for r in robot.reactions)


async def test_a_server_without_rsa_key_exchange_is_not_applicable_at_no_cost(issued: Issued) -> None:
    async with robot_server(NO_RSA_RULES, issued, "strong") as server:
        configuration, findings = await _inspect(server, issued, server.host)
    assert configuration.robot is not None and configuration.robot.verdict == "not_applicable"
    assert configuration.robot.connections == 0 and "RSA" in configuration.robot.note
    assert server.connections == configuration.handshakes and server.key_exchanges == 0
    assert _robot_findings(findings) == []


async def test_a_server_that_refuses_connections_stops_the_check_with_the_reason(issued: Issued) -> None:
    async def refused() -> tuple:  # type: ignore[type-arg]
        raise ConnectionRefusedError("refused")

    configuration = TlsConfiguration(
        versions=("TLSv1.2",), suites=(VersionSuites("TLSv1.2", RSA_RULES.suites["TLSv1.2"]),)
    )
    robot = await check_robot(
        refused, configuration, server_name=NAME, limits=EnumerationLimits(hello_timeout=0.5, backoff=0.01)
    )
    assert (robot.verdict, robot.connections) == ("inconclusive", 0) and "refused 4 connections" in robot.note


async def test_a_hostile_server_gets_an_inconclusive_result_not_a_crash(issued: Issued) -> None:
    """It accepts the RSA hello with garbage for a certificate, then with bytes that are no TLS at all."""
    configuration = TlsConfiguration(
        versions=("TLSv1.2",), suites=(VersionSuites("TLSv1.2", RSA_RULES.suites["TLSv1.2"]),)
    )
    async with rule_server(RSA_RULES) as server:  # a ServerHello and ServerHelloDone, no Certificate at all
        robot = await check_robot(server.open, configuration, server_name=NAME, limits=EnumerationLimits(1.0))
    assert robot.verdict == "inconclusive" and robot.connections == 10
    assert all(a == "handshake:not_tls" for r in robot.reactions for a in r.answers)


# --- a pool behind one certificate ------------------------------------------------------------------------------------


async def test_a_vulnerable_server_confirming_a_clean_ones_configuration_gets_its_own_verdict(issued: Issued) -> None:
    """The known server (RSA key exchange, no oracle) is enumerated in full; the second presents the same chain and
    configuration, so it confirms, and the confirmation must not carry the first one's all-clear."""
    share = TlsShare()
    async with (
        robot_server(RSA_RULES, issued, "constant", "127.0.0.6") as clean,
        robot_server(RSA_RULES, issued, "strong", "127.0.0.7") as leaky,
    ):
        known, _ = await _inspect(clean, issued, clean.host, share)
        confirmed, findings = await _inspect(leaky, issued, leaky.host, share)
    assert known.robot is not None and known.robot.verdict == "not_vulnerable"
    assert confirmed.confirmed_from == f"{clean.host}:{clean.port}"  # it did confirm, not enumerate in full
    assert confirmed.robot is not None and (confirmed.robot.verdict, confirmed.robot.oracle) == ("vulnerable", "strong")
    assert leaky.key_exchanges == 10 and _robot_findings(findings) == [("tls-robot", "high")]


async def test_a_pool_without_rsa_key_exchange_carries_not_applicable_at_no_cost(issued: Issued) -> None:
    share = TlsShare()
    async with (
        robot_server(NO_RSA_RULES, issued, "constant", "127.0.0.6") as first,
        robot_server(NO_RSA_RULES, issued, "strong", "127.0.0.7") as second,
    ):
        known, _ = await _inspect(first, issued, first.host, share)
        confirmed, _ = await _inspect(second, issued, second.host, share)
    assert confirmed.confirmed_from is not None
    assert confirmed.robot == known.robot and known.robot is not None and known.robot.verdict == "not_applicable"
    assert second.connections == confirmed.handshakes and second.key_exchanges == 0


def test_applicability_reads_the_configuration() -> None:
    both = TlsConfiguration(
        versions=("TLSv1.1", "TLSv1.2"),
        suites=(
            VersionSuites("TLSv1.2", ("TLS_RSA_WITH_AES_256_CBC_SHA", "TLS_RSA_WITH_AES_128_GCM_SHA256")),
            VersionSuites("TLSv1.1", ("TLS_RSA_WITH_AES_128_CBC_SHA",)),
        ),
    )
    assert applicability(both) == ("TLSv1.2", "TLS_RSA_WITH_AES_128_GCM_SHA256")  # GCM first, newest version
    export = TlsConfiguration(
        versions=("TLSv1",), suites=(VersionSuites("TLSv1", ("TLS_RSA_EXPORT_WITH_RC4_40_MD5",)),)
    )
    stopped = TlsConfiguration(untested=("enumeration incomplete: stopped after 45 s (the cap per server)",))
    tls13 = TlsConfiguration(versions=("TLSv1.3",), suites=(VersionSuites("TLSv1.3", ("TLS_AES_128_GCM_SHA256",)),))
    assert [getattr(applicability(c), "verdict", None) for c in (export, stopped, tls13)] == [
        "not_applicable",
        "inconclusive",
        "not_applicable",
    ]


def test_an_older_result_line_without_the_check_still_loads() -> None:
    row = {
        "host": "h", "address": "127.0.0.2", "port": 993, "protocol": "imap", "transport": "implicit",
        "state": "open", "tls": {"version": "TLSv1.2", "cipher": "x", "configuration": {"versions": ["TLSv1.2"]}},
    }  # fmt: skip
    result = EndpointResult.from_dict(row)
    assert result.tls is not None and result.tls.configuration is not None
    assert result.tls.configuration.robot is None
