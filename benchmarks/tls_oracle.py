"""mailprobe's TLS enumeration and Mozilla-profile verdicts against two oracles: sslyze (its --mozilla_config
checker) and testssl.sh (what it enumerates, item by item).

Run as root (Dovecot and Postfix run privately on 127.0.0.x):
    python benchmarks/tls_oracle.py [--skip-sslyze] [--skip-testssl] [--only modern,legacy,fake-heartbleed]

Real Dovecot (993, IMAP over TLS) and Postfix (587, submission with STARTTLS) are set up as Mozilla's modern,
intermediate and old profiles, as a legacy server (TLS 1.0 and a suite without forward secrecy) and as intermediate
with one more curve that only TLS 1.2 negotiates (tests/tls_profile_servers.py). Each target is
scanned by mailprobe, by sslyze and by testssl.sh.

sslyze: one scan per target, then its own checker against each of the three profiles; printed per profile,
compliant or not for each tool and the checks behind each "no". sslyze is AGPL: it is installed into a venv of its
own (outside the project, created on first use) and only ever run as a separate program.

testssl.sh (Debian's package, 3.0.x; it has no Mozilla checker): one run per target of the sections it needs
(TESTSSL_SECTIONS), read from its JSON and compared with mailprobe's tls.configuration: versions, the suites of each
version as sets of code points (with IANA names on both sides), the server's order (whether it imposes one, and
the order itself), the key-exchange groups, the DH size, forward secrecy, extended master secret, secure
renegotiation, compression and TLS_FALLBACK_SCSV. Each item prints agree, DIFFER, or n/a (one tool has no answer:
testssl's check failed, or mailprobe does not ask); the totals and every DIFFER come last. testssl makes no DNS
look-ups (--nodns none).

The three vulnerability checks (tls.configuration's heartbleed, ccs_injection and robot) are compared with
testssl's -H, -I and -BB findings and sslyze's --heartbleed, --openssl_ccs and --robot, on every target and on the
test suite's fakes, which ARE vulnerable (--only fake-heartbleed,fake-ccs,fake-ccs-cbc,fake-robot-strong,
fake-robot-weak,fake-robot-constant): tests/tls/rule_server.py and tests/tls/robot_server.py, served on 127.0.0.4
and 127.0.0.6 from a thread of the benchmark, scanned by mailprobe's TLS inspection (as the tests run it: the fakes
complete no handshake, so there is no login or greeting to scan), by testssl.sh (-p -H -I -BB) and by sslyze (its
connectivity test fails on every fake, so its three checks are then run directly, each reason printed).

Certificate trust is left out of the comparison (mailprobe trusts the test CA through --ca-file, sslyze through
its custom CA file; both agree on it, but a private CA says nothing about the servers' TLS settings).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scanner import certgen  # noqa: E402
from scanner.certgen import Issued  # noqa: E402
from scanner.model import Endpoint, configuration_to_dict  # noqa: E402
from scanner.probe.options import ProbeOptions  # noqa: E402
from scanner.probe.tls_inspect import inspect_tls  # noqa: E402
from scanner.tls.channel import HandshakeInfo  # noqa: E402
from scanner.tls.suites import GROUPS, SUITE_CODES, SUITE_NAMES  # noqa: E402
from tests.tls.robot_server import Behaviour, RobotServer, robot_server  # noqa: E402
from tests.tls.rule_server import Rules, RuleServer, rule_server  # noqa: E402
from tests.tls.test_confirm_rules import POOL  # noqa: E402
from tests.tls.test_robot import RSA_RULES  # noqa: E402
from tests.tls_profile_servers import SETUPS, ProfileHost, profile_host  # noqa: E402

PROFILES = ("modern", "intermediate", "old")
ALL_SETUPS = SETUPS
TARGETS = ((993, None), (587, "smtp"))  # port, STARTTLS protocol
NAME = "mail.mailprobe.test"

# Run by the oracle venv's python: one sslyze scan of one target, judged against each profile by sslyze itself.
_SSLYZE_DRIVER = r"""
import json, sys
from pathlib import Path
from sslyze import (Scanner, ServerScanRequest, ServerNetworkLocation, ServerNetworkConfiguration,
                    ProtocolWithOpportunisticTlsEnum, ScanCommandsExtraArguments, CertificateInfoExtraArgument)
from sslyze.mozilla_tls_profile.tls_config_checker import (MozillaTlsConfiguration, TlsConfigurationEnum,
    check_server_against_tls_configuration, ServerNotCompliantWithTlsConfiguration,
    SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER)
address, port, starttls, name, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
config = ServerNetworkConfiguration(
    tls_server_name_indication=name,
    tls_opportunistic_encryption=ProtocolWithOpportunisticTlsEnum[starttls.upper()] if starttls != "-" else None,
)
request = ServerScanRequest(
    server_location=ServerNetworkLocation(hostname=name, port=port, ip_address=address),
    network_configuration=config,
    scan_commands=SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER,
    scan_commands_extra_arguments=ScanCommandsExtraArguments(
        certificate_info=CertificateInfoExtraArgument(custom_ca_file=Path(ca))
    ),
)
scanner = Scanner()
scanner.queue_scans([request])
out = {}
for result in scanner.get_results():
    for profile in ("modern", "intermediate", "old"):
        try:
            check_server_against_tls_configuration(result, MozillaTlsConfiguration.get(TlsConfigurationEnum(profile)))
            out[profile] = {"compliant": True, "issues": {}}
        except ServerNotCompliantWithTlsConfiguration as exc:
            out[profile] = {"compliant": False, "issues": exc.issues}
        except Exception as exc:
            out[profile] = {"compliant": None, "issues": {"error": f"{type(exc).__name__}: {exc}"}}
print(json.dumps(out))
"""


# Run by the oracle venv's python: sslyze's Heartbleed, CCS injection and ROBOT checks of one target. sslyze runs
# its checks only after its connectivity test (a full handshake with OpenSSL) succeeded; the fakes of the test suite
# never complete one, so when that test fails the driver notes why and, with --direct, runs each check's own
# function anyway, with the connectivity result the test would have given (TLS 1.2, client authentication off).
_SSLYZE_VULN_DRIVER = r"""
import json, sys
from sslyze import (Scanner, ServerScanRequest, ServerNetworkLocation, ServerNetworkConfiguration,
                    ProtocolWithOpportunisticTlsEnum, ScanCommand)
from sslyze.plugins.plugin_base import ScanJobResult
from sslyze.plugins.scan_commands import ScanCommandsRepository
from sslyze.server_connectivity import (ServerConnectivityInfo, ServerTlsProbingResult, TlsVersionEnum,
                                        ClientAuthRequirementEnum)
address, port, starttls, name, direct = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5] == "1"
COMMANDS = {"heartbleed": ScanCommand.HEARTBLEED, "ccs_injection": ScanCommand.OPENSSL_CCS_INJECTION,
            "robot": ScanCommand.ROBOT}
location = ServerNetworkLocation(hostname=name, port=port, ip_address=address)
config = ServerNetworkConfiguration(
    tls_server_name_indication=name,
    tls_opportunistic_encryption=ProtocolWithOpportunisticTlsEnum[starttls.upper()] if starttls != "-" else None,
)

def verdict(key, result):
    if key == "heartbleed":
        return "VULNERABLE" if result.is_vulnerable_to_heartbleed else "not vulnerable"
    if key == "ccs_injection":
        return "VULNERABLE" if result.is_vulnerable_to_ccs_injection else "not vulnerable"
    return result.robot_result.name

def error(exc):
    return f"error: {type(exc).__name__}: {str(exc)[:200]}"

out = {"connectivity": "ok", "direct": False}
scanner = Scanner()
scanner.queue_scans([ServerScanRequest(server_location=location, network_configuration=config,
                                       scan_commands=set(COMMANDS.values()))])
for result in scanner.get_results():
    if result.connectivity_status.name != "COMPLETED":
        out["connectivity"] = "".join(result.connectivity_error_trace.format_exception_only()).strip()[-300:]
        break
    out["highest_version"] = result.connectivity_result.highest_tls_version_supported.name
    for key in COMMANDS:
        attempt = getattr(result.scan_result, "openssl_ccs_injection" if key == "ccs_injection" else key)
        if attempt.status.name == "COMPLETED":
            out[key] = verdict(key, attempt.result)
        else:
            out[key] = f"error: {attempt.error_reason.name}: " + "".join(
                attempt.error_trace.format_exception_only()).strip()[-200:]
if out["connectivity"] != "ok" and direct:
    out["direct"] = True
    info = ServerConnectivityInfo(
        server_location=location, network_configuration=config,
        tls_probing_result=ServerTlsProbingResult(
            highest_tls_version_supported=TlsVersionEnum.TLS_1_2, cipher_suite_supported="ALL",
            client_auth_requirement=ClientAuthRequirementEnum.DISABLED, supports_ecdh_key_exchange=True),
    )
    for key, command in COMMANDS.items():
        implementation = ScanCommandsRepository.get_implementation_cls(command)
        results = []
        for job in implementation.scan_jobs_for_scan_command(info, None):
            try:
                results.append(ScanJobResult(_return_value=job.function_to_call(*job.function_arguments),
                                             _exception=None))
            except Exception as exc:
                results.append(ScanJobResult(_return_value=None, _exception=exc))
        try:
            out[key] = verdict(key, implementation.result_for_completed_scan_jobs(info, results))
        except Exception as exc:
            out[key] = error(exc)
print(json.dumps(out))
"""


def ensure_sslyze(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "sslyze"], check=True)
    return python


def mailprobe(host: ProfileHost) -> dict[int, dict]:
    done = subprocess.run(
        [sys.executable, "-m", "scanner", "scan", host.address, "-p", ",".join(str(p) for p, _ in TARGETS),
         "--ca-file", str(host.ca_file), "--expect-name", NAME, "--source-address", "127.0.0.1", "--format", "json",
         "--no-ptr", "--no-tui", "--fail-on", "none"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    return {row["port"]: row for row in json.loads(done.stdout)["results"]}


def sslyze_vulns(python: Path, address: str, port: int, starttls: str | None, direct: bool) -> dict[str, str]:
    """sslyze's three vulnerability checks of one target (see _SSLYZE_VULN_DRIVER)."""
    done = subprocess.run(
        [str(python), "-c", _SSLYZE_VULN_DRIVER, address, str(port), starttls or "-", NAME, "1" if direct else "0"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    result: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def sslyze(python: Path, host: ProfileHost, port: int, starttls: str | None) -> dict[str, dict]:
    done = subprocess.run(
        [str(python), "-c", _SSLYZE_DRIVER, host.address, str(port), starttls or "-", NAME, str(host.ca_file)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    result: dict[str, dict] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# testssl.sh 3.0's sections run: -p protocols, -E suites per version, -P server order, -f forward secrecy with the
# curves and the DH group, -S the server's defaults (only its TLS extension list is read: extended master secret),
# -R renegotiation, -C compression (CRIME), -Z TLS_FALLBACK_SCSV, and the three vulnerability checks mailprobe runs:
# -H Heartbleed, -I CCS injection, -BB ROBOT.
TESTSSL_VULNS = ("-H", "-I", "-BB")
TESTSSL_SECTIONS = ("-p", "-E", "-P", "-f", "-S", "-R", "-C", "-Z", *TESTSSL_VULNS)
# The fakes of the test suite answer no more than a first flight (and the ROBOT one a key exchange): only the
# protocols (which the vulnerability checks read to choose their version) and the three checks.
TESTSSL_FAKE_SECTIONS = ("-p", *TESTSSL_VULNS)
_TESTSSL_VERSIONS = {"SSLv2": None, "SSLv3": "SSLv3", "TLS1": "TLSv1", "TLS1_1": "TLSv1.1", "TLS1_2": "TLSv1.2",
                     "TLS1_3": "TLSv1.3"}  # fmt: skip
_CIPHER_PROTOCOLS = {"ssl3": "SSLv3", "tls1": "TLSv1", "tls1_1": "TLSv1.1", "tls1_2": "TLSv1.2", "tls1_3": "TLSv1.3"}
# testssl names curves as OpenSSL does; these are the ones whose IANA name differs.
_CURVE_IANA = {"prime256v1": "secp256r1", "prime192v1": "secp192r1", "X25519": "x25519", "X448": "x448"}
# The groups testssl 3.0 asks for: the curves 1-30 (RFC 8422, RFC 7027, RFC 8446) and the RFC 7919 ffdhe groups;
# not the TLS 1.3 brainpool code points (31-33) nor the post-quantum hybrids.
_TESTSSL_GROUPS = frozenset(g.name for code, g in GROUPS.items() if code <= 0x1E or g.kind == "ff")
_CIPHER_LINE = re.compile(r"\sx([0-9a-f]{1,4})\s+(\S+)\s+(\S+)(?:\s+(\d+))?")


@dataclass
class TestsslView:
    """What testssl.sh reported for one target, in mailprobe's terms (IANA names, versions as TLSv1.2)."""

    versions: set[str] = field(default_factory=set)
    sslv2: bool = False
    suites: dict[str, dict[int, str]] = field(default_factory=dict)  # version -> code -> testssl's IANA name
    dh_bits: list[int] = field(default_factory=list)  # of DHE suites (TLS 1.2 and older), from the -E listing
    fs_suites: set[str] = field(default_factory=set)  # testssl's own forward-secrecy list (PFS_ciphers)
    order: dict[str, bool | None] = field(default_factory=dict)  # "legacy" / "TLSv1.3" -> server order?
    orders: dict[str, list[str]] = field(default_factory=dict)  # version -> the server's order
    curves: set[str] = field(default_factory=set)
    dh_group: str = ""
    extensions: str = ""
    renegotiation: str = ""
    client_renegotiation: str = ""
    compression: str = ""
    fallback: str = ""
    vulns: dict[str, str] = field(default_factory=dict)  # heartbleed / CCS / ROBOT -> finding
    seconds: float = 0.0


def _order_flags(finding: str) -> dict[str, bool | None]:
    """testssl's cipher_order finding: server order for TLS 1.3 and for the versions below it."""
    if finding == "server":
        return {"legacy": True, "TLSv1.3": True}
    if finding == "server -- TLS 1.3 client determined":
        return {"legacy": True, "TLSv1.3": False}
    if finding == "server -- < TLS 1.3 client determined":
        return {"legacy": False, "TLSv1.3": True}
    if finding == "NOT a cipher order configured":
        return {"legacy": False, "TLSv1.3": False}
    if finding == "server (TLS 1.3)":
        return {"TLSv1.3": True}
    if finding == "not a cipher order for TLS 1.3 configured":
        return {"TLSv1.3": False}
    return {}


def testssl(
    host: ProfileHost, port: int, starttls: str | None, directory: Path, sections: tuple[str, ...] = TESTSSL_SECTIONS
) -> TestsslView:
    """One testssl.sh run of the sections above against one target, read from its flat JSON."""
    out = directory / f"testssl-{host.name}-{port}.json"
    # --nodns none: no PTR or CAA look-ups (they would go to the system's resolver); --ip gives the address.
    command = ["testssl", "--quiet", "--warnings", "off", "--color", "0", "--nodns", "none", "--mapping", "iana",
               "--ip", host.address, "--jsonfile", str(out), *sections]  # fmt: skip
    command += ["--starttls", starttls, f"{NAME}:{port}"] if starttls else [f"{NAME}:{port}"]
    started = time.monotonic()
    subprocess.run(command, capture_output=True, text=True, timeout=900)
    view = TestsslView(seconds=time.monotonic() - started)
    if not out.exists():
        raise RuntimeError(f"testssl wrote no {out}")
    for item in json.loads(out.read_text()):
        key, finding = item["id"], item["finding"].strip()
        if key in _TESTSSL_VERSIONS:
            offered = finding.startswith("offered")
            if _TESTSSL_VERSIONS[key] is None:
                view.sslv2 = offered
            elif offered:
                view.versions.add(_TESTSSL_VERSIONS[key])
        elif key.startswith("cipher-") and (line := _CIPHER_LINE.search(finding)):
            version = _CIPHER_PROTOCOLS.get(key.removeprefix("cipher-").rsplit("_x", 1)[0])
            if version is None:
                continue  # SSLv2's three-byte suites: mailprobe does not ask SSLv2
            code, name, kx, bits = line.groups()
            view.suites.setdefault(version, {})[int(code, 16)] = name
            if kx == "DH" and bits and version != "TLSv1.3":
                view.dh_bits.append(int(bits))
        elif key == "PFS_ciphers":
            view.fs_suites = set(finding.split())
        elif key == "PFS_ECDHE_curves":
            view.curves |= {_CURVE_IANA.get(c, c) for c in finding.split()}
        elif key == "DH_groups":
            view.dh_group = finding
            view.curves |= {g for g in finding.split() if g.startswith("ffdhe")}
        elif key == "cipher_order":
            view.order = _order_flags(finding)
        elif key.startswith("cipherorder_"):
            view.orders[key.removeprefix("cipherorder_").replace("_", ".")] = finding.split()
        elif key == "TLS_extensions":
            view.extensions = finding
        elif key == "secure_renego":
            view.renegotiation = finding
        elif key == "secure_client_renego":
            view.client_renegotiation = finding
        elif key == "CRIME_TLS":
            view.compression = finding
        elif key == "fallback_SCSV":
            view.fallback = finding
        elif key in ("heartbleed", "CCS", "ROBOT"):
            view.vulns[key] = finding
    return view


@dataclass
class Tally:
    tool: str = "testssl"
    agree: int = 0
    differ: int = 0
    unanswered: int = 0  # one of the tools gives no answer (testssl's check failed, mailprobe does not ask)
    differences: list[str] = field(default_factory=list)
    per_target: dict[str, dict[str, int]] = field(default_factory=dict)  # where -> word -> count

    def item(self, where: str, what: str, ours: object, theirs: object, same: bool | None, note: str = "") -> None:
        word = {True: "agree", False: "DIFFER", None: "n/a"}[same]
        counts = self.per_target.setdefault(where, {"agree": 0, "DIFFER": 0, "n/a": 0})
        counts[word] += 1
        if same is True:
            self.agree += 1
        elif same is False:
            self.differ += 1
            self.differences.append(f"{where} {what}: mailprobe {ours}, {self.tool} {theirs}")
        else:
            self.unanswered += 1
        tail = f"  {note}" if note else ""
        print(f"    {what:<26} mailprobe {_show(ours):<44} {self.tool} {_show(theirs):<44} {word}{tail}")


def _show(value: object) -> str:
    if isinstance(value, (set, frozenset)):
        return "{" + ", ".join(sorted(value)) + "}" if value else "{}"
    text = str(value)
    return text if len(text) <= 44 else text[:41] + "..."


def _code(name: str) -> int:
    """A suite's two bytes from mailprobe's name for it (0x1234 when mailprobe has no name)."""
    return SUITE_CODES[name] if name in SUITE_CODES else int(name, 16)


def _coverage(flags: list[bool]) -> str | None:
    return None if not flags else "all" if all(flags) else "some" if any(flags) else "none"


def compare_testssl(where: str, config: dict, seen: TestsslView, tally: Tally) -> None:
    """mailprobe's tls.configuration against testssl's view of the same target, item by item."""
    ours_versions = set(config["versions"])
    tally.item(where, "versions", ours_versions, seen.versions, ours_versions == seen.versions)
    if seen.sslv2:
        tally.item(where, "SSLv2", "not asked", "offered", None, "mailprobe does not ask SSLv2")
    ours_suites = {v["version"]: v for v in config["suites"]}
    names_differ: list[str] = []
    for version in ("TLSv1.3", "TLSv1.2", "TLSv1.1", "TLSv1", "SSLv3"):
        row = ours_suites.get(version)
        ours = {_code(name) for name in row["suites"]} if row else set()
        theirs = seen.suites.get(version, {})
        if not ours and not theirs:
            continue
        only_ours = sorted(SUITE_NAMES.get(c, hex(c)) for c in ours - set(theirs))
        only_theirs = sorted(theirs[c] for c in set(theirs) - ours)
        tally.item(
            where,
            f"suites {version}",
            f"{len(ours)} suites" + (f", only here {only_ours}" if only_ours else ""),
            f"{len(theirs)} suites" + (f", only here {only_theirs}" if only_theirs else ""),
            ours == set(theirs),
        )
        names_differ += [
            f"{SUITE_NAMES.get(c)}/{theirs[c]}" for c in ours & set(theirs) if SUITE_NAMES.get(c) != theirs[c]
        ]
        # Server order: testssl asks it once for TLS 1.3 and once below (in its default version), lists the order
        # per version only when the server imposes one.
        ours_order = row["server_order"] if row else None
        theirs_order = seen.order.get("TLSv1.3" if version == "TLSv1.3" else "legacy")
        if ours_order is not None or theirs_order is not None:
            tally.item(
                where, f"server order {version}", ours_order, theirs_order,
                None if ours_order is None or theirs_order is None else ours_order == theirs_order,
                "" if ours_order is not None else "mailprobe: fewer than two suites",
            )  # fmt: skip
        if ours_order and theirs_order and version in seen.orders:
            tally.item(where, f"order {version}", "as listed", "as listed", row["suites"] == seen.orders[version])
            if row["suites"] != seen.orders[version]:
                print(f"      mailprobe {row['suites']}\n      testssl   {seen.orders[version]}")
    tally.item(where, "suite names (IANA)", "", "", not names_differ, ", ".join(names_differ))
    ours_groups = set(config["groups"])
    untested = ours_groups - _TESTSSL_GROUPS
    tally.item(
        where, "groups", ours_groups & _TESTSSL_GROUPS, seen.curves, (ours_groups & _TESTSSL_GROUPS) == seen.curves,
        f"not asked by testssl 3.0: {sorted(untested)}" if untested else "",
    )  # fmt: skip
    theirs_dh = min(seen.dh_bits) if seen.dh_bits else None
    if config["dh_bits"] is not None or theirs_dh is not None:
        tally.item(where, "DH size (bits)", config["dh_bits"], f"{theirs_dh} ({seen.dh_group})",
                   config["dh_bits"] == theirs_dh)  # fmt: skip
    if config.get("dh_group") is not None and seen.dh_group:
        theirs_group = _testssl_dh_group(seen.dh_group)
        tally.item(where, "DH group", config["dh_group"], seen.dh_group, config["dh_group"] == theirs_group)
    # Forward secrecy: testssl's own list (it leaves out NULL, 3DES and RC4 suites) against every suite it saw.
    every = {name for by_code in seen.suites.values() for name in by_code.values()}
    theirs_fs = _coverage([name in seen.fs_suites for name in every])
    tally.item(where, "forward secrecy", config["forward_secrecy"], theirs_fs, config["forward_secrecy"] == theirs_fs)
    _flag(tally, where, "secure renegotiation", config["secure_renegotiation"], seen.renegotiation,
          ("supported",), ("not supported", "VULNERABLE"))  # fmt: skip
    if seen.client_renegotiation:
        tally.item(where, "client renegotiation", "not asked", seen.client_renegotiation, None,
                   "mailprobe never completes a handshake")  # fmt: skip
    if config["extended_master_secret"] is not None:
        theirs_ems = "extended master secret/#23" in seen.extensions
        tally.item(where, "extended master secret", config["extended_master_secret"], theirs_ems,
                   config["extended_master_secret"] == theirs_ems)  # fmt: skip
    _flag(tally, where, "compression", config["compression"], seen.compression, ("VULNERABLE",), ("not vulnerable",))
    _flag(tally, where, "TLS_FALLBACK_SCSV", config["fallback_scsv"], seen.fallback, ("supported", "Probably oK"),
          ("NOT supported",))  # fmt: skip


# testssl's words for "does not apply": a TLS 1.3-only server has no renegotiation, compression or fallback.
_MOOT = ("TLS 1.3 only", "only TLS 1.3")


def _flag(tally: Tally, where: str, what: str, ours: bool | None, finding: str, yes: tuple[str, ...],
          no: tuple[str, ...]) -> None:  # fmt: skip
    """A yes/no item: agree when both say the same, or both say it does not apply (mailprobe: null)."""
    if finding.startswith(_MOOT):
        same = True if ours is None else None
    else:
        theirs = True if finding.startswith(yes) else False if finding.startswith(no) else None
        same = None if ours is None or theirs is None else ours == theirs
    note = "testssl gave no verdict" if same is None and ours is not None else ""
    tally.item(where, what, ours, finding or "-", same, note)


# testssl's names of the standard DH groups ("RFC7919/ffdhe2048", "RFC3526/Oakley Group 16", ...) as mailprobe's
_OAKLEY = {"1": "modp768", "2": "modp1024", "5": "modp1536", "14": "modp2048", "15": "modp3072", "16": "modp4096",
           "17": "modp6144", "18": "modp8192"}  # fmt: skip


def _testssl_dh_group(finding: str) -> str:
    if found := re.search(r"ffdhe(\d+)", finding):
        return f"ffdhe{found.group(1)}"
    if found := re.search(r"Oakley Group (\d+)", finding):
        return _OAKLEY.get(found.group(1), finding)
    if found := re.search(r"RFC ?5114.*?(\d{4})-bit.*?(\d{3})-bit", finding):
        return f"rfc5114_{found.group(1)}_{found.group(2)}"
    return "custom" if "No DH group" not in finding and "unknown" not in finding.lower() else finding


# --- Heartbleed, CCS injection, ROBOT -----------------------------------------------------------------------------

VULN_CHECKS = ("heartbleed", "ccs_injection", "robot")
_TESTSSL_VULN_IDS = {"heartbleed": "heartbleed", "ccs_injection": "CCS", "robot": "ROBOT"}


def _mailprobe_vuln(config: dict, check: str) -> tuple[str, str | None]:
    """mailprobe's verdict as shown, and as compared: vulnerable (with the ROBOT oracle's strength), not vulnerable
    (not_applicable counts as such: no TLS 1.2 or older, or no RSA key exchange, is what the tools call not
    vulnerable too), or None (inconclusive, not tested: no verdict to compare)."""
    found = config.get(check) or {"verdict": "not_tested"}
    verdict = found["verdict"]
    if verdict == "vulnerable":
        oracle = found.get("oracle")
        return (f"vulnerable ({oracle})", f"vulnerable {oracle}") if oracle else ("vulnerable", "vulnerable")
    if verdict in ("not_vulnerable", "not_applicable"):
        return verdict, "not vulnerable"
    return verdict, None


def _testssl_vuln(check: str, finding: str) -> str | None:
    if check == "robot" and finding.startswith("VULNERABLE, but the attack would take too long"):
        return "vulnerable weak"  # testssl's words for what the ROBOT paper calls a weak oracle
    if finding.startswith(("VULNERABLE", "likely VULNERABLE")):
        return "vulnerable strong" if check == "robot" else "vulnerable"
    if finding.startswith(("not vulnerable", "probably not vulnerable")):
        return "not vulnerable"
    return None  # "test failed", a local problem, or no finding at all


_SSLYZE_ROBOT = {
    "VULNERABLE_STRONG_ORACLE": "vulnerable strong",
    "VULNERABLE_WEAK_ORACLE": "vulnerable weak",
    "NOT_VULNERABLE_NO_ORACLE": "not vulnerable",
    "NOT_VULNERABLE_RSA_NOT_SUPPORTED": "not vulnerable",
}


def _sslyze_vuln(check: str, finding: str) -> str | None:
    if check == "robot":
        return _SSLYZE_ROBOT.get(finding)
    return {"VULNERABLE": "vulnerable", "not vulnerable": "not vulnerable"}.get(finding)


def compare_vulns(where: str, config: dict, seen: TestsslView | None, oracle: dict[str, str] | None,
                  testssl_tally: Tally, sslyze_tally: Tally, notes: dict[str, str] | None = None) -> None:  # fmt: skip
    """mailprobe's heartbleed, ccs_injection and robot verdicts against testssl's and sslyze's, one item a check and
    a tool. ``notes``: what to print after an item (the reason a fake target is judged as it is)."""
    for check in VULN_CHECKS:
        shown, ours = _mailprobe_vuln(config, check)
        for tally, finding, theirs in (
            (testssl_tally, seen, seen and _testssl_vuln(check, seen.vulns.get(_TESTSSL_VULN_IDS[check], ""))),
            (sslyze_tally, oracle, oracle and _sslyze_vuln(check, oracle.get(check, ""))),
        ):
            if finding is None:
                continue
            text = finding.vulns.get(_TESTSSL_VULN_IDS[check], "-") if isinstance(finding, TestsslView) else (
                ("(direct) " if finding.get("direct") else "") + finding.get(check, "-"))  # fmt: skip
            same = None if ours is None or theirs is None else ours == theirs
            note = (notes or {}).get(f"{tally.tool} {check}", "")
            if tally is sslyze_tally and check != "robot" and oracle and oracle.get("highest_version") == "TLS_1_3":
                note = "sslyze sends no probe to a server with TLS 1.3 (it assumes a fixed OpenSSL)"
            if same is None and not note:
                note = f"{tally.tool} gave no verdict" if ours is not None else "mailprobe gave no verdict"
            tally.item(where, check, shown, text, same, note)


# --- the test suite's vulnerable fakes, run standalone on loopback ---------------------------------------------------


@dataclass(frozen=True)
class Fake:
    why: str
    rules: Rules
    behaviour: Behaviour | None = None  # a tests/tls/robot_server.py server; None: tests/tls/rule_server.py
    # what testssl's and sslyze's verdicts on this fake rest on, printed after their items ("tool check" -> reason)
    notes: dict[str, str] = field(default_factory=dict)


# Measured: sslyze's ROBOT check first reads the RSA key through a real OpenSSL handshake with an RSA suite. The fake
# decrypts that key exchange (a conformant padding) but never derives keys or checks the Finished, so it answers
# bad_record_mac; sslyze takes the failed handshake (ServerRejectedTlsHandshake) for "no RSA key exchange", although
# it received the certificate. A real server completes that handshake.
_ROBOT_NOTE = "sslyze: the fake answers its full RSA handshake with bad_record_mac, read as no RSA support"
# Measured: testssl's CCS hello (no extensions; ECDHE, DHE and RSA CBC suites) matches none of POOL's suites for the
# fake (its ECDHE wants a supported_groups extension), so the fake refuses it with handshake_failure and, unlike
# OpenSSL, keeps reading: the bad_record_mac testssl reads comes after a refused hello. fake-ccs-cbc shows the same
# verdict after a real flight.
_CCS_NOTE = "testssl's hello was refused (handshake_failure); the fake kept reading: see fake-ccs-cbc"
_FAKE_NOTES = {
    "sslyze heartbleed": "sslyze's connectivity test needs a full handshake: see the connectivity line",
    "sslyze ccs_injection": "sslyze's connectivity test needs a full handshake: see the connectivity line",
}
FAKES: dict[str, Fake] = {
    "fake-heartbleed": Fake(
        "tests/tls/rule_server.py as OpenSSL 1.0.1f's heartbeat (the test suite's heartbleed-only server)",
        dataclasses.replace(POOL, heartbeat="bleeds"), notes=_FAKE_NOTES,
    ),
    "fake-ccs": Fake(
        "tests/tls/rule_server.py taking an early ChangeCipherSpec as before OpenSSL 1.0.1h (ccs-only server)",
        dataclasses.replace(POOL, early_ccs="taken"), notes={**_FAKE_NOTES, "testssl ccs_injection": _CCS_NOTE},
    ),
    # The same with one suite testssl's CCS hello offers (it has no supported_groups extension, so none of POOL's
    # ECDHE suites, and no GCM suite): the check then runs after a real flight rather than after a refused hello.
    "fake-ccs-cbc": Fake(
        "fake-ccs plus TLS_DHE_RSA_WITH_AES_128_CBC_SHA, a suite of testssl's CCS hello (benchmark only)",
        dataclasses.replace(
            POOL,
            early_ccs="taken",
            suites={**POOL.suites, "TLSv1.2": (*POOL.suites["TLSv1.2"], "TLS_DHE_RSA_WITH_AES_128_CBC_SHA")},
        ),
        notes=_FAKE_NOTES,
    ),
    "fake-robot-strong": Fake("tests/tls/robot_server.py, a strong Bleichenbacher oracle", RSA_RULES, "strong",
                              {"sslyze robot": _ROBOT_NOTE}),
    "fake-robot-weak": Fake("tests/tls/robot_server.py, a weak Bleichenbacher oracle", RSA_RULES, "weak",
                            {"sslyze robot": _ROBOT_NOTE}),
    "fake-robot-constant": Fake("tests/tls/robot_server.py, one alert whatever the padding (not vulnerable)",
                                RSA_RULES, "constant", {"sslyze robot": _ROBOT_NOTE}),
}  # fmt: skip


@contextlib.contextmanager
def running_fake(fake: Fake, issued: Issued) -> Iterator[RuleServer | RobotServer]:
    """The fake served by an event loop of its own in a thread, while the tools run as separate programs."""
    loop = asyncio.new_event_loop()
    # the fakes parse no SSLv2 hello (testssl -p sends one): such a connection just closes, without a traceback
    loop.set_exception_handler(lambda _loop, _context: None)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server_cm = rule_server(fake.rules) if fake.behaviour is None else robot_server(fake.rules, issued, fake.behaviour)
    try:
        server = asyncio.run_coroutine_threadsafe(server_cm.__aenter__(), loop).result()
        try:
            yield server
        finally:
            asyncio.run_coroutine_threadsafe(server_cm.__aexit__(None, None, None), loop).result()
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def mailprobe_fake(server: RuleServer | RobotServer, issued: Issued) -> dict:
    """mailprobe's TLS inspection of a fake, as a scan runs it after its handshake (the test suite's way: the fakes
    complete no handshake, so the handshake's facts are given, with the fake's certificate chain)."""
    endpoint = Endpoint(server.host, server.host, server.port, "imap", "implicit", name=NAME)
    handshake = HandshakeInfo("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", [issued.cert_der], NAME)
    options = ProbeOptions(legacy_tls=False, tls_enumeration=True, tls_timeout=2.0)
    info, _ = asyncio.run(inspect_tls(endpoint, options, handshake, software=None, opener=server.open))
    assert info.configuration is not None
    return configuration_to_dict(info.configuration)


def scan_fake(name: str, python: Path | None, run_testssl: bool, directory: Path, testssl_tally: Tally,
              sslyze_tally: Tally) -> None:  # fmt: skip
    fake = FAKES[name]
    issued = certgen.make_ca("mailprobe oracle fake CA").issue([NAME])
    with running_fake(fake, issued) as server:
        print(f"\n== {name}: {fake.why}")
        started = time.monotonic()
        config = mailprobe_fake(server, issued)
        print(f"  {server.host}:{server.port} mailprobe: {config['handshakes']} handshakes + "
              f"{(config.get('robot') or {}).get('connections', 0)} ROBOT connections, "
              f"{time.monotonic() - started:.1f} s")  # fmt: skip
        oracle = None
        if python is not None:
            started = time.monotonic()
            oracle = sslyze_vulns(python, server.host, server.port, None, direct=True)
            print(
                f"  {server.host}:{server.port} sslyze: {time.monotonic() - started:.1f} s, connectivity test: "
                f"{oracle['connectivity']}" + ("; checks run directly (--direct)" if oracle["direct"] else "")
            )
        seen = None
        if run_testssl:
            host = ProfileHost(name, server.host, Path("/dev/null"), {}, "", "")
            seen = testssl(host, server.port, None, directory, TESTSSL_FAKE_SECTIONS)
            print(f"  {server.host}:{server.port} testssl.sh: {seen.seconds:.1f} s ({' '.join(TESTSSL_FAKE_SECTIONS)}),"
                  f" versions {sorted(seen.versions)}")  # fmt: skip
        compare_vulns(name, config, seen, oracle, testssl_tally, sslyze_tally, fake.notes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sslyze-venv", default=str(Path.home() / ".cache" / "mailprobe-bench" / "sslyze"))
    parser.add_argument("--skip-sslyze", action="store_true")
    parser.add_argument("--skip-testssl", action="store_true")
    parser.add_argument(
        "--only", default=",".join([*ALL_SETUPS, *FAKES]), help="set-ups and fakes to run (default: all)"
    )
    args = parser.parse_args()
    python = None if args.skip_sslyze else ensure_sslyze(Path(args.sslyze_venv))
    run_testssl = not args.skip_testssl and shutil.which("testssl") is not None
    if not args.skip_testssl and not run_testssl:
        print("testssl not found (Debian: apt-get install testssl.sh); its comparison is skipped")
    directory = Path(tempfile.mkdtemp(prefix="mp-oracle-"))
    directory.chmod(0o755)
    agree = disagree = 0
    tally = Tally()
    vulns_testssl, vulns_sslyze = Tally(), Tally(tool="sslyze")
    for name in args.only.split(","):
        if name in FAKES:
            scan_fake(name, python, run_testssl, directory, vulns_testssl, vulns_sslyze)
            continue
        with profile_host(name, directory) as host:
            started = time.monotonic()
            rows = mailprobe(host)
            took = time.monotonic() - started
            print(f"\n== {name}: {ALL_SETUPS[name].why}")
            for port, starttls in TARGETS:
                config = rows[port]["tls"]["configuration"]
                mozilla = rows[port]["tls"]["mozilla"]
                print(
                    f"  {host.address}:{port} mailprobe: {config['handshakes']} handshakes, "
                    f"{config['duration_ms']} ms (scan {took:.1f} s), summary {mozilla['summary']}"
                )
                oracle = None
                if python is not None:
                    started = time.monotonic()
                    verdicts = sslyze(python, host, port, starttls)
                    print(f"  {host.address}:{port} sslyze: {time.monotonic() - started:.1f} s")
                    for profile in PROFILES:
                        ours = [
                            d["check"]
                            for d in mozilla[profile]["deviations"]
                            if d["check"] != "certificate_path_validation"
                        ]
                        theirs = [k for k in verdicts[profile]["issues"] if k != "certificate_path_validation"]
                        same = (not ours) == (not theirs)
                        agree += same
                        disagree += not same
                        print(
                            f"    {profile:<12} mailprobe {'compliant' if not ours else 'no: ' + ','.join(ours):<60} "
                            f"sslyze {'compliant' if not theirs else 'no: ' + ','.join(theirs):<60} "
                            f"{'agree' if same else 'DIFFER'}"
                        )
                    started = time.monotonic()
                    oracle = sslyze_vulns(python, host.address, port, starttls, direct=False)
                    print(f"  {host.address}:{port} sslyze --heartbleed --openssl_ccs --robot: "
                          f"{time.monotonic() - started:.1f} s, connectivity {oracle['connectivity']}")  # fmt: skip
                seen = None
                if run_testssl:
                    seen = testssl(host, port, starttls, directory)
                    print(f"  {host.address}:{port} testssl.sh: {seen.seconds:.1f} s ({' '.join(TESTSSL_SECTIONS)})")
                    compare_testssl(f"{name} {port}", config, seen, tally)
                print("  vulnerability checks:")
                compare_vulns(f"{name} {port}", config, seen, oracle, vulns_testssl, vulns_sslyze)
    if python is not None and agree + disagree:
        print(f"\nsslyze: {agree} verdicts agree, {disagree} differ (3 profiles x {len(TARGETS)} targets per set-up)")
    if run_testssl and tally.per_target:
        print(f"testssl.sh: {tally.agree} items agree, {tally.differ} differ, {tally.unanswered} not answered by one")
        for where, counts in tally.per_target.items():
            print(f"  {where:<20} " + ", ".join(f"{n} {word}" for word, n in counts.items()))
        for line in tally.differences:
            print(f"  DIFFER {line}")
    for vulns in (vulns_testssl, vulns_sslyze):
        if not vulns.per_target:
            continue
        print(f"{vulns.tool} vulnerability checks (heartbleed, ccs_injection, robot): {vulns.agree} agree, "
              f"{vulns.differ} differ, {vulns.unanswered} not answered by one")  # fmt: skip
        for where, counts in vulns.per_target.items():
            print(f"  {where:<20} " + ", ".join(f"{n} {word}" for word, n in counts.items()))
        for line in vulns.differences:
            print(f"  DIFFER {line}")
    differ = tally.differ + vulns_testssl.differ + vulns_sslyze.differ
    return 0 if disagree == 0 and differ == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
