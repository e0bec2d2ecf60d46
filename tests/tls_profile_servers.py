"""Real Dovecot (IMAP, POP3) and Postfix (submission) set up to meet, or miss, Mozilla's TLS profiles: for the
integration tests (tests/integration/test_tls_profiles.py) and the oracle comparison with sslyze and testssl.sh
(benchmarks/tls_oracle.py).

Each set-up is one 127.0.0.x host: Dovecot on 110/143/993/995 and Postfix on 587/465 with the same TLS settings,
written the way Mozilla's configuration generator writes them for guidelines 5.7, with a certificate from a test CA
(the CA file is handed to mailprobe as --ca-file and to sslyze as --certinfo_ca_file).

    with profile_host("intermediate", directory) as host:
        host.address, host.ca_file, host.expected   # expected: {"modern": False, "intermediate": True, "old": True}
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from scanner import certgen
from scanner.verdicts.mozilla_profiles import PROFILES
from tests.dovecot import _dh_file, start_instance
from tests.postfix import SASL_CONFIG, PostfixInstance, require_postfix

_CURVES = "X25519:prime256v1:secp384r1"


@dataclass(frozen=True)
class Setup:
    key_type: str  # "ec" or "rsa"
    days: int  # certificate lifespan
    min_version: str
    ciphers: str  # OpenSSL cipher list for TLS 1.2 and older ("" keeps the server's default)
    server_order: bool
    expected: dict[str, bool]  # profile -> compliant, as the guidelines (and sslyze) judge this set-up
    why: str
    curves: str = _CURVES  # ssl_curve_list / tls_eecdh_auto_curves


def _openssl(profile: str) -> str:
    return ":".join(PROFILES[profile].openssl_ciphers)


SETUPS: dict[str, Setup] = {
    "modern": Setup(
        "ec", 90, "TLSv1.3", "", False, {"modern": True, "intermediate": True, "old": False},
        "TLS 1.3 only, ECDSA P-256 certificate of 90 days: the old profile wants an RSA certificate",
    ),
    "intermediate": Setup(
        "rsa", 365, "TLSv1.2", _openssl("intermediate"), False,
        {"modern": False, "intermediate": True, "old": True},
        "TLS 1.2 and 1.3 with intermediate's suites, RSA 2048 certificate of 365 days",
    ),
    "old": Setup(
        "rsa", 365, "TLSv1", _openssl("old") + ":@SECLEVEL=0", True,
        {"modern": False, "intermediate": False, "old": True},
        "TLS 1.0 to 1.3 with old's suites in the server's order",
    ),
    "legacy": Setup(
        "rsa", 365, "TLSv1", "ECDHE-RSA-AES128-GCM-SHA256:CAMELLIA128-SHA:@SECLEVEL=0", True,
        {"modern": False, "intermediate": False, "old": False},
        "TLS 1.0 and a suite without forward secrecy that no profile lists (TLS_RSA_WITH_CAMELLIA_128_CBC_SHA)",
    ),
    # secp224r1 is a curve OpenSSL negotiates in TLS 1.2 but not in TLS 1.3 (RFC 8446 dropped it): only a tool that
    # asks the groups in TLS 1.2 as well sees it (testssl.sh and mailprobe do, sslyze 6.3 does not). ``expected``
    # is the guidelines' verdict (tls_curves and ecdh_param_size miss every profile), not sslyze's.
    "tls12-curve": Setup(
        "rsa", 365, "TLSv1.2", _openssl("intermediate"), False,
        {"modern": False, "intermediate": False, "old": False},
        "intermediate, but secp224r1 is accepted besides X25519, P-256 and P-384 (in TLS 1.2 only)",
        _CURVES + ":secp224r1",
    ),
}  # fmt: skip


def dovecot_settings(setup: Setup) -> str:
    lines = [f"ssl_min_protocol = {setup.min_version}", f"ssl_curve_list = {setup.curves}"]
    if setup.ciphers:
        lines.append(f"ssl_cipher_list = {setup.ciphers}")
    lines.append(f"ssl_prefer_server_ciphers = {'yes' if setup.server_order else 'no'}")
    return "\n".join(lines) + "\n"


def postfix_settings(setup: Setup) -> str:
    lines = [
        f"smtpd_tls_protocols = >={setup.min_version}",
        f"smtpd_tls_mandatory_protocols = >={setup.min_version}",
        f"tls_eecdh_auto_curves = {setup.curves.replace(':', ' ')}",
        f"tls_preempt_cipherlist = {'yes' if setup.server_order else 'no'}",
    ]
    if setup.ciphers:
        lines += ["smtpd_tls_ciphers = medium", "smtpd_tls_mandatory_ciphers = medium"]
        lines.append(f"tls_medium_cipherlist = {setup.ciphers}")
    if (dh := _dh_file()) is not None:
        lines.append(f"smtpd_tls_dh1024_param_file = {dh}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class ProfileHost:
    name: str
    address: str
    ca_file: Path
    expected: dict[str, bool]
    dovecot_log: str
    postfix_log: str


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path
    ca_file: Path


def _setup(name: str) -> Setup:
    return SETUPS[name]


def certificate_for(name: str, directory: Path) -> Certificate:
    """A certificate from a CA of its own, of the key type and lifespan ``SETUPS[name]`` calls for."""
    setup = _setup(name)
    ec = setup.key_type == "ec"
    size = 256 if ec else 2048
    ca = certgen.make_ca(f"mailprobe {name} profile CA", key_type="ec" if ec else "rsa", key_size=size)
    leaf = ca.issue(["mail.mailprobe.test"], days=setup.days, key_type="ec" if ec else "rsa", key_size=size)
    cert, key = leaf.write(directory, name)
    return Certificate(cert, key, ca.write(directory, f"{name}-ca"))


@contextlib.contextmanager
def profile_dovecot(name: str, certificate: Certificate) -> Iterator[str]:
    """Dovecot alone (110/143/993/995) set up as ``SETUPS[name]`` with ``certificate``; yields its address. Two of
    these with one certificate are a pool of servers behind one certificate."""
    dovecot = start_instance(
        "plaintext_refused",
        cert_path=certificate.cert,
        key_path=certificate.key,
        extra_config=SASL_CONFIG + dovecot_settings(_setup(name)),
    )
    try:
        yield dovecot.address
    finally:
        dovecot.close()


@contextlib.contextmanager
def profile_host(name: str, directory: Path) -> Iterator[ProfileHost]:
    """Dovecot and Postfix on one address, both set up as ``SETUPS[name]``."""
    require_postfix()
    setup = _setup(name)
    issued = certificate_for(name, directory)
    cert, key, ca_file = issued.cert, issued.key, issued.ca_file
    dovecot = start_instance(
        "plaintext_refused", cert_path=cert, key_path=key, extra_config=SASL_CONFIG + dovecot_settings(setup)
    )
    try:
        with PostfixInstance(
            "auth_after_tls", dovecot=dovecot, cert_path=cert, key_path=key, extra_main_cf=postfix_settings(setup)
        ) as postfix:
            yield ProfileHost(name, dovecot.address, ca_file, setup.expected, dovecot.read_log(), postfix.read_log())
    finally:
        dovecot.close()
