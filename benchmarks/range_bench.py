"""Range benchmark: mailprobe against nmap (and sslyze) on simulated ranges, all inside a network namespace.

Run as root (it creates a network namespace):  python benchmarks/range_bench.py [--only mixed,dark,live,dead]

Inside a namespace of its own (nothing leaves it; its only interface is lo) one real Dovecot listens on every
address (110/143/993/995, STARTTLS offered, plaintext login refused, certificate from scanner.certgen trusted with
--ca-file) and nftables shapes the ranges:
  mixed  127.1.0.0/22   1,024 addresses: every 16th live (64), every 4th answers SYNs with a reset (256), the
                        other 704 silently dropped
  dark   127.3.0.0/22   one /24 laid out as above (16 live, 64 reset), the three other /24s entirely dropped
  live   127.4.0.0/26, 127.5.0.0/24, 127.6.0.0/22: every address live (256, 1,024 and 4,096 endpoints)
  dead   127.2.0.0/16   65,536 addresses, all dropped but 64 live hosts (262,144 endpoints), with the connect
                        scan and, when installed, with the SYN front end (--discover zmap, --discover masscan)

mailprobe and nmap (-Pn -n -sT -T4 -p110,143,993,995 --script imap-capabilities,pop3-capabilities,ssl-cert) take
turns on the mixed and dark layouts (--repeat, medians compared); on the live ranges sslyze (--certinfo, installed
into a venv of its own under the benchmark's directory) joins them. Wall time, CPU and the peak RSS of the whole
process tree are printed with ratios. Everything is torn down at the end (Dovecot killed, namespace deleted), also
on error or Ctrl-C.

Dovecot note: one Dovecot stands in for every server, so its per-client-IP auth penalty (anvil) is switched off
(every probe comes from 127.0.0.1), and its login processes run in high-performance mode so thousands of hosts'
worth of connections are not refused by one server's process limit. The fixed 2-second auth_failure_delay stays,
as on a real server.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RANGE = ipaddress.IPv4Network("127.1.0.0/22")  # mixed
DARK = ipaddress.IPv4Network("127.3.0.0/22")
BIG = ipaddress.IPv4Network("127.2.0.0/16")
LIVE = {
    256: ipaddress.IPv4Network("127.4.0.0/26"),
    1024: ipaddress.IPv4Network("127.5.0.0/24"),
    4096: ipaddress.IPv4Network("127.6.0.0/22"),
}
PORTS = (110, 143, 993, 995)
NAME = "mail.bench.test"  # the certificate's name, given to mailprobe as --expect-name


def live_addresses(network: ipaddress.IPv4Network = RANGE) -> list[str]:
    return [str(a) for i, a in enumerate(network) if i % 16 == 1]


def reset_addresses(network: ipaddress.IPv4Network = RANGE) -> list[str]:
    return [str(a) for i, a in enumerate(network) if i % 4 == 2]


def big_live_addresses() -> list[str]:
    """64 live hosts spread over the /16, as on a sparse real range."""
    return [str(a) for i, a in enumerate(BIG) if i % 1024 == 1]


def dark_lit() -> ipaddress.IPv4Network:
    return next(DARK.subnets(new_prefix=24))


def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {done.returncode}: {done.stderr.strip()}")
    return done


@dataclass
class Measured:
    wall: float
    peak_rss_mb: float
    returncode: int
    cpu: float = 0.0  # user + system seconds of the process and the children it waited for
    peak_pss_mb: float = 0.0  # the same peak with shared pages split between the processes sharing them
    stderr: str = ""


def measure(cmd: list[str], *, stdout: object = subprocess.DEVNULL, timeout: float = 3600) -> Measured:
    """Run cmd; return wall time, CPU and the most memory the whole process group held at once, sampled every
    20 ms (`ip netns exec` execs in place)."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE, cwd=ROOT, start_new_session=True)  # type: ignore[arg-type]
    deadline = start + timeout
    together = together_pss = 0  # the most the whole process group held at once (mailprobe's workers are forks)
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        rss, pss = session_memory_kb(proc.pid)
        together, together_pss = max(together, rss), max(together_pss, pss)
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.02)
    wall = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode not in (0, 1):  # mailprobe exits 1 when it has findings
        print(err, file=sys.stderr)
    elif err.strip():
        print("    " + err.strip().splitlines()[-1], file=sys.stderr)
    # Only the sampled figures: wait4's ru_maxrss also counts the forked copy of this (large) process before exec.
    return Measured(wall, together / 1024, proc.returncode, usage.ru_utime + usage.ru_stime, together_pss / 1024, err)


def session_memory_kb(sid: int) -> tuple[int, int]:
    """(sum of RSS, sum of PSS) over the processes of session ``sid`` (the measured command and every process it
    forked). RSS counts the pages forked workers share with their parent once per process; PSS splits them."""
    rss = pss = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) != sid:  # field 6 of stat: the session id
                continue
            for line in (stat.parent / "smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return rss, pss


class Bench:
    """The namespace, its nftables rules and its Dovecot; close() undoes all of it."""

    def __init__(self) -> None:
        self.ns = f"mpbench-{os.getpid()}"
        self.dir = Path(tempfile.mkdtemp(prefix="mp-rangebench-"))
        self.dir.chmod(0o755)  # Dovecot's unprivileged processes read config and passwd files here
        self.dovecot: subprocess.Popen[bytes] | None = None
        self.ns_made = False
        self.ca_file: Path | None = None

    # -- set-up -------------------------------------------------------------------------------------------------

    def exec_prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.ns]

    def make_namespace(self) -> None:
        run(["ip", "netns", "add", self.ns])
        self.ns_made = True
        # masscan sends frames to a router MAC and the kernel takes only those addressed to lo's own: lo needs one
        run([*self.exec_prefix(), "ip", "link", "set", "dev", "lo", "address", "02:00:00:00:00:02"])
        run([*self.exec_prefix(), "ip", "link", "set", "lo", "up"])
        # With lo up, the kernel's `local 127.0.0.0/8` route already delivers every simulated address to lo, with
        # 127.0.0.1 as the source. (Adding 127.1.0.0/22 to lo would make 127.1.0.0 the source of the scan, and the
        # drop rules below would then eat the replies.)

    def firewall(self) -> None:
        lit = dark_lit()
        live = ", ".join(live_addresses() + live_addresses(lit) + big_live_addresses())
        reset = ", ".join(reset_addresses() + reset_addresses(lit))
        rules = f"""
table ip mpbench {{
  set live_hosts {{ type ipv4_addr; elements = {{ {live} }} }}
  set reset_hosts {{ type ipv4_addr; elements = {{ {reset} }} }}
  chain input {{
    type filter hook input priority 0; policy accept;
    ip daddr @live_hosts accept
    ip daddr @reset_hosts tcp flags & (syn | ack) == syn reject with tcp reset
    ip daddr {{ {RANGE}, {DARK}, {BIG} }} tcp flags & (syn | ack) == syn drop
  }}
}}
"""
        path = self.dir / "rules.nft"
        path.write_text(rules)
        run([*self.exec_prefix(), "nft", "-f", str(path)])
        # SYN scanners send raw frames on lo: the kernel must route 127/8 arriving that way (route_localnet) and
        # accept 127.0.0.1 as their source (accept_local). Only inside this namespace.
        run(
            [
                *self.exec_prefix(),
                "sysctl",
                "-qw",
                "net.ipv4.conf.all.route_localnet=1",
                "net.ipv4.conf.lo.route_localnet=1",
                "net.ipv4.conf.lo.accept_local=1",
            ]
        )

    def start_dovecot(self) -> None:
        from scanner import certgen

        ca = certgen.make_ca("mailprobe bench CA")
        leaf = ca.issue([NAME])
        cert, key = leaf.write(self.dir, "server")
        self.ca_file = ca.write(self.dir, "ca")  # mailprobe gets it as --ca-file: the chain is then trusted
        user = f"mailprobe-{secrets.token_hex(4)}"
        passwd = self.dir / "passwd"
        passwd.write_text(f"{user}:{{PLAIN}}{secrets.token_urlsafe(12)}:65534:65534::{self.dir}/mail::\n")
        passwd.chmod(0o644)
        version = _dovecot_version()
        config = self.dir / "dovecot.conf"
        config.write_text(_dovecot_config(version, self.dir, ["*"], Path(cert), Path(key), passwd))
        log = self.dir / "dovecot.log"
        self.dovecot = subprocess.Popen(
            [*self.exec_prefix(), "dovecot", "-c", str(config), "-F"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.dovecot.poll() is not None:
                err = self.dovecot.stderr.read().decode() if self.dovecot.stderr else ""
                raise RuntimeError(f"dovecot exited: {err} {log.read_text() if log.exists() else ''}")
            if self._listening() >= len(PORTS):
                return
            time.sleep(0.1)
        raise RuntimeError("dovecot did not listen within 20 s")

    def _listening(self) -> int:
        out = run([*self.exec_prefix(), "ss", "-Hltn"]).stdout
        return sum(1 for line in out.splitlines() if re.search(r"(\*|0\.0\.0\.0):(110|143|993|995)\b", line))

    # -- tear-down ----------------------------------------------------------------------------------------------

    def dovecot_cpu(self) -> float:
        """CPU seconds used so far by the Dovecot processes (master, login, auth, ...) of this bench."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                text = stat.read_text()
            except OSError:
                continue
            name, rest = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :].split()
            if name in {"dovecot", "imap-login", "pop3-login", "auth", "config", "log", "anvil", "stats"}:
                total += int(rest[11]) + int(rest[12]) + int(rest[13]) + int(rest[14])  # utime stime cutime cstime
        return total / ticks

    def close(self) -> None:
        if self.dovecot is not None and self.dovecot.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.dovecot.pid, signal.SIGTERM)
            try:
                self.dovecot.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.dovecot.pid, signal.SIGKILL)
                self.dovecot.wait(5)
        if self.ns_made:
            # any process still inside (a Dovecot child that escaped its group) dies with the namespace
            pids = subprocess.run(["ip", "netns", "pids", self.ns], capture_output=True, text=True).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
            self.ns_made = False
        shutil.rmtree(self.dir, ignore_errors=True)


def _dovecot_version() -> tuple[int, int]:
    out = run(["dovecot", "--version"]).stdout
    m = re.match(r"\s*(\d+)\.(\d+)", out)
    if not m:
        raise RuntimeError(f"cannot read the Dovecot version from {out!r}")
    return int(m.group(1)), int(m.group(2))


def _dovecot_config(
    version: tuple[int, int], root: Path, addresses: list[str], cert: Path, key: Path, passwd: Path
) -> str:
    login = """
  service_count = 0
  process_min_avail = 2
  client_limit = 8192
"""
    common = f"""# mailprobe range benchmark: a throwaway Dovecot inside a private network namespace
instance_name = mpbench-{root.name}
base_dir = {root}/run
state_dir = {root}/state
listen = {", ".join(addresses)}
protocols = imap pop3
ssl = yes
log_path = {root}/dovecot.log
auth_mechanisms = plain login
default_client_limit = 16384
default_process_limit = 1024
service imap-login {{
  inet_listener imap {{
    port = 143
  }}
  inet_listener imaps {{
    port = 993
    ssl = yes
  }}{login}}}
service pop3-login {{
  inet_listener pop3 {{
    port = 110
  }}
  inet_listener pop3s {{
    port = 995
    ssl = yes
  }}{login}}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""
    if version >= (2, 4):
        return f"""dovecot_config_version = {version[0]}.{version[1]}.0
dovecot_storage_version = {version[0]}.{version[1]}.0
{common}auth_allow_cleartext = no
ssl_server_cert_file = {cert}
ssl_server_key_file = {key}
passdb passwd-file {{
  passwd_file_path = {passwd}
  default_password_scheme = PLAIN
}}
userdb passwd-file {{
  passwd_file_path = {passwd}
}}
"""
    dh = next((p for p in ("/usr/share/dovecot/dh.pem", "/etc/dovecot/dh.pem") if os.path.isfile(p)), None)
    return f"""{common}disable_plaintext_auth = yes
ssl_cert = <{cert}
ssl_key = <{key}
{f"ssl_dh = <{dh}" if dh else ""}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {passwd}
}}
userdb {{
  driver = passwd-file
  args = {passwd}
}}
"""


# -- the runs ----------------------------------------------------------------------------------------------------


def mailprobe_cmd(bench: Bench, target: str, out: Path, timeout: float, extra: list[str]) -> list[str]:
    return [
        *bench.exec_prefix(),
        sys.executable,
        "-m",
        "scanner",
        "scan",
        target,
        "--no-tui",
        "-o",
        str(out),
        "--timeout",
        str(timeout),
        "--no-ptr",
        "--fail-on",
        "none",
        *extra,
    ]


def summarise_mailprobe(path: Path) -> dict[str, int]:
    states: dict[str, int] = {}
    complete = with_cert = 0
    verdicts: dict[str, int] = {}
    latest: dict[tuple[str, int], dict] = {}  # a row written again (host findings a later port brought) counts once
    injection: dict[str, int] = {}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        if row.get("record") == "scan" or "state" not in row:  # the scan line, and the talking lines (no result)
            continue
        latest[(row["address"], row["port"])] = row
    for row in latest.values():
        states[row["state"]] = states.get(row["state"], 0) + 1
        if row["state"] == "open":
            verdict = row["plaintext_login"]["verdict"]
            cert = (row.get("tls") or {}).get("certificate")
            complete += verdict not in ("inconclusive", "not_tested")  # implicit TLS ports: not_applicable
            verdicts[f"{row['port']} {verdict}"] = verdicts.get(f"{row['port']} {verdict}", 0) + 1
            with_cert += cert is not None
            if row.get("starttls_injection"):
                said = row["starttls_injection"]["verdict"]
                injection[said] = injection.get(said, 0) + 1
    return {
        "lines": sum(states.values()),
        **states,
        "verdict": complete,
        "certificate": with_cert,
        "verdicts": verdicts,
        "starttls_injection": injection,
    }


def summarise_nmap(xml_path: Path) -> dict[str, int]:
    tree = ET.parse(xml_path)
    counts = {"open": 0, "closed": 0, "filtered": 0, "ssl-cert": 0, "capabilities": 0}
    for port in tree.iter("port"):
        state = port.find("state")
        name = state.get("state", "") if state is not None else ""
        counts[name] = counts.get(name, 0) + 1
        for script in port.iter("script"):
            if script.get("id") == "ssl-cert":
                counts["ssl-cert"] += 1
            elif script.get("id", "").endswith("-capabilities"):
                counts["capabilities"] += 1
    for extra in tree.iter("extraports"):  # nmap folds large groups of one state
        name = extra.get("state", "")
        counts[name] = counts.get(name, 0) + int(extra.get("count", "0"))
    return counts


def nmap_cmd(bench: Bench, target: str, xml_path: Path) -> list[str]:
    return [
        *bench.exec_prefix(),
        "nmap",
        "-Pn",
        "-n",
        "-sT",
        "-T4",
        "-p110,143,993,995",
        "--script",
        "imap-capabilities,pop3-capabilities,ssl-cert",
        "-oX",
        str(xml_path),
        target,
    ]


def ensure_sslyze(venv: Path) -> Path:
    """sslyze in a venv of its own (its pinned dependencies stay out of mailprobe's); installed on first use."""
    binary = venv / "bin" / "sslyze"
    if not binary.exists():
        print(f"installing sslyze into {venv} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "sslyze"], check=True)
    return binary


def sslyze_cmd(bench: Bench, binary: Path, network: ipaddress.IPv4Network, out: Path) -> list[str]:
    """sslyze's certificate scan of every endpoint: implicit TLS on 993/995, STARTTLS on 143 (imap) and 110
    (pop3); one sslyze run per kind, one after the other, measured as one command."""
    runs = []
    for kind, ports in (("", (993, 995)), ("imap", (143,)), ("pop3", (110,))):
        targets = bench.dir / f"sslyze-{kind or 'tls'}.txt"
        targets.write_text("".join(f"{a}:{p}\n" for a in network for p in ports))
        starttls = f"--starttls {kind} " if kind else ""
        json_out = out.with_suffix(f".{kind or 'tls'}.json")
        runs.append(
            f"{binary} --quiet --certinfo --certinfo_ca_file {bench.ca_file} {starttls}"
            f"--targets_in {targets} --json_out {json_out}"
        )
    return [*bench.exec_prefix(), "sh", "-c", " && ".join(runs)]


def summarise_sslyze(out: Path) -> dict[str, int]:
    counts = {"scanned": 0, "certificates": 0}
    for part in out.parent.glob(out.stem + ".*.json"):
        for result in json.loads(part.read_text()).get("server_scan_results", []):
            counts["scanned"] += 1
            certinfo = ((result.get("scan_result") or {}).get("certificate_info") or {}).get("result") or {}
            counts["certificates"] += bool(certinfo.get("certificate_deployments"))
    return counts


@dataclass
class Turns:
    """Measurements of several tools on one range, taken in turns so that each sees the same machine load."""

    label: str
    runs: dict[str, list[Measured]]

    def median(self, tool: str) -> float:
        return statistics.median(r.wall for r in self.runs[tool])

    def report(self, endpoints: int) -> None:
        for tool, runs in self.runs.items():
            walls = [r.wall for r in runs]
            print(
                f"  {self.label} {tool:<9} median {statistics.median(walls):6.2f} s (min {min(walls):.2f}, max "
                f"{max(walls):.2f}), CPU {statistics.median(r.cpu for r in runs):.2f} s, peak RSS at most "
                f"{max(r.peak_rss_mb for r in runs):.0f} MB (PSS {max(r.peak_pss_mb for r in runs):.0f} MB), "
                f"{endpoints / statistics.median(walls):,.0f} "
                "endpoints/s"
            )
        for tool in self.runs:
            if tool != "mailprobe":
                print(
                    f"  {self.label} ratio {tool} / mailprobe median wall time = "
                    f"{self.median(tool) / self.median('mailprobe'):.1f}x"
                )


def compare(
    bench: Bench,
    label: str,
    network: ipaddress.IPv4Network,
    args: argparse.Namespace,
    extra: list[str],
    *,
    nmap: bool,
    sslyze: Path | None = None,
    without_enumeration: bool = False,
) -> Turns:
    variant = "mailprobe " + " ".join(args.variant_arg) if args.variant_arg else None
    turns = Turns(
        label,
        {
            "mailprobe": [],
            **({"no-enum": []} if without_enumeration else {}),
            **({variant: []} if variant else {}),
            **({"nmap": []} if nmap else {}),
            **({"sslyze": []} if sslyze else {}),
        },
    )
    for turn in range(1, args.repeat + 1):
        print(f"[{label} {turn}/{args.repeat}] mailprobe scan {network} ...", file=sys.stderr)
        out = bench.dir / f"{label}.jsonl"
        out.unlink(missing_ok=True)
        served = bench.dovecot_cpu()
        mp = measure(mailprobe_cmd(bench, str(network), out, args.timeout, extra))
        served = bench.dovecot_cpu() - served
        turns.runs["mailprobe"].append(mp)
        print(
            f"  mailprobe: {mp.wall:.2f} s, CPU {mp.cpu:.2f} s (Dovecot serving it: {served:.2f} s), "
            f"peak RSS {mp.peak_rss_mb:.0f} MB (PSS {mp.peak_pss_mb:.0f} MB), {summarise_mailprobe(out)}, "
            f"{summarise_enumeration(out)}"
        )
        if without_enumeration:  # the same scan without the TLS enumeration (issue 24: its cost stays visible)
            bare = bench.dir / f"{label}-no-enum.jsonl"
            bare.unlink(missing_ok=True)
            served = bench.dovecot_cpu()
            ne = measure(mailprobe_cmd(bench, str(network), bare, args.timeout, [*extra, "--no-tls-enumeration"]))
            served = bench.dovecot_cpu() - served
            turns.runs["no-enum"].append(ne)
            print(
                f"  --no-tls-enumeration: {ne.wall:.2f} s, CPU {ne.cpu:.2f} s (Dovecot serving it: {served:.2f} s), "
                f"peak RSS {ne.peak_rss_mb:.0f} MB, {summarise_mailprobe(bare)}"
            )
        if variant:  # the same scan with other options, right after: both see the same load
            out.unlink(missing_ok=True)
            served = bench.dovecot_cpu()
            other = measure(mailprobe_cmd(bench, str(network), out, args.timeout, [*extra, *args.variant_arg]))
            served = bench.dovecot_cpu() - served
            turns.runs[variant].append(other)
            print(
                f"  {variant}: {other.wall:.2f} s, CPU {other.cpu:.2f} s (Dovecot serving it: {served:.2f} s), "
                f"peak RSS {other.peak_rss_mb:.0f} MB (PSS {other.peak_pss_mb:.0f} MB), {summarise_mailprobe(out)}"
            )
        if nmap:
            xml_path = bench.dir / f"{label}-nmap.xml"
            nm = measure(nmap_cmd(bench, str(network), xml_path))
            turns.runs["nmap"].append(nm)
            print(
                f"  nmap:      {nm.wall:.2f} s, CPU {nm.cpu:.2f} s, peak RSS {nm.peak_rss_mb:.0f} MB, "
                f"{summarise_nmap(xml_path)}"
            )
        if sslyze:
            json_path = bench.dir / f"{label}-sslyze.json"
            sy = measure(sslyze_cmd(bench, sslyze, network, json_path))
            turns.runs["sslyze"].append(sy)
            print(
                f"  sslyze:    {sy.wall:.2f} s, CPU {sy.cpu:.2f} s, peak RSS {sy.peak_rss_mb:.0f} MB, "
                f"{summarise_sslyze(json_path)}"
            )
    turns.report(network.num_addresses * len(PORTS))
    if without_enumeration:
        cost = turns.median("mailprobe") / turns.median("no-enum") - 1
        print(f"  {label} TLS enumeration cost: {cost:+.1%} wall time (median with / median without - 1)")
    return turns


def summarise_enumeration(path: Path) -> str:
    """How many full enumerations and confirmations the scan ran (scanner.tls.confirm), their handshakes, the
    largest number one server got, and which ports made them."""
    runs = confirmed = hellos = most = 0
    ports: dict[int, int] = {}
    for row in map(json.loads, path.open()):
        config = (row.get("tls") or {}).get("configuration")
        if config and config.get("enumerated_on") is None:
            if config.get("confirmed_from"):
                confirmed += 1
            else:
                runs += 1
            hellos += config["handshakes"]
            most = max(most, config["handshakes"])
            ports[row["port"]] = ports.get(row["port"], 0) + 1
    return (
        f"{runs} TLS enumerations and {confirmed} confirmations, {hellos} handshakes (at most {most} for one "
        f"server), made on ports {dict(sorted(ports.items()))}"
    )


def live_floor(bench: Bench, addresses: list[str], args: argparse.Namespace, extra: list[str]) -> float:
    """The least a range with these live hosts can take: the live hosts alone (start-up and the slowest host's
    conversations), and a dropped port's two tries at the learnt minimum wait (0.1 s, then 0.2 s) beside them."""
    listing = bench.dir / "live-only.txt"
    listing.write_text("\n".join(addresses) + "\n")
    out = bench.dir / "live-only.jsonl"
    walls = []
    for _ in range(args.repeat):
        out.unlink(missing_ok=True)
        walls.append(measure(mailprobe_cmd(bench, f"@{listing}", out, args.timeout, extra)).wall)
    return max(statistics.median(walls), 0.3)


def report_floor(part: str, median: float, alone: float) -> None:
    """The floor as issue 17 defines it (one learnt connect wait, 0.1 s, plus the live hosts scanned alone, start-up
    included), and the stricter one of the live hosts alone."""
    floor = alone + 0.1
    print(
        f"  {part} floor: {floor:.2f} s (live hosts alone {alone:.2f} s + one learnt connect wait 0.1 s); mailprobe "
        f"at {median / floor:.2f}x of it ({median / alone:.2f}x of the live hosts alone)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--only",
        default="mixed,dark,live,dead",
        help="comma-separated parts to run: mixed, dark, live, dead (default: all)",
    )
    parser.add_argument("--timeout", type=float, default=1.0, help="mailprobe --timeout (default 1)")
    parser.add_argument("--concurrency", type=int, help="mailprobe --concurrency (default: its own default)")
    parser.add_argument("--repeat", type=int, default=3, help="turns of each tool per range; medians compared")
    parser.add_argument("--live-sizes", default="256,1024,4096", help="live-dense ranges to run (endpoints)")
    parser.add_argument(
        "--sslyze-venv",
        default=str(Path.home() / ".cache" / "mailprobe-bench" / "sslyze"),
        help="where sslyze is installed (created on first use)",
    )
    parser.add_argument("--skip-nmap", action="store_true")
    parser.add_argument(
        "--enumeration-cost",
        action="store_true",
        help="on the mixed and dark /22s, also run each turn with --no-tls-enumeration and print the difference",
    )
    parser.add_argument("--skip-sslyze", action="store_true")
    parser.add_argument("--keep", metavar="DIR", help="copy the result files to DIR")
    parser.add_argument(
        "--variant-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="also run each mailprobe scan of mixed, dark and live with this argument (repeatable), in turn with the "
        "plain one, e.g. --variant-arg=--no-injection-test for what the STARTTLS command-injection test costs",
    )
    parser.add_argument(
        "--mailprobe-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="one more argument for every mailprobe scan (repeatable), e.g. --mailprobe-arg=--no-injection-test",
    )
    args = parser.parse_args()
    parts = set(args.only.split(","))
    if os.geteuid() != 0:
        print("range_bench: needs root (network namespace, nftables)", file=sys.stderr)
        return 2
    for tool in ("ip", "nft", "dovecot", *(() if args.skip_nmap else ("nmap",))):
        if shutil.which(tool) is None:
            print(f"range_bench: {tool} is not installed", file=sys.stderr)
            return 2
    sslyze = None if args.skip_sslyze or "live" not in parts else ensure_sslyze(Path(args.sslyze_venv))
    extra = [*(["--concurrency", str(args.concurrency)] if args.concurrency else []), *args.mailprobe_arg]
    bench = Bench()
    previous = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        print(f"namespace {bench.ns}: building the ranges ...", file=sys.stderr)
        bench.make_namespace()
        bench.firewall()
        bench.start_dovecot()
        with_ca = [*extra, "--ca-file", str(bench.ca_file), "--expect-name", NAME]
        print(f"load average before the runs: {os.getloadavg()[0]:.2f} (2-core machine: above 2 means waiting)")
        if "mixed" in parts:
            turns = compare(
                bench, "mixed", RANGE, args, with_ca, nmap=not args.skip_nmap, without_enumeration=args.enumeration_cost
            )
            report_floor("mixed", turns.median("mailprobe"), live_floor(bench, live_addresses(), args, with_ca))
        if "dark" in parts:
            turns = compare(
                bench, "dark", DARK, args, with_ca, nmap=not args.skip_nmap, without_enumeration=args.enumeration_cost
            )
            alone = live_floor(bench, live_addresses(dark_lit()), args, with_ca)
            report_floor("dark", turns.median("mailprobe"), alone)
        if "live" in parts:
            for size in (int(v) for v in args.live_sizes.split(",")):
                compare(bench, f"live{size}", LIVE[size], args, with_ca, nmap=not args.skip_nmap, sslyze=sslyze)
        if "dead" in parts:
            big_live = set(big_live_addresses())
            endpoints = BIG.num_addresses * len(PORTS)
            for label, how in (("connect", "off"), ("syn", "zmap"), ("syn-masscan", "masscan")):
                if how != "off" and shutil.which(how) is None:
                    print(f"  /16 with the SYN front end: {how} is not installed, skipped")
                    continue
                for turn in range(1, args.repeat + 1):
                    print(f"[dead/16 {label} {turn}/{args.repeat}] ...", file=sys.stderr)
                    out16 = bench.dir / f"big-{label}.jsonl"
                    out16.unlink(missing_ok=True)
                    big = measure(
                        mailprobe_cmd(bench, str(BIG), out16, args.timeout, [*with_ca, "--yes", "--discover", how])
                    )
                    rows = open_lines = 0
                    found: set[str] = set()
                    open_keys: set[tuple[str, int]] = set()  # a row written again counts once
                    for row in map(json.loads, out16.open()):  # streamed: 262,144 rows held at once are a GB
                        rows += "state" in row  # not the header line
                        if row.get("state") == "open":
                            open_lines += 1
                            open_keys.add((row["address"], row["port"]))
                            found.add(row["address"])
                    opened = len(open_keys)
                    rows -= open_lines - opened  # only open rows are ever written again (host findings)
                    print(
                        f"  /16 {label}: {big.wall:.1f} s, CPU {big.cpu:.1f} s, peak RSS "
                        f"{big.peak_rss_mb:.0f} MB (PSS {big.peak_pss_mb:.0f} MB), {rows:,} rows of "
                        f"{endpoints:,} endpoints; live hosts "
                        f"found {len(found & big_live)}/{len(big_live)}, open endpoints "
                        f"{opened}/{len(big_live) * len(PORTS)}"
                    )
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        if args.keep:
            Path(args.keep).mkdir(parents=True, exist_ok=True)
            for path in bench.dir.glob("*.jsonl"):
                shutil.copy(path, Path(args.keep) / path.name)
        bench.close()
        print(f"torn down: namespace {bench.ns} deleted, Dovecot stopped", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
