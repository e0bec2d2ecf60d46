"""mailprobe's TLS enumeration and Mozilla-profile verdicts against two oracles: sslyze (its --mozilla_config
checker) and testssl.sh (what it enumerates, item by item).

Run as root (Dovecot and Postfix run privately on 127.0.0.x):
    python benchmarks/tls_oracle.py [--skip-sslyze] [--skip-testssl] [--only modern,legacy]

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

Certificate trust is left out of the comparison (mailprobe trusts the test CA through --ca-file, sslyze through
its custom CA file; both agree on it, but a private CA says nothing about the servers' TLS settings).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scanner.tls.suites import GROUPS, SUITE_CODES, SUITE_NAMES  # noqa: E402
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
# -R renegotiation, -C compression (CRIME), -Z TLS_FALLBACK_SCSV. No Heartbleed, ROBOT and the like.
TESTSSL_SECTIONS = ("-p", "-E", "-P", "-f", "-S", "-R", "-C", "-Z")
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


def testssl(host: ProfileHost, port: int, starttls: str | None, directory: Path) -> TestsslView:
    """One testssl.sh run of the sections above against one target, read from its flat JSON."""
    out = directory / f"testssl-{host.name}-{port}.json"
    # --nodns none: no PTR or CAA look-ups (they would go to the system's resolver); --ip gives the address.
    command = ["testssl", "--quiet", "--warnings", "off", "--color", "0", "--nodns", "none", "--mapping", "iana",
               "--ip", host.address, "--jsonfile", str(out), *TESTSSL_SECTIONS]  # fmt: skip
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
    return view


@dataclass
class Tally:
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
            self.differences.append(f"{where} {what}: mailprobe {ours}, testssl {theirs}")
        else:
            self.unanswered += 1
        tail = f"  {note}" if note else ""
        print(f"    {what:<26} mailprobe {_show(ours):<44} testssl {_show(theirs):<44} {word}{tail}")


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sslyze-venv", default=str(Path.home() / ".cache" / "mailprobe-bench" / "sslyze"))
    parser.add_argument("--skip-sslyze", action="store_true")
    parser.add_argument("--skip-testssl", action="store_true")
    parser.add_argument("--only", default=",".join(ALL_SETUPS), help="set-ups to run (default: all)")
    args = parser.parse_args()
    python = None if args.skip_sslyze else ensure_sslyze(Path(args.sslyze_venv))
    run_testssl = not args.skip_testssl and shutil.which("testssl") is not None
    if not args.skip_testssl and not run_testssl:
        print("testssl not found (Debian: apt-get install testssl.sh); its comparison is skipped")
    directory = Path(tempfile.mkdtemp(prefix="mp-oracle-"))
    directory.chmod(0o755)
    agree = disagree = 0
    tally = Tally()
    for name in args.only.split(","):
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
                if python is not None:
                    started = time.monotonic()
                    oracle = sslyze(python, host, port, starttls)
                    print(f"  {host.address}:{port} sslyze: {time.monotonic() - started:.1f} s")
                    for profile in PROFILES:
                        ours = [
                            d["check"]
                            for d in mozilla[profile]["deviations"]
                            if d["check"] != "certificate_path_validation"
                        ]
                        theirs = [k for k in oracle[profile]["issues"] if k != "certificate_path_validation"]
                        same = (not ours) == (not theirs)
                        agree += same
                        disagree += not same
                        print(
                            f"    {profile:<12} mailprobe {'compliant' if not ours else 'no: ' + ','.join(ours):<60} "
                            f"sslyze {'compliant' if not theirs else 'no: ' + ','.join(theirs):<60} "
                            f"{'agree' if same else 'DIFFER'}"
                        )
                if run_testssl:
                    seen = testssl(host, port, starttls, directory)
                    print(f"  {host.address}:{port} testssl.sh: {seen.seconds:.1f} s ({' '.join(TESTSSL_SECTIONS)})")
                    compare_testssl(f"{name} {port}", config, seen, tally)
    if python is not None:
        print(f"\nsslyze: {agree} verdicts agree, {disagree} differ (3 profiles x {len(TARGETS)} targets per set-up)")
    if run_testssl:
        print(f"testssl.sh: {tally.agree} items agree, {tally.differ} differ, {tally.unanswered} not answered by one")
        for where, counts in tally.per_target.items():
            print(f"  {where:<20} " + ", ".join(f"{n} {word}" for word, n in counts.items()))
        for line in tally.differences:
            print(f"  DIFFER {line}")
    return 0 if disagree == 0 and tally.differ == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
