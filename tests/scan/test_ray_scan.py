"""Ray as the engine of one live scan: a local cluster of three nodes on this machine (ray.cluster_utils.Cluster,
every node on 127.0.0.1: RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 keeps Ray's own traffic on loopback), scanning the fake
fleet of tests/scan/fake_fleet.py. Rows must come from every node and be the rows of one machine; a node killed in
the middle of the scan must leave every endpoint accounted for and no login sent twice; the TUI shows one scan.

Ray is an optional extra: these tests skip when it is not installed, and fail in CI, which installs it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dovecot import require_installed
from tests.scan.fake_fleet import fake_fleet

ROOT = Path(__file__).resolve().parents[2]
# loopback only, no usage report, and room for a loaded 2-core machine to bring a node up
RAY_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_raylet_start_wait_time_s": "180",
}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    saved = {name: os.environ.get(name) for name in RAY_ENV}
    os.environ.update(RAY_ENV)  # before Ray is imported: it reads them once
    nodes = None
    try:
        try:
            import ray
            from ray.cluster_utils import Cluster
        except ImportError:
            ray = None
        require_installed(ray is not None, "Ray is not installed (pip install -e '.[ray]')")
        # node deaths noticed within about a second and a half instead of half a minute
        checks = {"health_check_period_ms": 500, "health_check_failure_threshold": 3}
        nodes = Cluster(
            initialize_head=True, head_node_args={"num_cpus": 1, "labels": {"site": "a"}, "_system_config": checks}
        )
        nodes.add_node(num_cpus=1, labels={"site": "b"})
        nodes.add_node(num_cpus=1, labels={"site": "b"})
        nodes.wait_for_nodes()
        ray.init(address=nodes.address, log_to_driver=False)
        assert {node["NodeManagerAddress"] for node in ray.nodes()} == {"127.0.0.1"}  # Ray traffic on loopback
        yield nodes
    finally:
        if nodes is not None:
            ray.shutdown()
            nodes.shutdown()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def essence(row: dict) -> tuple:
    return (row["state"], row["plaintext_login"]["verdict"], sorted(f["id"] for f in row["findings"]))


def lines_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def scan(*argv: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "scanner",
        "scan",
        *argv,
        "--no-tui",
        "--no-ptr",
        "--no-legacy-tls",
        "--timeout",
        "3",
        "--source-address",
        "127.0.0.1",
    ]
    env = {**os.environ, **RAY_ENV, "PYTHONPATH": str(ROOT)}
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)


def test_a_scan_on_three_nodes_gives_the_rows_of_one_machine_from_every_node(cluster: Any, tmp_path: Path) -> None:
    with fake_fleet(first=100, live=6, dark=6, login_delay=0.3) as fleet:
        single = scan(fleet.target, "-p", fleet.port_list, "-o", str(tmp_path / "one.jsonl"))
        logins_before = fleet.logins()
        # the first three addresses only from the node labelled site=a (the head), the rest from any node
        chosen = f"{fleet.addresses[0]}-{fleet.addresses[2].rsplit('.', 1)[1]}"
        spread = scan(
            fleet.target,
            "-p",
            fleet.port_list,
            "-o",
            str(tmp_path / "ray.jsonl"),
            "--ray",
            cluster.address,
            "--vantage",
            "site=a",
            chosen,
        )
        logins = fleet.logins() - logins_before
    assert single.returncode == spread.returncode == 1, spread.stderr  # passwords taken in clear: high findings
    one = {(r["address"], r["port"]): essence(r) for r in lines_of(tmp_path / "one.jsonl") if "record" not in r}
    lines = lines_of(tmp_path / "ray.jsonl")
    rows = [r for r in lines if "record" not in r]
    assert sorted((r["address"], r["port"]) for r in rows) == sorted(one)  # none lost, none twice
    assert {(r["address"], r["port"]): essence(r) for r in rows} == one
    assert set(logins.values()) == {1}  # every live endpoint got its one dummy login
    # every node sent rows, and the vantage's endpoints were talked to from the site=a node only
    (said,) = [line for line in spread.stderr.splitlines() if line.startswith("mailprobe: rows per Ray node:")]
    counts = [int(count.replace(",", "")) for count in re.findall(r"\(\w{8}\) ([0-9,]+)", said)]
    assert len(counts) == 3 and min(counts) > 0 and sum(counts) == len(one), said
    talked = {(line["address"], line["where"]) for line in lines if line.get("record") == "talking"}
    head = {where for address, where in talked if address in fleet.addresses[:3]}
    assert len(head) == 1 and {address for address, _ in talked} >= set(fleet.addresses[:3]), talked


def _ray_scan(cluster: Any, fleet: Any, journal_path: Path, **kwargs: Any) -> Any:
    from scanner.probe.options import ProbeOptions
    from scanner.results_file import TalkJournal
    from scanner.scan import ray_scan
    from scanner.targets.planning import build_plan

    plan = build_plan([fleet.target], ports=fleet.port_list)
    options = ProbeOptions(
        connect_timeout=3, read_timeout=5, tls_timeout=5, legacy_tls=False, source_address="127.0.0.1"
    )
    return ray_scan.RayScan(
        ray_scan.connect(cluster.address),
        plan.endpoints,
        options,
        journal=TalkJournal(journal_path),
        total=plan.current_total,
        **kwargs,
    )


def test_a_node_killed_mid_scan_leaves_every_endpoint_accounted_for(cluster: Any, tmp_path: Path) -> None:
    victim = cluster.add_node(num_cpus=1, labels={"site": "c"})
    cluster.wait_for_nodes()
    with fake_fleet(first=120, live=8, dark=4, login_delay=1.5) as fleet:
        # two endpoints at a time per node: the victim has conversations under way and endpoints still waiting
        scanner = _ray_scan(cluster, fleet, tmp_path / "ray.jsonl", concurrency=8)

        async def run() -> tuple[list[Any], set[tuple[str, int]], set[tuple[str, int]]]:
            rows: list[Any] = []
            caught: list[set[tuple[str, int]]] = []

            async def kill_when_busy() -> None:
                while True:  # its conversations under way and endpoints still waiting: the moment to kill it
                    node = next((n for n in scanner._nodes if n.info.node_id == victim.node_id), None)
                    if node is not None and node.granted and len(node.outstanding) > len(node.granted):
                        caught.extend([set(node.granted), set(node.outstanding) - node.granted])
                        await asyncio.to_thread(cluster.remove_node, victim)  # its raylet and workers killed
                        return
                    await asyncio.sleep(0.01)

            killer = asyncio.create_task(kill_when_busy())
            async for row in scanner.results():
                rows.append(row)
            killer.cancel()
            return rows, *(caught or [set(), set()])  # type: ignore[return-value]

        rows, granted, waiting = asyncio.run(run())
        logins = fleet.logins()
    assert granted, "the node was never caught with a conversation under way"
    keys = [row.key for row in rows]
    assert sorted(keys) == sorted(fleet.endpoints)  # every endpoint has one row: none lost, none twice
    by_key = {row.key: row for row in rows}
    interrupted = {key for key, row in by_key.items() if (row.error or "").startswith("interrupted:")}
    # granted conversations on the dead node are reported, never repeated; none other is
    assert granted <= interrupted
    said = {by_key[key].error for key in interrupted}
    assert all(f"on node 127.0.0.1 ({victim.node_id[:8]})" in str(error) for error in said), (victim.node_id, said)
    # what it had not started was scanned by the other nodes
    assert waiting and all(by_key[key].state in ("open", "closed") for key in waiting - interrupted)
    assert max(logins.values()) == 1, logins  # no endpoint was sent a dummy login twice
    (lost,) = scanner.lost
    assert f"node 127.0.0.1 ({victim.node_id[:8]}) was lost" in lost


def test_the_tui_shows_the_whole_cluster_as_one_scan(cluster: Any, tmp_path: Path) -> None:
    from scanner.tui.app import ScanApp
    from scanner.tui.widgets.summary import ScanSummary

    async def drive(app: ScanApp, total: int) -> str:
        async with app.run_test(size=(160, 50)) as pilot:
            for _ in range(600):
                text = str(app.query_one(ScanSummary).render())
                if f"{total}/{total}" in text:
                    return text
                await pilot.pause(0.05)
            raise AssertionError(str(app.query_one(ScanSummary).render()))

    with fake_fleet(first=140, live=4, dark=4, login_delay=0.2) as fleet:
        scanner = _ray_scan(cluster, fleet, tmp_path / "tui.jsonl")
        app = ScanApp(
            scanner,
            targets=fleet.target,
            options_summary="Ray cluster of 3 nodes",
            output_path=str(tmp_path / "tui.jsonl"),
        )
        text = asyncio.run(drive(app, len(fleet.endpoints)))
    assert "Ray cluster of 3 nodes" in text
    assert len(scanner.rows_by_node) == 3  # one view, fed by every node
    rows = [line for line in lines_of(tmp_path / "tui.jsonl") if "record" not in line]
    assert Counter((r["address"], r["port"]) for r in rows) == Counter(dict.fromkeys(fleet.endpoints, 1))
