"""Issue 22's metamorphic property on the corpus of real conversations (fixtures/corpus, tests/corpus): every file,
replayed through the real probe with the server's texts reworded (tests/verdicts/paraphrase.py), never gets the
opposite confident verdict (accepted <-> refused); inconclusive is allowed. A new corpus file is picked up without
a change here.

A rewording can change the probe's own course: a POP3 USER refused in words that demand TLS is not repeated over TLS,
reworded it is. The replaying server then has no recorded answer and closes that connection, which can only leave the
verdict inconclusive, as it would be with a real server that hung up there."""

from __future__ import annotations

import asyncio
import dataclasses

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.corpus import CorpusEntry, iter_corpus
from tests.corpus.replay import replay_all
from tests.verdicts.paraphrase import Rewording, draw_rewording, rewrite, texts_of

ENTRIES = list(iter_corpus())
OPPOSITE = {"accepted", "refused"}
# Commands whose answers list protocol tokens (capabilities, EHLO keywords): those lines are never reworded.
LISTINGS = {"CAPABILITY", "CAPA", "EHLO", "HELO"}


def _server_lines(entry: CorpusEntry) -> list[tuple[int, str]]:
    """(index, text) of the server lines that carry words, in order."""
    found: list[tuple[int, str]] = []
    listing = False
    for index, line in enumerate(entry.transcript):
        if line.direction == "C":
            words = line.text.split()
            verb = words[1] if entry.protocol == "imap" and len(words) > 1 else (words[0] if words else "")
            listing = verb.upper() in LISTINGS
        elif line.direction == "S" and not listing:
            found.append((index, line.text))
    return found


def reword_entry(entry: CorpusEntry, reword: Rewording) -> CorpusEntry:
    transcript = list(entry.transcript)
    for index, text in _server_lines(entry):
        transcript[index] = dataclasses.replace(transcript[index], text=rewrite(text, entry.protocol, reword))
    return entry.with_transcript(tuple(transcript))


def test_the_corpus_is_there_with_both_confident_verdicts() -> None:
    assert len(ENTRIES) >= 50
    assert {e.expected_verdict for e in ENTRIES} >= OPPOSITE


@settings(
    max_examples=4,
    deadline=180_000,  # one example replays the whole corpus at once (each file on its own server): ~6 s when quiet
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_rewording_a_real_conversation_never_turns_its_verdict_around(data: st.DataObject) -> None:
    reworded = [
        reword_entry(e, draw_rewording(data, texts_of((t for _, t in _server_lines(e)), e.protocol), e.name))
        for e in ENTRIES
    ]
    replayed = asyncio.run(replay_all(reworded))
    turned = {
        r.entry.name: (r.entry.expected_verdict, r.verdict, r.result.plaintext_login.evidence)
        for r in replayed
        if {r.entry.expected_verdict, r.verdict} == OPPOSITE
    }
    assert not turned, turned


def test_only_words_change_in_a_reworded_conversation() -> None:
    """Capabilities, EHLO keywords, SASL challenges, tags, status and codes stay as recorded."""
    entry = next(e for e in ENTRIES if e.name == "postfix/auth_in_clear-587.txt")
    shouted = reword_entry(entry, str.upper)
    changed = [(a.text, b.text) for a, b in zip(entry.transcript, shouted.transcript, strict=True) if a != b]
    assert ("220 mail.mailprobe.test ESMTP Postfix", "220 MAIL.MAILPROBE.TEST ESMTP POSTFIX") in changed
    assert any(a.startswith("535 5.7.8 Error") and b.startswith("535 5.7.8 ERROR") for a, b in changed)
    assert not any(a.startswith(("250-", "250 ", "334")) for a, _ in changed)
