"""Range benchmark: mailprobe against nmap on a simulated /22, and a /16 of silently dropped addresses.

Run as root (it creates a network namespace):  python benchmarks/range_bench.py [--skip-16] [--skip-nmap]

Inside a namespace of its own (nothing leaves it; its only interface is lo):
  127.1.0.0/22  1024 addresses
    64 live    every 16th address (127.1.x.1, .17, ...): one real Dovecot listening on all of them, ports
               110/143/993/995, STARTTLS offered, plaintext login refused, certificate from scanner.certgen
    256 reset  every 4th address (127.1.x.2, .6, ...): nftables `reject with tcp reset`
    704 drop   the rest: nftables drop (a connect waits for its timeout)
  127.2.0.0/16  65,536 addresses, all dropped (262,144 endpoints), for the connect-timeout/concurrency figure

mailprobe and nmap (-Pn -n -sT -T4 -p110,143,993,995 --script imap-capabilities,pop3-capabilities,ssl-cert) scan
the /22 one after the other in the same run; wall time and peak RSS (wait4 ru_maxrss of each process) are printed.
Everything started here is torn down at the end (Dovecot killed, namespace deleted), also on error or Ctrl-C.

Dovecot note: one Dovecot stands in for 64 servers, so its per-client-IP auth penalty (anvil) is switched off (every
probe comes from 127.0.0.1; 64 real servers would each see a handful of failures), and its login processes run in
high-performance mode so 64 hosts' worth of connections are not refused by one server's process limit. The fixed
2-second auth_failure_delay stays, as on a real server.
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

RANGE = ipaddress.IPv4Network("127.1.0.0/22")
BIG = ipaddress.IPv4Network("127.2.0.0/16")
PORTS = (110, 143, 993, 995)


def live_addresses() -> list[str]:
    return [str(a) for i, a in enumerate(RANGE) if i % 16 == 1]


def reset_addresses() -> list[str]:
    return [str(a) for i, a in enumerate(RANGE) if i % 4 == 2]


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


def measure(cmd: list[str], *, stdout: object = subprocess.DEVNULL, timeout: float = 3600) -> Measured:
    """Run cmd; return wall time, CPU and peak RSS: the larger of wait4's figure (the biggest single process) and
    the most the whole process group held at once, sampled every 20 ms (`ip netns exec` execs in place)."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE, cwd=ROOT, start_new_session=True)  # type: ignore[arg-type]
    deadline = start + timeout
    together = 0  # the most RSS the whole process group held at once (mailprobe's workers are forks)
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        together = max(together, session_rss_kb(proc.pid))
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
    return Measured(wall, max(usage.ru_maxrss, together) / 1024, proc.returncode, usage.ru_utime + usage.ru_stime)


def session_rss_kb(sid: int) -> int:
    """Sum of VmRSS over the processes of session ``sid`` (the measured command and every process it forked)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) != sid:  # field 6 of stat: the session id
                continue
            for line in (stat.parent / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return total


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
        run([*self.exec_prefix(), "ip", "link", "set", "lo", "up"])
        # With lo up, the kernel's `local 127.0.0.0/8` route already delivers every simulated address to lo, with
        # 127.0.0.1 as the source. (Adding 127.1.0.0/22 to lo would make 127.1.0.0 the source of the scan, and the
        # drop rules below would then eat the replies.)

    def firewall(self) -> None:
        live = ", ".join(live_addresses())
        reset = ", ".join(reset_addresses())
        rules = f"""
table ip mpbench {{
  set live_hosts {{ type ipv4_addr; elements = {{ {live} }} }}
  set reset_hosts {{ type ipv4_addr; elements = {{ {reset} }} }}
  chain input {{
    type filter hook input priority 0; policy accept;
    ip daddr @live_hosts accept
    ip daddr @reset_hosts tcp flags & (syn | ack) == syn reject with tcp reset
    ip daddr {RANGE} tcp flags & (syn | ack) == syn drop
    ip daddr {BIG} tcp flags & (syn | ack) == syn drop
  }}
}}
"""
        path = self.dir / "rules.nft"
        path.write_text(rules)
        run([*self.exec_prefix(), "nft", "-f", str(path)])

    def start_dovecot(self) -> None:
        from scanner import certgen

        ca = certgen.make_ca("mailprobe bench CA")
        leaf = ca.issue(["mail.bench.test"], ip_addresses=live_addresses())
        cert, key = leaf.write(self.dir, "server")
        self.ca_file = ca.write(self.dir, "ca")  # mailprobe gets it as --ca-file: the chain is then trusted
        user = f"mailprobe-{secrets.token_hex(4)}"
        passwd = self.dir / "passwd"
        passwd.write_text(f"{user}:{{PLAIN}}{secrets.token_urlsafe(12)}:65534:65534::{self.dir}/mail::\n")
        passwd.chmod(0o644)
        version = _dovecot_version()
        config = self.dir / "dovecot.conf"
        config.write_text(_dovecot_config(version, self.dir, live_addresses(), Path(cert), Path(key), passwd))
        log = self.dir / "dovecot.log"
        self.dovecot = subprocess.Popen([*self.exec_prefix(), "dovecot", "-c", str(config), "-F"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.dovecot.poll() is not None:
                err = self.dovecot.stderr.read().decode() if self.dovecot.stderr else ""
                raise RuntimeError(f"dovecot exited: {err} {log.read_text() if log.exists() else ''}")
            if self._listening() >= len(live_addresses()) * len(PORTS):
                return
            time.sleep(0.1)
        raise RuntimeError("dovecot did not listen on every address within 20 s")

    def _listening(self) -> int:
        out = run([*self.exec_prefix(), "ss", "-Hltn"]).stdout
        return sum(1 for line in out.splitlines() if re.search(r"127\.1\.\d+\.\d+:(110|143|993|995)\b", line))

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


def _dovecot_config(version: tuple[int, int], root: Path, addresses: list[str], cert: Path, key: Path,
                    passwd: Path) -> str:
    login = """
  service_count = 0
  process_min_avail = 2
  client_limit = 4096
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
default_client_limit = 8192
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
    return [*bench.exec_prefix(), sys.executable, "-m", "scanner", "scan", target, "--no-tui",
            "-o", str(out), "--timeout", str(timeout), "--no-ptr", "--fail-on", "none", *extra]


def summarise_mailprobe(path: Path) -> dict[str, int]:
    states: dict[str, int] = {}
    complete = with_cert = 0
    verdicts: dict[str, int] = {}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        if row.get("record") == "scan":  # the scan line that starts the file
            continue
        states[row["state"]] = states.get(row["state"], 0) + 1
        if row["state"] == "open":
            verdict = row["plaintext_login"]["verdict"]
            cert = (row.get("tls") or {}).get("certificate")
            complete += verdict not in ("inconclusive", "not_tested")  # implicit TLS ports: not_applicable
            verdicts[f"{row['port']} {verdict}"] = verdicts.get(f"{row['port']} {verdict}", 0) + 1
            with_cert += cert is not None
    return {"lines": sum(states.values()), **states, "verdict": complete, "certificate": with_cert,
            "verdicts": verdicts}


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timeout", type=float, default=1.0, help="mailprobe --timeout on the /22 (default 1)")
    parser.add_argument("--big-timeout", type=float, default=1.0, help="mailprobe --timeout on the /16 (default 1)")
    parser.add_argument("--concurrency", type=int, help="mailprobe --concurrency (default: its own default)")
    parser.add_argument("--per-host", type=int, help="mailprobe --per-host (default: its own default)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each tool on the /22; medians compared")
    parser.add_argument("--skip-nmap", action="store_true")
    parser.add_argument("--skip-16", action="store_true", help="leave out the /16-of-dropped run")
    parser.add_argument("--keep", metavar="DIR", help="copy the result files (JSON Lines, nmap XML) to DIR")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("range_bench: needs root (network namespace, nftables)", file=sys.stderr)
        return 2
    for tool in ("ip", "nft", "dovecot", *(() if args.skip_nmap else ("nmap",))):
        if shutil.which(tool) is None:
            print(f"range_bench: {tool} is not installed", file=sys.stderr)
            return 2
    from scanner.engine.runner import default_concurrency

    concurrency = args.concurrency or default_concurrency()
    extra = ["--concurrency", str(concurrency), *(["--per-host", str(args.per_host)] if args.per_host else [])]
    bench = Bench()
    previous = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        print(f"namespace {bench.ns}: building 127.1.0.0/22 (64 live, 256 reset, 704 dropped) ...", file=sys.stderr)
        bench.make_namespace()
        bench.firewall()
        bench.start_dovecot()
        runs: list[Measured] = []
        nmap_runs: list[Measured] = []
        for turn in range(1, args.repeat + 1):
            # mailprobe and nmap take turns, so both see the same machine load over the run
            print(f"[{turn}/{args.repeat}] mailprobe scan {RANGE} (concurrency {concurrency}, "
                  f"timeout {args.timeout}s) ...", file=sys.stderr)
            out = bench.dir / "range.jsonl"
            out.unlink(missing_ok=True)
            served = bench.dovecot_cpu()
            mp = measure(mailprobe_cmd(bench, str(RANGE), out, args.timeout,
                                       [*extra, "--ca-file", str(bench.ca_file)]))
            served = bench.dovecot_cpu() - served
            mp_sum = summarise_mailprobe(out)
            runs.append(mp)
            print(f"  mailprobe: {mp.wall:.2f} s, CPU {mp.cpu:.2f} s (Dovecot serving it: {served:.2f} s), "
                  f"peak RSS {mp.peak_rss_mb:.0f} MB, {mp_sum}")
            if not args.skip_nmap:
                print(f"[{turn}/{args.repeat}] nmap {RANGE} ...", file=sys.stderr)
                xml_path = bench.dir / "nmap.xml"
                nm = measure([*bench.exec_prefix(), "nmap", "-Pn", "-n", "-sT", "-T4", "-p110,143,993,995",
                              "--script", "imap-capabilities,pop3-capabilities,ssl-cert", "-oX", str(xml_path),
                              str(RANGE)])
                nm_sum = summarise_nmap(xml_path)
                nmap_runs.append(nm)
                print(f"  nmap:      {nm.wall:.2f} s, CPU {nm.cpu:.2f} s, peak RSS {nm.peak_rss_mb:.0f} MB, "
                      f"{nm_sum}")
        # the same scan without the dummy logins: nmap's scope (capabilities, certificate), for comparison only
        out_nl = bench.dir / "range-nologin.jsonl"
        nl = measure(mailprobe_cmd(bench, str(RANGE), out_nl, args.timeout,
                                   [*extra, "--ca-file", str(bench.ca_file), "--no-login-probe"]))
        nl_sum = summarise_mailprobe(out_nl)
        print(f"  mailprobe --no-login-probe: {nl.wall:.2f} s, peak RSS {nl.peak_rss_mb:.0f} MB, "
              f"open {nl_sum.get('open', 0)}, certificates {nl_sum['certificate']}")
        mp_wall = statistics.median(r.wall for r in runs)
        print(f"  mailprobe median of {len(runs)}: {mp_wall:.2f} s "
              f"(min {min(r.wall for r in runs):.2f}, max {max(r.wall for r in runs):.2f}); "
              f"peak RSS at most {max(r.peak_rss_mb for r in runs):.0f} MB")
        if nmap_runs:
            nm_wall = statistics.median(r.wall for r in nmap_runs)
            print(f"  nmap median of {len(nmap_runs)}:      {nm_wall:.2f} s "
                  f"(min {min(r.wall for r in nmap_runs):.2f}, max {max(r.wall for r in nmap_runs):.2f})")
            print(f"  ratio:     nmap / mailprobe median wall time = {nm_wall / mp_wall:.1f}x "
                  f"(worst pair: {min(n.wall for n in nmap_runs) / max(r.wall for r in runs):.1f}x; "
                  f"{nm_wall / nl.wall:.1f}x without the login probes)")
        if not args.skip_16:
            endpoints = BIG.num_addresses * len(PORTS)
            ideal = endpoints * args.big_timeout / concurrency
            print(f"mailprobe scan {BIG} (all dropped, {endpoints:,} endpoints, timeout {args.big_timeout}s) ...",
                  file=sys.stderr)
            out16 = bench.dir / "big.jsonl"
            big = measure(mailprobe_cmd(bench, str(BIG), out16, args.big_timeout, [*extra, "--yes"]))
            lines = sum(1 for _ in out16.open())
            print(f"  /16 dropped: {big.wall:.1f} s for {lines:,} result lines, peak RSS {big.peak_rss_mb:.0f} MB; "
                  f"endpoints x timeout / concurrency = {ideal:.1f} s; ratio {big.wall / ideal:.2f}")
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        if args.keep:
            Path(args.keep).mkdir(parents=True, exist_ok=True)
            for name in ("range.jsonl", "range-nologin.jsonl", "nmap.xml", "big.jsonl", "dovecot.log"):
                if (bench.dir / name).exists():
                    shutil.copy(bench.dir / name, Path(args.keep) / name)
        bench.close()
        print(f"torn down: namespace {bench.ns} deleted, Dovecot stopped", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
