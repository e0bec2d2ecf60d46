"""Switches of the TLS checks a probe makes beside the login, shared by `mailprobe scan` and `mailprobe check`."""

from __future__ import annotations

import argparse


def add_tls_test_arguments(parser: argparse.ArgumentParser) -> None:
    """The TLS checks a probe makes beside the login, and their switches: shared by `scan` and `check`."""
    parser.add_argument(
        "--no-legacy-tls", dest="legacy_tls", action="store_false", help="skip the TLS 1.0/1.1 acceptance checks"
    )
    parser.add_argument(
        "--no-tls-enumeration",
        dest="tls_enumeration",
        action="store_false",
        help="skip enumerating each server's TLS versions, suites and groups (and the Mozilla profile check)",
    )
    parser.add_argument(
        "--enumerate-every-server",
        action="store_true",
        help="enumerate every server's TLS configuration in full; by default a server that presents a certificate "
        "chain already enumerated in the scan only confirms that configuration, with a few hellos",
    )
    parser.add_argument(
        "--tls-profile",
        metavar="PROFILE",
        help="Mozilla server-side TLS profile whose deviations are findings: modern, intermediate (default) or old",
    )
    parser.add_argument(
        "--no-injection-test",
        dest="injection_test",
        action="store_false",
        help="skip the STARTTLS command-injection test (it costs one connection per STARTTLS port)",
    )
