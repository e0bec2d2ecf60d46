"""Trust anchors for chain verification: the system store where one exists, else certifi; plus --ca-file PEMs.

    store = load_trust_store()                          # "system (/etc/ssl/certs/ca-certificates.crt)"
    store = load_trust_store(["corp-ca.pem"])           # "... + ca-file corp-ca.pem"
    store = load_trust_store(["corp-ca.pem"], defaults=False)   # only the organisation's CA

The default bundle is parsed once per process (it is the same for every endpoint).
"""

from __future__ import annotations

import functools
import os
import re
import ssl
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.x509.verification import Store

SYSTEM_BUNDLES: tuple[str, ...] = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu, Alpine
    "/etc/pki/tls/certs/ca-bundle.crt",  # Fedora, RHEL
    "/etc/ssl/ca-bundle.pem",  # openSUSE
    "/etc/ssl/cert.pem",  # macOS, BSDs
)

_PEM_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)


class TrustStoreError(Exception):
    """A --ca-file could not be read or holds no certificate."""


@dataclass(frozen=True)
class TrustStore:
    """Trust anchors and a description of where they came from (shown in results as ``trust_store``)."""

    name: str
    anchors: tuple[x509.Certificate, ...]
    _store: list[Store] = field(default_factory=list, repr=False, compare=False)  # built lazily, once

    @property
    def store(self) -> Store:
        if not self._store:
            self._store.append(Store(list(self.anchors)))
        return self._store[0]

    def issuers_of(self, cert: x509.Certificate) -> list[x509.Certificate]:
        """Anchors whose subject is ``cert``'s issuer (name only; callers verify signatures)."""
        return [a for a in self.anchors if a.subject == cert.issuer]

    def contains(self, cert: x509.Certificate) -> bool:
        return any(a == cert for a in self.anchors)


def load_trust_store(ca_files: Sequence[str | os.PathLike[str]] = (), *, defaults: bool = True) -> TrustStore:
    """The default store (system bundle, else certifi) unless ``defaults=False``, plus the ``ca_files``."""
    names: list[str] = []
    anchors: list[x509.Certificate] = []
    if defaults:
        default_name, default_anchors = _default_bundle()
        names.append(default_name)
        anchors.extend(default_anchors)
    for path in ca_files:
        certs = _read_pem_file(Path(path))
        if not certs:
            raise TrustStoreError(f"{path}: no PEM certificate found")
        names.append(f"ca-file {path}")
        anchors.extend(certs)
    if not anchors:
        raise TrustStoreError("no trust anchors: no system store, no certifi, no --ca-file")
    return TrustStore(name=" + ".join(names), anchors=tuple(anchors))


def check_ca_file(path: str | os.PathLike[str]) -> int:
    """Validate a --ca-file before any packet is sent; return how many certificates it holds.

    Raises TrustStoreError with one line an admin can act on: missing, unreadable, a directory, empty, not PEM
    (DER is named as such), or PEM blocks none of which parse.
    """
    file = Path(path)
    if file.is_dir():
        raise TrustStoreError(f"{path}: is a directory, not a PEM file of CA certificates")
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise TrustStoreError(f"{path}: {exc.strerror or exc}") from None
    if not data.strip():
        raise TrustStoreError(f"{path}: the file is empty; expected PEM CA certificates")
    blocks = _PEM_BLOCK.findall(data)
    if not blocks:
        der = data[:1] == b"\x30"  # an ASN.1 SEQUENCE: a binary certificate
        hint = " (it looks like DER: convert it with openssl x509 -inform der -in FILE -out ca.pem)" if der else ""
        raise TrustStoreError(f"{path}: no PEM certificate (-----BEGIN CERTIFICATE-----) found{hint}")
    count = len(list(_parse_blocks(blocks)))
    if not count:
        raise TrustStoreError(f"{path}: {len(blocks)} PEM certificate block(s), none of which can be parsed")
    return count


def system_bundle_path() -> str | None:
    """The first existing system CA bundle (SSL_CERT_FILE first, then OpenSSL's default, then known paths)."""
    candidates = [os.environ.get("SSL_CERT_FILE"), ssl.get_default_verify_paths().cafile, *SYSTEM_BUNDLES]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.path.getsize(candidate) > 0:
            return candidate
    return None


@functools.lru_cache(maxsize=1)
def _default_bundle() -> tuple[str, tuple[x509.Certificate, ...]]:
    path = system_bundle_path()
    if path:
        certs = _read_pem_file(Path(path))
        if certs:
            return f"system ({path})", tuple(certs)
    import certifi  # only when there is no system store

    return f"certifi ({certifi.__version__})", tuple(_read_pem_file(Path(certifi.where())))


def _read_pem_file(path: Path) -> list[x509.Certificate]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TrustStoreError(f"{path}: {exc.strerror or exc}") from None
    return list(_parse_blocks(_PEM_BLOCK.findall(data)))


def _parse_blocks(blocks: Iterable[bytes]) -> Iterable[x509.Certificate]:
    for block in blocks:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # some bundled roots have non-positive serials (deprecation notice)
                yield x509.load_pem_x509_certificate(block)
        except ValueError:
            continue  # one odd certificate in a bundle must not lose the others
