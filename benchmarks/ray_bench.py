"""Ray benchmark: what `--ray` costs per endpoint, against the same scan on one node.

Run as root:  python benchmarks/ray_bench.py [--only live,dead] [--repeat N]

It builds range_bench.py's network namespace (one Dovecot on every address, nftables shaping the ranges; nothing
leaves it, its only interface is lo) and, inside it, a local Ray cluster of three nodes (ray.cluster_utils.Cluster
in a helper process: every node on 127.0.0.1, one CPU each). Then, in turns:
  live   127.6.0.0/22: 4,096 live endpoints
  dead   127.2.0.0/16: 262,144 endpoints, all dropped but 64 live hosts
each scanned by mailprobe on one node (its defaults: one process per CPU) and by `--ray` on the three local nodes.
Printed per run: wall time, the CPU of mailprobe's process tree and of the Ray cluster's processes (the actors run
there), and what was found; then the overhead per endpoint Ray adds (wall and CPU). The three nodes share this
machine's cores, so the figures are Ray's cost, not a speed-up.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from range_bench import BIG, LIVE, NAME, PORTS, ROOT, Bench, mailprobe_cmd, measure  # noqa: E402

_CLUSTER = """
import os, sys
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
import ray
from ray.cluster_utils import Cluster
cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
for _ in range(2):
    cluster.add_node(num_cpus=1)
cluster.wait_for_nodes()
print(cluster.address, flush=True)
sys.stdin.read()  # until the benchmark closes stdin
cluster.shutdown()
"""


def cluster_cpu(root: int) -> float:
    """CPU seconds of ``root`` and every process under it, including children already reaped (cutime/cstime)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    pending = [root]
    while pending:
        pid = pending.pop()
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        pending.extend(int(child) for child in children)
    return total / ticks


def rows_found(path: Path) -> tuple[int, int]:
    rows = opened = 0
    for line in path.open():
        row = json.loads(line)
        if "state" in row:
            rows += 1
            opened += row["state"] == "open"
    return rows, opened


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="live,dead", help="parts to run: live, dead")
    parser.add_argument("--repeat", type=int, default=3, help="turns of each way per part; medians compared")
    parser.add_argument("--timeout", type=float, default=1.0, help="mailprobe --timeout (default 1)")
    args = parser.parse_args()
    parts = args.only.split(",")
    if os.geteuid() != 0:
        print("ray_bench: needs root (network namespace, nftables)", file=sys.stderr)
        return 2
    for tool in ("ip", "nft", "dovecot"):
        if shutil.which(tool) is None:
            print(f"ray_bench: {tool} is not installed", file=sys.stderr)
            return 2
    bench = Bench()
    helper: subprocess.Popen[str] | None = None
    try:
        print(f"namespace {bench.ns}: building the ranges and a three-node Ray cluster ...", file=sys.stderr)
        bench.make_namespace()
        bench.firewall()
        bench.start_dovecot()
        helper = subprocess.Popen(
            [*bench.exec_prefix(), sys.executable, "-c", _CLUSTER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=ROOT,
        )
        assert helper.stdout is not None
        address = helper.stdout.readline().strip()
        if not address:
            print("ray_bench: the Ray cluster did not start", file=sys.stderr)
            return 1
        print(f"Ray cluster at {address} (inside the namespace); load average {os.getloadavg()[0]:.2f}")
        with_ca = ["--ca-file", str(bench.ca_file), "--expect-name", NAME]
        targets = {"live": (str(LIVE[4096]), []), "dead": (str(BIG), ["--yes", "--discover", "off"])}
        for part in parts:
            target, extra = targets[part]
            endpoints = (LIVE[4096] if part == "live" else BIG).num_addresses * len(PORTS)
            figures: dict[str, list[tuple[float, float]]] = {"one node": [], "ray x3": []}
            for turn in range(1, args.repeat + 1):
                for way, more in (("one node", []), ("ray x3", ["--ray", address])):
                    out = bench.dir / f"{part}-{way.replace(' ', '')}.jsonl"
                    out.unlink(missing_ok=True)
                    before = cluster_cpu(helper.pid)
                    print(f"[{part} {way} {turn}/{args.repeat}] ...", file=sys.stderr)
                    run = measure(mailprobe_cmd(bench, target, out, args.timeout, [*with_ca, *extra, *more]))
                    time.sleep(0.5)  # the actors' last CPU ticks, once the driver is gone
                    ray_cpu = cluster_cpu(helper.pid) - before
                    rows, opened = rows_found(out)
                    # the actors' processes end with the driver: their CPU is what they said at the end
                    actors = sum(float(cpu) for cpu in re.findall(r"\(CPU ([0-9.]+) s\)", run.stderr))
                    ray_cpu += actors
                    cpu = run.cpu + (ray_cpu if more else 0.0)
                    figures[way].append((run.wall, cpu))
                    print(
                        f"  {part} {way}: {run.wall:.2f} s, CPU {run.cpu:.1f} s in mailprobe's tree + "
                        f"{ray_cpu:.1f} s in the Ray cluster ({actors:.1f} s of it in the actors), "
                        f"peak RSS of mailprobe's tree {run.peak_rss_mb:.0f} MB; "
                        f"{rows:,} rows of {endpoints:,}, {opened:,} open"
                    )
            one = [statistics.median(v) for v in zip(*figures["one node"], strict=True)]
            ray = [statistics.median(v) for v in zip(*figures["ray x3"], strict=True)]
            print(
                f"{part}: one node {one[0]:.2f} s (CPU {one[1]:.1f} s), Ray on three local nodes {ray[0]:.2f} s "
                f"(CPU {ray[1]:.1f} s): Ray adds {1e6 * (ray[0] - one[0]) / endpoints:.0f} us wall and "
                f"{1e6 * (ray[1] - one[1]) / endpoints:.0f} us CPU per endpoint (medians of {args.repeat})"
            )
        return 0
    finally:
        if helper is not None:
            if helper.stdin is not None:
                helper.stdin.close()
            try:
                helper.wait(timeout=60)
            except subprocess.TimeoutExpired:
                helper.kill()
        bench.close()
        print(f"torn down: namespace {bench.ns} deleted, Dovecot and the Ray cluster stopped", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
