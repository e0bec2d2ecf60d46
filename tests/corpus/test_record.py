"""The recorder against real servers, end to end: GNU Mailutils, nginx's mail proxy and aiosmtpd (the fastest;
aiosmtpd stands for the servers run from venvs, with one version per configuration) recorded in all their
configurations into a scratch directory, read back, and replayed: each replay says what the live probe said, with no
divergence. Keeps the recorder working between the times the corpus is recorded again."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest

from tests.corpus import iter_corpus
from tests.corpus.record import RECORDERS, _pki, record, write
from tests.corpus.replay import replay_all


@pytest.mark.parametrize("slug", ["mailutils", "nginx", "aiosmtpd"])
def test_recorded_then_replayed(slug: str, tmp_path: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="mp-corpus-pki-") as files:
        entries, differing = record(RECORDERS[slug], _pki(Path(files)))
    assert not differing
    if slug == "aiosmtpd":  # each configuration's version is the one its venv has
        assert {(e.config, e.version) for e in entries} == {("1.4.5", "1.4.5"), ("1.4.6", "1.4.6")}
    write(slug, entries, tmp_path)
    read = list(iter_corpus(tmp_path))
    assert {(e.config, e.port): e.transcript for e in read} == {(e.config, e.port): e.transcript for e in entries}
    for done in asyncio.run(replay_all(read)):
        assert done.verdict == done.entry.recorded_verdict == done.entry.expected_verdict, done.explain()
        assert not done.divergences, done.explain()
