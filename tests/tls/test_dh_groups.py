"""DH primes named by their standard group: each table entry checked against the group's own definition (RFC 2409
and RFC 3526 from pi, RFC 7919 and RFC 5114 from the local OpenSSL), and a real server's ServerKeyExchange named
through the enumeration, with the Logjam finding for a shared 1024-bit prime."""

from __future__ import annotations

import random
import ssl
import subprocess
import warnings
from pathlib import Path

import pytest

from scanner.certgen import Issued, make_ca
from scanner.tls.dh_groups import CUSTOM, NAMES, dh_group, shared_and_weak
from scanner.tls.enumerate import enumerate_tls
from scanner.verdicts.tls_profile import shared_prime_finding
from tests.tls.helpers import echo, serve
from tests.tls.test_enumerate import FAST, front

# RFC 2409 6.1-6.2 and RFC 3526: p = 2^n - 2^(n-64) - 1 + 2^64 * (floor(2^(n-130) * pi) + x)
MODP = {768: 149686, 1024: 129093, 1536: 741804, 2048: 124476, 3072: 1690314, 4096: 240904, 6144: 929484, 8192: 4743158}
OPENSSL_GROUPS = {
    "ffdhe2048": "ffdhe2048", "ffdhe3072": "ffdhe3072", "ffdhe4096": "ffdhe4096", "ffdhe6144": "ffdhe6144",
    "ffdhe8192": "ffdhe8192", "dh_1024_160": "rfc5114_1024_160", "dh_2048_224": "rfc5114_2048_224",
    "dh_2048_256": "rfc5114_2048_256",
}  # fmt: skip


def _pi_bits(bits: int) -> int:
    """floor(pi * 2^bits), by Machin's formula in integers (64 guard bits)."""
    one = 1 << (bits + 64)

    def arctan_inverse(x: int) -> int:
        total = term = one // x
        n, sign = 1, -1
        while term:
            term //= x * x
            n += 2
            total += sign * (term // n)
            sign = -sign
        return total

    return (4 * (4 * arctan_inverse(5) - arctan_inverse(239))) >> 64


def modp(bits: int) -> int:
    return 2**bits - 2 ** (bits - 64) - 1 + 2**64 * (_pi_bits(bits - 130) + MODP[bits])


def _probably_prime(n: int, rounds: int = 16) -> bool:
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    rng = random.Random(n)
    for _ in range(rounds):
        y = pow(rng.randrange(2, n - 1), d, n)
        if y in (1, n - 1):
            continue
        for _ in range(s - 1):
            y = y * y % n
            if y == n - 1:
                break
        else:
            return False
    return True


def _openssl_prime(group: str) -> int | None:
    made = subprocess.run(
        ["openssl", "genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt", f"group:{group}"], capture_output=True
    )
    if made.returncode != 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cryptography deprecates finite-field DH: here it only reads a prime
        from cryptography.hazmat.primitives.serialization import load_pem_parameters

        return load_pem_parameters(made.stdout).parameter_numbers().p  # type: ignore[union-attr]


@pytest.mark.parametrize("bits", sorted(MODP))
def test_the_modp_groups_are_named_from_their_definition(bits: int) -> None:
    prime = modp(bits)
    assert prime.bit_length() == bits
    if bits <= 1536:  # the definition is right: a safe prime (the larger ones take seconds to test)
        assert _probably_prime(prime) and _probably_prime((prime - 1) // 2)
    assert dh_group(prime) == f"modp{bits}"


@pytest.mark.parametrize("group", sorted(OPENSSL_GROUPS))
def test_the_rfc7919_and_rfc5114_groups_are_named_as_openssl_defines_them(group: str) -> None:
    prime = _openssl_prime(group)
    if prime is None:
        pytest.skip(f"the local OpenSSL has no {group}")
    assert dh_group(prime) == OPENSSL_GROUPS[group]


def test_a_prime_of_its_own_is_custom_and_the_table_names_each_group_once() -> None:
    assert dh_group(modp(2048) - 2) == CUSTOM
    assert len(set(NAMES)) == len(NAMES) == len(MODP) + len(OPENSSL_GROUPS)
    assert {name for name in NAMES if shared_and_weak(name)} == {"modp768", "modp1024", "rfc5114_1024_160"}


@pytest.fixture(scope="module")
def leaf() -> Issued:
    return make_ca("dh group test CA").issue(["imap.example.test"])


def _dhe_server(leaf: Issued, directory: Path, prime: int) -> ssl.SSLContext:
    directory.mkdir(parents=True, exist_ok=True)
    params = directory / "dh.pem"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # as above: the server needs the prime as a PEM file
        from cryptography.hazmat.primitives.asymmetric.dh import DHParameterNumbers
        from cryptography.hazmat.primitives.serialization import Encoding, ParameterFormat

        pem = DHParameterNumbers(prime, 2).parameters().parameter_bytes(Encoding.PEM, ParameterFormat.PKCS3)
    params.write_bytes(pem)
    cert, key = leaf.write(directory, "server")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("DHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0")  # DHE alone, 1024 bits allowed
    ctx.load_dh_params(params)
    return ctx


@pytest.mark.parametrize(("bits", "shared"), [(1024, True), (2048, False)])
async def test_the_enumeration_names_the_servers_group_and_a_shared_1024_bit_one_is_a_finding(
    leaf: Issued, tmp_path: Path, bits: int, shared: bool
) -> None:
    ctx = _dhe_server(leaf, tmp_path / str(bits), modp(bits))
    async with serve(echo, ctx=ctx) as backend, front(backend) as f:
        config = await enumerate_tls(f.opener(), server_name=None, limits=FAST)
    assert (config.dh_bits, config.dh_group) == (bits, f"modp{bits}")
    finding = shared_prime_finding(config, None)
    assert (finding is not None) is shared
    if finding is not None:
        assert finding.id == "tls-dh-shared-prime" and "modp1024" in finding.detail
