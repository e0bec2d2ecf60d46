"""Replay every real conversation of fixtures/corpus through the real probe and verdict rules: the verdict must be
what the server's configuration calls for. A failure names the file (which real conversation changed), both
verdicts, the evidence, and where mailprobe's conversation left the recorded one."""

from __future__ import annotations

import asyncio
import re

import pytest

from scanner.model import TranscriptLine
from tests.corpus import CORPUS, DUMMY_USER, CorpusEntry, CorpusError, dump, iter_corpus, parse
from tests.corpus.replay import Replayed, replay, replay_all, steps

ENTRIES = list(iter_corpus())
# Every real server CI runs, in every configuration the suite runs it in: directory -> configurations.
SERVERS = {
    "dovecot": {"plaintext_refused", "plaintext_allowed", "ssl_no", "ssl_required"},
    "postfix": {"auth_after_tls", "auth_in_clear", "no_tls", "tls_required"},
    "dovecot-submission": {"plaintext_refused", "plaintext_allowed"},
    "mailutils": {"tls_required", "tls_ondemand", "tls_false"},
    "nginx": {"starttls_only", "starttls_on", "starttls_off"},
    "cyrus": {"plaintext_refused", "plaintext_allowed", "no_tls"},
    "courier": {"tls_required", "tls_optional", "no_tls"},
    "aiosmtpd": {"1.4.5", "1.4.6"},
    "twisted": {"no_portal"},
    "pymap": {"dict"},
}


@pytest.fixture(scope="module")
def replayed() -> dict[str, Replayed]:
    """The whole corpus replayed at once (each file has its own server): as long as the slowest file."""
    return {r.entry.name: r for r in asyncio.run(replay_all(ENTRIES))}


@pytest.mark.parametrize("name", [e.name for e in ENTRIES])
def test_real_conversation_keeps_its_verdict(replayed: dict[str, Replayed], name: str) -> None:
    result = replayed[name]
    assert result.verdict == result.entry.expected_verdict, result.explain()
    assert result.result.state == "open", result.explain()


@pytest.mark.parametrize("name", [e.name for e in ENTRIES])
def test_the_probe_still_has_the_recorded_conversation(replayed: dict[str, Replayed], name: str) -> None:
    """mailprobe says what it said to the real server: otherwise the replay no longer shows what that server
    would answer, and the file needs recording again (python -m tests.corpus.record SERVER)."""
    result = replayed[name]
    assert not result.divergences, result.explain()


def test_the_corpus_covers_every_real_server_and_configuration() -> None:
    found: dict[str, set[str]] = {}
    for entry in ENTRIES:
        found.setdefault(entry.name.split("/")[0], set()).add(entry.config)
    assert found == SERVERS
    assert {e.expected_verdict for e in ENTRIES} == {"refused", "accepted", "not_applicable"}
    assert {e.protocol for e in ENTRIES} == {"imap", "pop3", "smtp"}


def test_every_file_was_recorded_with_the_verdict_its_configuration_calls_for() -> None:
    wrong = [e.name for e in ENTRIES if e.recorded_verdict != e.expected_verdict]
    assert not wrong


def test_no_dummy_password_and_only_dummy_users() -> None:
    """The password is masked as in every result; the only user name sent is the random dummy one, never a test
    account of the harnesses (their passwords would log in)."""
    for entry in ENTRIES:
        for line in (t.text for t in entry.transcript if t.direction == "C"):
            words = line.upper().split()
            if {"LOGIN", "PASS"} & set(words[:2]):
                assert "********" in line, (entry.name, line)
            for name in re.findall(r"mailprobe-[\w-]+", line):
                assert DUMMY_USER.fullmatch(name), (entry.name, line)


def test_files_read_back_to_the_same_text() -> None:
    for entry in ENTRIES:
        assert entry.path is not None
        assert dump(entry) == entry.path.read_text("utf-8"), entry.name


def test_text_that_a_line_cannot_carry_is_quoted_and_read_back() -> None:
    odd = ("+ ", "", ' "quoted" ', "tab\there", "bell\x07", '"starts with a quote', "ünïcode ok")
    entry = ENTRIES[0].with_transcript(tuple(TranscriptLine("S", text, False, 5) for text in odd))
    text = dump(entry)
    assert parse(text).transcript == entry.transcript
    assert "\nS      5 . ünïcode ok\n" in text and '\nS      5 . "+ "\n' in text


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("server: x\n", "missing"),
        ("nonsense line\n---\n", "field: value"),
        (dump(ENTRIES[0]).replace("\nS ", "\nX ", 1), "C|S|*"),
        (dump(ENTRIES[0]) + 'S 1 . "unterminated\n', "JSON string"),
    ],
    ids=["no body", "no field", "bad direction", "bad quoting"],
)
def test_malformed_files_are_refused_with_the_line(text: str, problem: str) -> None:
    with pytest.raises(CorpusError, match=re.escape(problem)):
        parse(text)


def test_replay_steps_follow_the_recording() -> None:
    """Delays are the recorded time to the last line of an answer, capped; TLS starts where the note says."""
    connection = (
        TranscriptLine("*", "connected to 127.0.0.9:143", False, 10),
        TranscriptLine("S", "* OK ready", False, 12),
        TranscriptLine("C", "a1 STARTTLS", False, 12),
        TranscriptLine("S", "a1 OK go", False, 15),
        TranscriptLine("*", "TLS established: TLSv1.3 X", True, 40),
        TranscriptLine("C", "a2 LOGIN u ********", True, 40),
        TranscriptLine("S", "a2 NO [AUTHENTICATIONFAILED] Authentication failed.", True, 3040),
    )
    kinds = [type(s).__name__ for s in steps(connection)]
    assert kinds == ["_Send", "_Expect", "_Send", "_Tls", "_Expect", "_Send"]
    delays = [s.delay for s in steps(connection) if hasattr(s, "delay")]
    assert delays == [0.002, 0.003, 1.0]
    assert [s.delay for s in steps(connection, None) if hasattr(s, "delay")][-1] == 3.0


def _changed(entry: CorpusEntry, old: str, new: str) -> CorpusEntry:
    lines = tuple(
        TranscriptLine(t.direction, t.text.replace(old, new), t.tls, t.t_ms) if t.direction == "S" else t
        for t in entry.transcript
    )
    return entry.with_transcript(lines)


async def test_a_changed_server_answer_changes_the_replayed_verdict() -> None:
    """The replay is faithful enough to fail: Cyrus refusing in clear with its credential wording instead of its
    TLS demand (and no LOGINDISABLED) is a server that checks passwords in clear, and the verdict says so."""
    entry = next(e for e in ENTRIES if e.name == "cyrus/plaintext_refused-143.txt")
    changed = _changed(entry, "Login only available under a layer", "Login failed: authentication failure")
    changed = _changed(changed, " LOGINDISABLED", "")
    result = await replay(changed, delay_cap=0.9)
    assert result.verdict == "accepted", result.explain()


async def test_a_probe_that_says_something_else_is_reported_as_diverging() -> None:
    entry = next(e for e in ENTRIES if e.name == "dovecot/plaintext_refused-143.txt")
    lines = tuple(
        TranscriptLine("C", "a1 NOOP", t.tls, t.t_ms) if t.direction == "C" and t.text == "a1 CAPABILITY" else t
        for t in entry.transcript
    )
    result = await replay(entry.with_transcript(lines))
    assert any("mailprobe said 'a1 CAPABILITY' where the recording has 'a1 NOOP'" in d for d in result.divergences)


def test_the_corpus_directory_holds_only_corpus_files() -> None:
    others = [p.name for p in CORPUS.rglob("*") if p.is_file() and p.suffix != ".txt" and p.name != "README.md"]
    assert not others
