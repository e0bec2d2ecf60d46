"""A re-probe from the TUI gives the same row as the scan did, when nothing changed on the server: the endpoint is
probed again whole (its SRV domain and PTR name included), through the scan's own context.

The scan is the scan command's path (the plan from ``--domain`` discovery and an address target, the real resolver
asking a DNS responder on loopback, the connect sweep), the re-probe the app's own ``reprobe``.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from scanner import certgen
from scanner.cli import build_parser
from scanner.commands.scan import plan_targets, probe_options, runner_limits, settings_from_args
from scanner.fakeserver import FakeServer, bundled_profile
from scanner.fakeserver.tls import server_context
from scanner.model import EndpointResult, PlaintextLogin, StartTlsInjection
from scanner.scan.scheduler import Scan
from scanner.tui.app import ScanApp
from scanner.tui.detail_text import detail_sections
from tests.targets.dnsserver import LocalDns

SRV_ADDRESS = "127.0.0.61"  # imap.example.net, named by example.org's _imaps._tcp SRV record
PTR_ADDRESS = "127.0.0.62"  # an address target whose PTR name is host-62.example.net


def _comparable(row: EndpointResult) -> EndpointResult:
    """The row without what differs from one probe to the next on an unchanged server: timings, the random
    dummy user (in the transcript), the server's clock (in its NTLM challenge), and of the STARTTLS command-injection
    test its random tag, how long it listened and how each try went (a separate segment lands before or after the
    server's read): its verdict stays."""
    login = row.plaintext_login
    evidence = tuple(re.sub(r"\d+ ms", "N ms", line) for line in login.evidence)
    ntlm = dataclasses.replace(row.ntlm, server_time=None) if row.ntlm else None
    tls = row.tls
    if tls is not None and tls.configuration is not None:  # the TLS enumeration's duration is a timing too
        tls = dataclasses.replace(tls, configuration=dataclasses.replace(tls.configuration, duration_ms=0))
    injection = row.starttls_injection
    return dataclasses.replace(
        row,
        duration_ms=0,
        transcript=(),
        plaintext_login=PlaintextLogin(login.verdict, evidence),
        ntlm=ntlm,
        tls=tls,
        starttls_injection=injection and StartTlsInjection(injection.verdict, (), injection.note),
    )


def _summary(row: EndpointResult) -> list[str]:
    return next(lines for title, lines in detail_sections(row) if title == "Summary")


async def test_a_reprobe_from_the_tui_gives_the_same_row_as_the_scan(tmp_path: Path) -> None:
    ca = certgen.make_ca("reprobe test CA")
    ca_file = ca.write(tmp_path)
    # the SRV host's certificate names only the mail domain: it matches through the SRV domain alone
    srv_cert = ca.issue(["example.org"]).write(tmp_path, "srv")
    # the address target's certificate names a host its PTR name is not: a name finding, with the submission fix
    ptr_cert = ca.issue(["mail.example.test"]).write(tmp_path, "ptr")
    imaps = FakeServer(bundled_profile("exchange-imaps"), host=SRV_ADDRESS, ssl_context=server_context(*srv_cert))
    submission = FakeServer(
        bundled_profile("exchange-submission-clientfrontend"),
        host=PTR_ADDRESS,
        ssl_context=server_context(*ptr_cert),
        login_delay=0.05,
    )
    async with imaps, submission:
        zone = {
            "_imaps._tcp.example.org.": {"SRV": [f"0 1 {imaps.port} imap.example.net."]},
            "imap.example.net.": {"A": [SRV_ADDRESS]},
            "62.0.0.127.in-addr.arpa.": {"PTR": ["host-62.example.net."]},
        }
        async with LocalDns(zone, address="127.0.0.63") as dns:
            argv = ["scan", "--domain", "example.org", f"submission://{PTR_ADDRESS}:{submission.port}"]
            argv += ["-p", "submission:587", "--nameserver", dns.nameserver, "--ca-file", str(ca_file)]
            argv += ["--timeout", "5", "--no-legacy-tls"]
            settings = settings_from_args(build_parser().parse_args(argv))
            plan = plan_targets(settings)
            scan = Scan(plan.endpoints, probe_options(settings), total=plan.total, **runner_limits(settings, plan))
            app = ScanApp(scan, flush_interval=0.05)
            async with app.run_test(size=(170, 40)) as pilot:
                while app.state != "finished":
                    await pilot.pause(0.05)
                scanned = dict(app.view.results)
                assert set(scanned) == {(SRV_ADDRESS, imaps.port), (PTR_ADDRESS, submission.port)}
                app.reprobe(list(scanned.values()))
                while len(app.last_changes) < 2:
                    await pilot.pause(0.05)
                reprobed = dict(app.view.results)

    by_srv = scanned[(SRV_ADDRESS, imaps.port)]
    assert by_srv.state == "open" and by_srv.srv_domain == "example.org"
    assert by_srv.tls is not None and by_srv.tls.certificate is not None
    assert by_srv.tls.certificate.name_match is True  # through the SRV domain
    by_ptr = scanned[(PTR_ADDRESS, submission.port)]
    assert by_ptr.state == "open" and by_ptr.ptr == "host-62.example.net"
    name_finding = next(f for f in by_ptr.findings if f.id == "cert-name-not-checked")
    assert "host-62.example.net (reverse DNS): mismatch" in name_finding.detail  # judged with the PTR name
    assert "On this submission port" in name_finding.remediation  # the dialect's fix text kept

    assert "  SRV domain:       example.org" in _summary(by_srv)  # what the detail screen shows of them
    assert "  reverse DNS:      host-62.example.net" in _summary(by_ptr)

    assert app.last_changes == {key: [] for key in scanned}  # the TUI says nothing changed ...
    for key, row in scanned.items():  # ... and the rows are the same
        assert _comparable(reprobed[key]) == _comparable(row)
    assert ("62.0.0.127.in-addr.arpa.", "PTR") in dns.queries
