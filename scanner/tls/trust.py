"""Trust anchors for chain verification: the system store, the Mozilla store (certifi), plus --ca-file PEMs.

    store = load_trust_store()                # "system (/etc/ssl/certs/ca-certificates.crt) + Mozilla (certifi ...)"
    store = load_trust_store(["corp-ca.pem"])           # "... + ca-file corp-ca.pem"
    store = load_trust_store(["corp-ca.pem"], defaults=False)   # only the organisation's CA
    store.sources_of(anchor)                            # ["ca-file corp-ca.pem"]: which store vouches for a chain

Mail clients use one of these: Thunderbird the Mozilla list (NSS), Outlook the Windows store, Apple Mail and most
Linux clients the system store. A chain is trusted when it reaches an anchor of any of them, and the result says
which. The default bundles are parsed once per process (they are the same for every endpoint).
"""

from __future__ import annotations

import contextlib
import datetime as dt
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
from OpenSSL import crypto

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
class TrustSource:
    """One store of anchors: "system (/etc/ssl/certs/ca-certificates.crt)", "Mozilla (certifi 2025.1.31)",
    "ca-file corp-ca.pem"."""

    label: str
    anchors: tuple[x509.Certificate, ...]


@dataclass(frozen=True)
class TrustStore:
    """Trust anchors and a description of where they came from (shown in results as ``trust_store``)."""

    name: str
    anchors: tuple[x509.Certificate, ...]
    sources: tuple[TrustSource, ...] = ()
    _store: list[Store] = field(default_factory=list, repr=False, compare=False)  # built lazily, once
    _openssl: list[crypto.X509Store] = field(default_factory=list, repr=False, compare=False)

    @property
    def store(self) -> Store:
        if not self._store:
            self._store.append(Store(list(self.anchors)))
        return self._store[0]

    def openssl_store(self, when: dt.datetime) -> crypto.X509Store:
        """The same anchors as an OpenSSL store (path building as OpenSSL clients do it), checking dates at
        ``when``. Built once; the time is set per use (callers verify one chain at a time)."""
        if not self._openssl:
            store = crypto.X509Store()
            for anchor in self.anchors:
                with contextlib.suppress(crypto.Error, ValueError):  # a duplicate or odd anchor: skip it
                    store.add_cert(crypto.X509.from_cryptography(anchor))
            self._openssl.append(store)
        store = self._openssl[0]
        store.set_time(when.astimezone(dt.UTC).replace(tzinfo=None))
        return store

    def sources_of(self, anchor: x509.Certificate) -> list[str]:
        """Labels of the stores holding ``anchor`` (the same root is often in the system and the Mozilla store)."""
        found = [source.label for source in self.sources if any(a == anchor for a in source.anchors)]
        return found or [self.name]

    def issuers_of(self, cert: x509.Certificate) -> list[x509.Certificate]:
        """Anchors whose subject is ``cert``'s issuer (name only; callers verify signatures)."""
        return [a for a in self.anchors if a.subject == cert.issuer]

    def contains(self, cert: x509.Certificate) -> bool:
        return any(a == cert for a in self.anchors)


def load_trust_store(ca_files: Sequence[str | os.PathLike[str]] = (), *, defaults: bool = True) -> TrustStore:
    """The default store (system bundle, else certifi) unless ``defaults=False``, plus the ``ca_files``."""
    sources: list[TrustSource] = list(_default_sources()) if defaults else []
    for path in ca_files:
        certs = _read_pem_file(Path(path))
        if not certs:
            raise TrustStoreError(f"{path}: no PEM certificate found")
        sources.append(TrustSource(f"ca-file {path}", tuple(certs)))
    anchors = tuple(dict.fromkeys(a for source in sources for a in source.anchors))  # one copy of shared roots
    if not anchors:
        raise TrustStoreError("no trust anchors: no system store, no certifi, no --ca-file")
    return TrustStore(name=" + ".join(s.label for s in sources), anchors=anchors, sources=tuple(sources))


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
def _default_sources() -> tuple[TrustSource, ...]:
    sources: list[TrustSource] = []
    path = system_bundle_path()
    if path:
        certs = _read_pem_file(Path(path))
        if certs:
            sources.append(TrustSource(f"system ({path})", tuple(certs)))
    try:
        import certifi
    except ImportError:  # certifi is a dependency; a stripped install still has the system store
        return tuple(sources)
    with contextlib.suppress(TrustStoreError):
        mozilla = _read_pem_file(Path(certifi.where()))
        if mozilla:
            sources.append(TrustSource(f"Mozilla (certifi {certifi.__version__})", tuple(mozilla)))
    return tuple(sources)


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
