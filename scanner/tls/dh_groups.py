"""Well-known finite-field DH primes, by name: the prime in a DHE ServerKeyExchange tells an auditor whether the
server uses a standard group or one of its own, as testssl.sh's "DH group offered" does.

- ``ffdhe2048`` ... ``ffdhe8192``: RFC 7919, the groups Mozilla's guidelines recommend;
- ``modp768``, ``modp1024``: RFC 2409's Oakley groups 1 and 2; ``modp1536`` ... ``modp8192``: RFC 3526's groups
  5 and 14 to 18 (Debian's Dovecot ships modp4096 as its dh.pem);
- ``rfc5114_1024_160``, ``rfc5114_2048_224``, ``rfc5114_2048_256``: RFC 5114's groups with small subgroups.

A 1024-bit prime that many servers share is what the Logjam paper showed can be attacked by one precomputation for
all of them; a prime of the server's own is ``custom``. Primes are matched by the SHA-256 of their big-endian bytes
(tests/tls/test_dh_groups.py derives each prime from its definition: the MODP groups from pi, the others from the
local OpenSSL's named groups).
"""

from __future__ import annotations

import hashlib

CUSTOM = "custom"

_BY_DIGEST: dict[str, str] = {
    "b52ba6a3026520a6c49d37e4587601801bee500123b3259b6bf03e7cecc3e63d": "modp768",
    "3f35a3f5f6c4376a744acad409bb22f8d897f949d2311d885adaa890981b67a0": "modp1024",
    "64fcc83ec403930bf18393dbc883ccaa1fbb08ac876f77f7aa99748ca945019b": "modp1536",
    "d66436f79bbd6b2e38c0ffbd079be904d2641415e2e67140e09448be9a60890e": "modp2048",
    "48cf8b092fbce4359d9871abf74f98e25b6163379eaa15cd9087e800c6d1c55c": "modp3072",
    "4ee95187682bcb230ad26a95205f6920e84708f6251b3894329b09ec23919e33": "modp4096",
    "d1bfe6d0925ce7e4da262b62861514a7755e35831e429f343e7b864848657efd": "modp6144",
    "39ab4feab950a3128fb71accb9fc3965d857012e081998a85996e3ea8b3c3bcf": "modp8192",
    "9cd3b7f336872f46c09428d1bbc19877a4d440512cda8d1c1cf0cd6e33698966": "ffdhe2048",
    "0eaf67db3a839156d5013494a5318a772b5697d270d721f37f092efc69ea5a17": "ffdhe3072",
    "4648414224ac881b3d0dc59b466f96d06a558278776807797ecf1f66ff397b3e": "ffdhe4096",
    "227ac9066b3ddd9e193670cda2388fa884f65ba0cf98b742d1fe77a6687c79c7": "ffdhe6144",
    "770b14efaf6f049929c523113b3fa99a8d11dab1b18af3609590122075d19833": "ffdhe8192",
    "44c55cfee5c075927cf682da5b681bdecbd5c3eb0784c14f5dce7610f0ef133d": "rfc5114_1024_160",
    "bfe545862ca102ad1eeddb5fbfa5bf855ac4995c56a8b408ce3fe099dce93a9d": "rfc5114_2048_224",
    "0b7835722cb619827610c2549fdda5587421686c4409a13865e76225522ddcc9": "rfc5114_2048_256",
}
NAMES: tuple[str, ...] = tuple(_BY_DIGEST.values())


def dh_group(prime: int) -> str:
    """The standard group ``prime`` belongs to, or ``custom``."""
    data = prime.to_bytes((prime.bit_length() + 7) // 8, "big")
    return _BY_DIGEST.get(hashlib.sha256(data).hexdigest(), CUSTOM)


def shared_and_weak(name: str | None) -> bool:
    """A standard group of 1024 bits or fewer: one precomputation breaks it for every server using it (Logjam)."""
    return name in ("modp768", "modp1024", "rfc5114_1024_160")
