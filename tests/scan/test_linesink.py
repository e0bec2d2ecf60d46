"""Results written to a pipe nobody reads yet: the writer waits, the event loop keeps running, nothing is lost."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from scanner.scan.linesink import LineSink, is_pipe

ROOT = Path(__file__).resolve().parents[2]
LINES = [f'{{"n": {i}, "pad": "{"x" * 200}"}}\n' for i in range(2000)]  # ~420 KB: far more than a pipe buffer


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


async def test_a_full_pipe_makes_the_writer_wait_not_the_loop():
    read_fd, write_fd = os.pipe()
    sink = await LineSink.open(os.fdopen(write_fd, "wb", buffering=0))

    async def produce() -> None:
        for line in LINES:
            await sink.write(line)
        await sink.close()

    producer = asyncio.create_task(produce())
    ticks = 0
    for _ in range(50):  # with a blocking write the loop would be stuck in os.write and never tick
        await asyncio.sleep(0)
        ticks += 1
    assert ticks == 50
    assert not producer.done()  # the pipe is full and nobody reads: the producer waits for room
    data = await asyncio.to_thread(_read_all, read_fd)  # the reader wakes up; the producer finishes
    await asyncio.wait_for(producer, 30)
    os.close(read_fd)
    assert data.decode() == "".join(LINES)


async def test_stdout_sink_only_for_pipes_and_blocking_again_after(tmp_path):
    with open(tmp_path / "out.jsonl", "w") as regular:
        assert await LineSink.for_stream(regular) is None  # a regular file never waits on a reader
    read_fd, write_fd = os.pipe()
    stream = os.fdopen(write_fd, "w")
    assert is_pipe(write_fd)
    sink = await LineSink.for_stream(stream)
    assert sink is not None
    await sink.write("one\n")
    await sink.close()
    assert os.get_blocking(write_fd)  # the summary printed after the results expects a blocking stdout
    stream.write("two\n")
    stream.close()
    assert _read_all(read_fd) == b"one\ntwo\n"
    os.close(read_fd)


def test_scan_jsonl_through_a_pipe_keeps_every_line_and_the_summary():
    # Closed loopback ports: every endpoint gets a row; stdout is a pipe read only after the scan has ended
    ports = ",".join(f"imap:{port}" for port in range(1, 10))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "scanner",
            "scan",
            "127.0.0.1",
            "-p",
            ports,
            "--no-tui",
            "--format",
            "jsonl",
            "--timeout",
            "2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    scan_line, *rows = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert '"record":"scan"' in scan_line and len(rows) == 9, done.stderr
    assert "Traceback" not in done.stderr
    assert "9 endpoints" in done.stderr  # the summary after the results is still written
