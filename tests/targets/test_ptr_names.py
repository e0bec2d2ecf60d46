"""The names a certificate is judged against, and where each came from (the PTR name, looked up while the probe runs,
is the last; tests/scan/test_reprobe.py sees it judged in a scan)."""

from __future__ import annotations

from scanner.probe.options import ProbeOptions
from scanner.tls.names import NameCandidate, judge_names

SANS = (["mail.example.test"], [])


def test_a_matching_ptr_name_settles_the_name_check():
    match, checks = judge_names(
        [NameCandidate("address", "127.0.0.5"), NameCandidate("ptr", "Mail.Example.Test.")], *SANS
    )
    assert match is True
    assert [(c.name, c.source, c.result) for c in checks] == [
        ("127.0.0.5", "address", "not checked"),
        ("mail.example.test", "ptr", "match"),
    ]


def test_another_ptr_name_is_a_guess_and_never_a_mismatch():
    match, checks = judge_names([NameCandidate("ptr", "host-5.example.net")], *SANS)
    assert match is None
    assert checks[0].result == "mismatch" and "guess" in (checks[0].note or "")


def test_a_ptr_name_does_not_overrule_a_scanned_name_mismatch():
    candidates = [NameCandidate("target", "imap.example.test"), NameCandidate("ptr", "other.example.net")]
    assert judge_names(candidates, *SANS)[0] is False


def test_names_to_check_say_where_each_name_came_from():
    from scanner.model import Endpoint
    from scanner.probe.tls_inspect import names_to_check

    by_srv = Endpoint(
        "imap.example.net",
        "127.0.0.5",
        993,
        "imap",
        "implicit",
        name="imap.example.net",
        ptr="host-5.example.net",
        srv_domain="example.org",
    )
    options = ProbeOptions(expect_name="mail.example.org")
    assert [(c.source, c.name) for c in names_to_check(by_srv, options)] == [
        ("srv", "imap.example.net"),
        ("srv", "example.org"),
        ("expect-name", "mail.example.org"),
        ("ptr", "host-5.example.net"),
    ]
    typed = Endpoint("mail.example.org", "127.0.0.5", 143, "imap", "starttls", name="mail.example.org")
    assert [(c.source, c.name) for c in names_to_check(typed, ProbeOptions())] == [("target", "mail.example.org")]
    bare = Endpoint("127.0.0.5", "127.0.0.5", 143, "imap", "starttls")
    assert names_to_check(bare, ProbeOptions()) == []  # the address itself is added by the chain analysis
