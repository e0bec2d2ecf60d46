"""Options of one probe, in one frozen object (per-phase timeouts included)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProbeOptions:
    login_probe: bool = True  # try a dummy login (random credentials) in clear and over TLS
    ntlm_probe: bool = True  # where NTLM is offered, read what its CHALLENGE names (no credential is sent)
    # Repeat the login over TLS even when the answer in clear already decides (see decided_in_clear).
    confirm_over_tls: bool = False
    connect_timeout: float = 5.0  # the most a connect waits; within a scan, answered connects teach a shorter wait
    adaptive_connect_timeout: bool = True  # see engine.connect_timer
    read_timeout: float = 10.0  # waiting for one reply
    # A login answer has its own deadline, apart from read_timeout: servers delay failed logins on purpose, more after
    # each failure from one address (Dovecot: its 15 s auth penalty on top of the 2 s failure delay; measured 17.1 s)
    login_timeout: float = 25.0
    tls_timeout: float = 10.0  # one TLS handshake
    endpoint_timeout: float = 90.0  # the whole endpoint, all connections included
    ca_file: str | None = None  # extra trust anchors (an organisation's CA), PEM
    expect_name: str | None = None  # name to check the certificate against when the target is an address
    expiry_warn_days: int = 30
    legacy_tls: bool = True  # try TLS 1.0/1.1 handshakes to see whether they are still accepted
    # enumerate the server's TLS configuration (versions, suites, groups; scanner.tls.enumerate) and judge it
    # against Mozilla's profiles; replaces the legacy check. Off here, on by default on the command line.
    tls_enumeration: bool = False
    # a server presenting a chain already enumerated in the scan confirms that configuration with a few hellos
    # (scanner.tls.confirm) instead of being enumerated in full; False: every server in full
    tls_confirm: bool = True
    tls_profile: str = "intermediate"  # the Mozilla profile whose deviations become findings
    # STARTTLS ports: the command-injection test (one extra connection), and the floor of its wait inside TLS
    injection_test: bool = True
    injection_wait: float = 0.15
    source_address: str | None = None  # local address to connect from (tests use 127.0.0.1 vs servers on 127.0.0.2+)
