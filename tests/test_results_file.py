"""JSON Lines crash safety: whole lines only, torn tails from older crashes tolerated and cut, merge of shards."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from scanner.cli import main
from scanner.errors import UsageError
from scanner.model import EndpointResult, Finding
from scanner.results_file import JsonlWriter, iter_results, new_scan, read_keys
from tests.factories import result as shared_result
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


def result(address: str, port: int = 143, state: str = "closed", **extra) -> EndpointResult:
    return shared_result(port, address=address, state=state, **extra)


def test_round_trip_and_append(tmp_path):
    path = tmp_path / "r.jsonl"
    finding = Finding("plaintext-login-accepted", "high", "t", "d", "r")
    with JsonlWriter(path) as writer:
        writer.write(result("192.0.2.1", state="open", findings=(finding,)))
    with JsonlWriter(path) as writer:  # a second run appends
        writer.write(result("192.0.2.2"))
    back = list(iter_results(path))
    assert [r.key for r in back] == [("192.0.2.1", 143), ("192.0.2.2", 143)]
    assert back[0].findings == (finding,)
    assert path.read_bytes().count(b"\n") == 2


def test_torn_tail_is_skipped_on_read_and_cut_before_appending(tmp_path):
    path = tmp_path / "r.jsonl"
    whole = result("192.0.2.1").to_json() + "\n"
    path.write_text(whole + result("192.0.2.2").to_json()[:40])  # an older crash mid-line
    assert read_keys(path) == [("192.0.2.1", 143)]
    with JsonlWriter(path) as writer:
        writer.write(result("192.0.2.3"))
    lines = path.read_text().splitlines()
    assert [json.loads(line)["address"] for line in lines] == ["192.0.2.1", "192.0.2.3"]


def test_file_that_is_only_a_torn_line_becomes_empty(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"host": "192.0.2.1", "addr')
    with JsonlWriter(path) as writer:
        writer.write(result("192.0.2.9"))
    assert read_keys(path) == [("192.0.2.9", 143)]


def test_a_last_line_whole_but_for_its_newline_is_done_and_kept(tmp_path):
    """SIGKILL cuts a write on a page boundary, which can fall just before a line's newline: that row reached the
    file, so --resume counts its endpoint as done (read_keys) and must keep it. The writer ends the line instead of
    cutting it off; cut off, the endpoint would be neither in the file nor probed again."""
    path = tmp_path / "r.jsonl"
    path.write_text(result("192.0.2.1").to_json() + "\n" + result("192.0.2.2").to_json())
    done = read_keys(path)
    assert done == [("192.0.2.1", 143), ("192.0.2.2", 143)]
    with JsonlWriter(path) as writer:
        writer.write(result("192.0.2.3"))
    assert read_keys(path) == [*done, ("192.0.2.3", 143)]  # what resume skipped is exactly what the file holds
    assert path.read_bytes().count(b"\n") == 3


def test_what_resume_reads_as_done_is_what_the_writer_keeps_wherever_a_kill_cuts(tmp_path):
    """Every cut of the last write, at every byte: the endpoints read_keys reports as done are exactly the ones
    whose rows the file still holds once a writer has opened it to append."""
    lines = [result(f"192.0.2.{i}").to_json() + "\n" for i in (1, 2)]
    text = "".join(lines)
    for cut in range(len(lines[0]), len(text) + 1):
        path = tmp_path / f"cut{cut}.jsonl"
        path.write_text(text[:cut])
        done = read_keys(path)
        JsonlWriter(path).close()
        assert read_keys(path) == done, cut
        assert path.read_bytes().endswith(b"\n")


def test_a_bad_line_in_the_middle_is_an_error_naming_the_line(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(result("192.0.2.1").to_json() + "\nnot json\n" + result("192.0.2.2").to_json() + "\n")
    with pytest.raises(UsageError, match=r"r\.jsonl:2"):
        read_keys(path)


WRITER = textwrap.dedent("""
    import sys
    from scanner.results_file import JsonlWriter
    from scanner.model import EndpointResult
    writer = JsonlWriter(sys.argv[1])
    detail = "x" * 20000  # long lines make a torn write likely if lines were not written whole
    i = 0
    while True:
        writer.write(EndpointResult(host="h", address=f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", name=None,
                                    port=143, protocol="imap", transport="starttls", state="error", error=detail))
        if i == 50:
            print("ready", flush=True)
        i += 1
""")


def parses(line: bytes) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def test_sigkill_of_a_writing_process_loses_no_finished_line(tmp_path):
    """Linux may cut a write() short when SIGKILL arrives while it copies pages, so a kill can leave at most the
    line being written torn (20 kB lines here make that likely); every line before it is whole, readers skip the
    torn tail, and the next writer cuts it off before appending."""
    path = tmp_path / "killed.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)],
        stdout=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    # kill while it is writing: some lines past the 51 announced (so the kill lands in the middle of the stream)
    wait_until(lambda: path.stat().st_size > 60 * 20000, "the writer to get past 60 lines")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    *whole, tail = path.read_bytes().split(b"\n")
    assert len(whole) > 50
    assert all(json.loads(line)["state"] == "error" for line in whole)  # every finished line is intact
    keys = read_keys(path)
    # a torn tail (if any) is skipped, not an error; a tail cut just before its newline is a whole row and counts
    whole_tail = parses(tail)
    assert len(keys) == len(set(keys)) == len(whole) + whole_tail
    with JsonlWriter(path) as writer:
        writer.write(result("192.0.2.1"))
    assert read_keys(path) == [*keys, ("192.0.2.1", 143)]
    assert path.read_bytes().endswith(b"\n") and path.read_bytes().count(b"\n") == len(keys) + 1


def test_merge_joins_shards_and_keeps_the_last_line_of_an_endpoint(tmp_path, capsys):
    a, b, out = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "all.jsonl"
    with JsonlWriter(a) as w:
        w.write(result("192.0.2.1"))
        w.write(result("192.0.2.2", state="filtered"))
    with JsonlWriter(b) as w:
        w.write(result("192.0.2.3"))
        w.write(result("192.0.2.2", state="open"))  # re-probed later
    assert main(["merge", str(a), str(b), "-o", str(out)]) == 0
    merged = list(iter_results(out))
    assert [(r.address, r.state) for r in merged] == [
        ("192.0.2.1", "closed"),
        ("192.0.2.2", "open"),
        ("192.0.2.3", "closed"),
    ]
    assert "merged 3 endpoints from 2 files" in capsys.readouterr().err
    assert main(["merge", str(a), str(out), "-o", str(a)]) == 0  # an input may be the output
    assert len(read_keys(a)) == 3


def test_merge_of_a_missing_file_exits_2(tmp_path, capsys):
    assert main(["merge", str(tmp_path / "none.jsonl"), "-o", str(tmp_path / "o.jsonl")]) == 2
    assert "none.jsonl" in capsys.readouterr().err


def test_merge_of_scans_with_different_options_states_each(tmp_path):
    # Shards share their options; files of scans run differently must not be described by the first one's.
    a, b, out = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "all.jsonl"
    with JsonlWriter(a, new_scan(["192.0.2.1"], {"ports": "143,993", "timeout": 5.0})) as w:
        w.write(result("192.0.2.1"))
    with JsonlWriter(b, new_scan(["192.0.2.2"], {"ports": "587,993", "timeout": 5.0})) as w:
        w.write(result("192.0.2.2", 587))
    assert main(["merge", str(a), str(b), "-o", str(out)]) == 0
    scan = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    assert scan["options"]["ports"] == ["143,993", "587,993"]
    assert scan["options"]["timeout"] == 5.0
    assert scan["targets"] == ["192.0.2.1", "192.0.2.2"]


def test_talking_lines_make_resume_owe_an_interrupted_row_and_readers_skip_them(tmp_path):
    from scanner.model import Endpoint
    from scanner.results_file import TalkJournal, read_progress, read_result_file

    path = tmp_path / "r.jsonl"
    finished = Endpoint("127.0.0.2", "127.0.0.2", 143, "imap", "starttls")
    cut_short = Endpoint("mail.example.test", "127.0.0.3", 995, "pop3", "implicit", name="mail.example.test")
    with JsonlWriter(path, new_scan(["127.0.0.2-3"], {})) as writer:
        journal = TalkJournal(path)
        journal.note(finished)
        journal.note(cut_short, where="node 7f3a")
        journal.close()
        writer.write(shared_result(address="127.0.0.2", host="127.0.0.2", port=143))
    assert [r.key for r in read_result_file(path).results] == [("127.0.0.2", 143)]  # reports never see them
    progress = read_progress(path)
    assert sorted(progress.done) == [("127.0.0.2", 143), ("127.0.0.3", 995)]  # neither is probed again
    (row,) = progress.interrupted
    assert (row.host, row.name, row.key, row.protocol, row.transport) == (
        "mail.example.test",
        "mail.example.test",
        ("127.0.0.3", 995),
        "pop3",
        "implicit",
    )
    assert row.state == "error" and row.error is not None
    assert row.error.startswith("interrupted: the scan on node 7f3a stopped during this endpoint's conversation")
