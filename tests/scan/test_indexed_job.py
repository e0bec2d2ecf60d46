"""The Kubernetes Indexed Job of docs/kubernetes/indexed-job.yaml, run as Kubernetes would run it but in local
processes: the container's exact command and arguments, the Job's environment (JOB_COMPLETION_INDEX per pod, the
manifest's own env), $(VAR) expanded as the kubelet does, and each volume mount mapped to a directory of the test.
One pod is killed (SIGKILL, as when its node dies) in the middle of a conversation and started again, as the Job
controller does; then the manifest's merge step runs. The merged file must hold the same rows as one scan of the
same targets on one machine, none lost or repeated, and no endpoint may get a second dummy login.

The targets are fake IMAP servers on loopback (tests/scan/fake_fleet.py) that check the password in clear after a
delay, so a conversation is long enough to be cut in two.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.scan.fake_fleet import Fleet, fake_fleet

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "docs" / "kubernetes" / "indexed-job.yaml"


def documents() -> dict[str, dict]:
    return {f"{doc['kind']}/{doc['metadata']['name']}": doc for doc in yaml.safe_load_all(MANIFEST.read_text())}


def kubelet_expand(text: str, env: dict[str, str]) -> str:
    """$(NAME) replaced by the container's variable, $$ escapes, unknown references left as they are."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: "$" if m[0] == "$$" else env.get(m[1], m[0]), text)


class Pod:
    """One pod of a Job: its container's command with mounts mapped to local directories."""

    def __init__(self, job: dict, mounts: dict[str, Path], index: int | None = None) -> None:
        spec = job["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        self.env = {item["name"]: item["value"] for item in container.get("env", [])}
        if index is not None:
            self.env["JOB_COMPLETION_INDEX"] = str(index)  # set by the Job controller in an Indexed Job
        argv = [kubelet_expand(word, self.env) for word in container["command"] + container.get("args", [])]
        for mount in container["volumeMounts"]:
            local = str(mounts[mount["name"]])
            argv = [word.replace(mount["mountPath"], local) for word in argv]
        # the image's mailprobe is this checkout's
        self.argv = [sys.executable, "-m", "scanner", *argv[1:]] if argv[0] == "mailprobe" else argv
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> Pod:
        env = {**os.environ, **self.env, "PYTHONPATH": str(ROOT)}
        if self.argv[:2] == ["sh", "-c"]:  # the merge step's shell finds mailprobe on PATH: this checkout's
            script = self.argv[2].replace("mailprobe ", f"{shlex.quote(sys.executable)} -m scanner ")
            self.argv = ["sh", "-c", script]
        self.process = subprocess.Popen(
            self.argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        return self

    def wait(self) -> tuple[int, str]:
        assert self.process is not None
        out, err = self.process.communicate(timeout=120)
        return self.process.returncode, out + err


def rows_of(path: Path) -> list[dict]:
    return [row for row in map(json.loads, path.read_text().splitlines()) if "record" not in row]


def talking_of(path: Path) -> set[tuple[str, int]]:
    lines = (json.loads(line) for line in path.read_text().splitlines())
    return {(line["address"], line["port"]) for line in lines if line.get("record") == "talking"}


def essence(row: dict) -> tuple:
    """What a user compares between two scans of the same servers: state, verdict, findings."""
    return (row["state"], row["plaintext_login"]["verdict"], sorted(f["id"] for f in row["findings"]))


def write_config(directory: Path, fleet: Fleet) -> None:
    directory.mkdir()
    (directory / "scan.toml").write_text(
        f'targets = ["{fleet.target}"]\nports = "{fleet.port_list}"\ntimeout = 3.0\nptr = false\n'
        'legacy_tls = false\nsource_address = "127.0.0.1"\n'
    )


def test_indexed_job_with_a_pod_killed_gives_the_rows_of_one_scan(tmp_path: Path) -> None:
    docs = documents()
    job, merge_job = docs["Job/mailprobe-scan"], docs["Job/mailprobe-merge"]
    count = job["spec"]["completions"]
    assert job["spec"]["completionMode"] == "Indexed" and job["spec"]["parallelism"] == count
    mounts = {"config": tmp_path / "config", "results": tmp_path / "results"}
    mounts["results"].mkdir()
    with fake_fleet(first=60, live=6, dark=6, login_delay=0.8) as fleet:
        write_config(mounts["config"], fleet)

        # one machine, the same targets and options: the reference
        single = tmp_path / "single.jsonl"
        reference = subprocess.run(
            [sys.executable, "-m", "scanner", "scan", "-c", str(mounts["config"] / "scan.toml"), "-o", str(single)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert reference.returncode == 1, reference.stderr  # the fleet takes passwords in clear: high findings
        expected = {(row["address"], row["port"]): essence(row) for row in rows_of(single)}
        assert set(expected) == fleet.endpoints
        logins_before = fleet.logins()

        # the Job: every index at once; the second pod is killed in the middle of a conversation and retried
        pods = [Pod(job, mounts, index).start() for index in range(count)]
        victim = mounts["results"] / "shard-1.jsonl"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (victim.exists() and talking_of(victim)):
            time.sleep(0.01)
        assert pods[1].process is not None
        pods[1].process.send_signal(signal.SIGKILL)
        pods[1].wait()
        cut_short = talking_of(victim) - {(r["address"], r["port"]) for r in rows_of(victim)}
        assert cut_short, "the pod was not killed during a conversation"
        pods[1] = Pod(job, mounts, 1).start()
        for index, pod in enumerate(pods):
            code, said = pod.wait()
            assert code == 0, f"pod {index}: {said}"  # a shard scanned is a pod succeeded, findings or not

        code, said = Pod(merge_job, mounts).start().wait()
    assert code == 1, said  # the merge step judges the whole scan: high findings
    merged = rows_of(mounts["results"] / "all.jsonl")

    # none lost, none repeated: every endpoint once in the merged file, and once in its shard's file
    assert sorted((r["address"], r["port"]) for r in merged) == sorted(expected)
    for index in range(count):
        keys = [(r["address"], r["port"]) for r in rows_of(mounts["results"] / f"shard-{index}.jsonl")]
        assert len(keys) == len(set(keys)), f"shard {index} probed an endpoint twice"
    # the same rows as on one machine, but for the conversations the kill cut short: they say so, never re-probed
    for row in merged:
        key = (row["address"], row["port"])
        if key in cut_short:
            assert row["state"] == "error" and row["error"].startswith("interrupted:"), row
        else:
            assert essence(row) == expected[key], key
    during_job = fleet.logins() - logins_before
    assert max(during_job.values()) == 1, during_job  # no endpoint was sent a dummy login twice
    live = {key for key, value in expected.items() if value[0] == "open"}
    assert live - cut_short <= set(during_job) <= live  # a conversation cut short may have got to its login or not
    # each file records which shard it is; the merged one which files it was made of
    scans = [json.loads(path.read_text().splitlines()[0]) for path in sorted(mounts["results"].glob("shard-*"))]
    assert sorted(scan["options"]["shard"] for scan in scans) == [f"{k}/{count}" for k in range(1, count + 1)]


def test_shard_auto_outside_a_job_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("JOB_COMPLETION_INDEX", "MAILPROBE_SHARD_COUNT")}
    argv = [sys.executable, "-m", "scanner", "scan", "127.0.0.1", "--shard", "auto", "--no-tui"]
    for extra, said in (
        ({}, "JOB_COMPLETION_INDEX is not set"),
        ({"JOB_COMPLETION_INDEX": "0"}, "MAILPROBE_SHARD_COUNT is not set (set it to the Job's completions)"),
        ({"JOB_COMPLETION_INDEX": "4", "MAILPROBE_SHARD_COUNT": "4"}, "JOB_COMPLETION_INDEX=4 is not below"),
    ):
        done = subprocess.run(argv, cwd=tmp_path, env={**env, **extra, "PYTHONPATH": str(ROOT)}, capture_output=True)
        assert done.returncode == 2
        lines = done.stderr.decode().splitlines()
        assert len(lines) == 1 and said in lines[0], lines


def test_merge_refuses_an_incomplete_set_of_shards(tmp_path: Path) -> None:
    from scanner.commands.merge import check_shards, merge
    from scanner.errors import UsageError
    from scanner.results_file import JsonlWriter, new_scan

    paths = {}
    for shard in ("1/3", "2/3", "3/3"):
        path = tmp_path / f"part-{shard[0]}.jsonl"
        JsonlWriter(path, new_scan(["127.0.0.0/30"], {"shard": shard})).close()
        paths[shard] = str(path)
    check_shards(merge(list(paths.values()))[0], 3)  # all three: merged
    with pytest.raises(UsageError, match=r"^--shards 3: shard 2/3 missing$"):
        check_shards(merge([paths["1/3"], paths["3/3"]])[0], 3)
    with pytest.raises(UsageError, match=r"shards 1/4, 2/4, 3/4, 4/4 missing; not a shard of 4: 1/3, 2/3, 3/3$"):
        check_shards(merge(list(paths.values()))[0], 4)
