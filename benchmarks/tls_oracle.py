"""mailprobe's Mozilla-profile verdicts against the oracles: sslyze (its --mozilla_config checker) and testssl.sh.

Run as root (Dovecot and Postfix run privately on 127.0.0.x):  python benchmarks/tls_oracle.py [--skip-testssl]

Real Dovecot (993, IMAP over TLS) and Postfix (587, submission with STARTTLS) are set up as Mozilla's modern,
intermediate and old profiles and as a legacy server (TLS 1.0 and a suite without forward secrecy); see
tests/tls_profile_servers.py. Each is scanned by mailprobe and by sslyze (one scan per target, then sslyze's own
checker against each of the three profiles), and testssl.sh lists what it sees; the table printed says, per target
and profile, compliant or not for each tool and the checks behind each "no". sslyze is AGPL: it is installed into a
venv of its own (outside the project, created on first use) and only ever run as a separate program.

Certificate trust is left out of the comparison (mailprobe trusts the test CA through --ca-file, sslyze through
its custom CA file; both agree on it, but a private CA says nothing about the servers' TLS settings).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.tls_profile_servers import SETUPS, ProfileHost, profile_host  # noqa: E402

PROFILES = ("modern", "intermediate", "old")
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
    return {row["port"]: row for row in json.loads(done.stdout)}


def sslyze(python: Path, host: ProfileHost, port: int, starttls: str | None) -> dict[str, dict]:
    done = subprocess.run(
        [str(python), "-c", _SSLYZE_DRIVER, host.address, str(port), starttls or "-", NAME, str(host.ca_file)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    result: dict[str, dict] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def testssl(host: ProfileHost, port: int, starttls: str | None, directory: Path) -> dict[str, str]:
    """testssl.sh's protocol and cipher lines (it has no Mozilla checker): what an auditor would read beside."""
    out = directory / f"testssl-{host.name}-{port}.json"
    command = ["testssl", "--quiet", "--warnings", "off", "--ip", host.address, "--jsonfile", str(out), "-p", "-E"]
    command += ["--starttls", starttls, f"{NAME}:{port}"] if starttls else [f"{NAME}:{port}"]
    subprocess.run(command, capture_output=True, text=True, timeout=900)
    seen: dict[str, str] = {}
    for item in json.loads(out.read_text()) if out.exists() else []:
        if item["id"] in ("SSLv3", "TLS1", "TLS1_1", "TLS1_2", "TLS1_3"):
            seen[item["id"]] = item["finding"]
        elif item["id"].startswith("cipher-"):
            seen.setdefault("suites", "")
            seen["suites"] += item["finding"].split()[-1] + " "
    return seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sslyze-venv", default=str(Path.home() / ".cache" / "mailprobe-bench" / "sslyze"))
    parser.add_argument("--skip-testssl", action="store_true")
    parser.add_argument("--only", default=",".join(SETUPS), help="set-ups to run (default: all)")
    args = parser.parse_args()
    python = ensure_sslyze(Path(args.sslyze_venv))
    run_testssl = not args.skip_testssl and shutil.which("testssl") is not None
    directory = Path(tempfile.mkdtemp(prefix="mp-oracle-"))
    directory.chmod(0o755)
    agree = disagree = 0
    for name in args.only.split(","):
        with profile_host(name, directory) as host:
            started = time.monotonic()
            rows = mailprobe(host)
            took = time.monotonic() - started
            print(f"\n== {name}: {SETUPS[name].why}")
            for port, starttls in TARGETS:
                config = rows[port]["tls"]["configuration"]
                mozilla = rows[port]["tls"]["mozilla"]
                print(
                    f"  {host.address}:{port} mailprobe: {config['handshakes']} handshakes, "
                    f"{config['duration_ms']} ms (scan {took:.1f} s), summary {mozilla['summary']}"
                )
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
                    versions = [
                        v for v in ("SSLv3", "TLS1", "TLS1_1", "TLS1_2", "TLS1_3") if "not" not in seen.get(v, "not")
                    ]
                    print(f"    testssl.sh: versions offered {versions}; suites {seen.get('suites', '').strip()}")
                    print(
                        f"    mailprobe:  versions {config['versions']}; suites "
                        + " ".join(s for v in config["suites"] for s in v["suites"])
                    )
    print(f"\n{agree} verdicts agree, {disagree} differ (3 profiles x {len(TARGETS)} targets per set-up)")
    return 0 if disagree == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
