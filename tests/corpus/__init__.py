"""The corpus of real conversations (fixtures/corpus/, format in fixtures/corpus/README.md): what real servers in
each configuration the suite runs said to mailprobe's probe, with the verdict their configuration calls for.

    for entry in iter_corpus():
        entry.server, entry.version, entry.config, entry.setting      # "Cyrus IMAP", "3.6.1-...", ...
        entry.protocol, entry.port, entry.transport                   # "imap", 143, "starttls"
        entry.expected_verdict                                        # "refused" | "accepted" | "not_applicable"
        entry.transcript                                              # tuple[scanner.model.TranscriptLine, ...]

Replay one through the real probe with tests.corpus.replay.replay(entry). tests/corpus/record.py writes the files.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from scanner.model import TranscriptLine

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "corpus"
HEADER = "# mailprobe corpus: one real conversation; format in fixtures/corpus/README.md"
_FIELDS = ("server", "version", "config", "setting", "protocol", "port", "transport", "expected", "recorded")
_LINE = re.compile(r"([CS*]) +(\d+) ([.T]) (.*)")
DUMMY_USER = re.compile(r"\bmailprobe-[0-9a-f]{12}\b")  # scanner.probe.dialects.DummyCredentials.random()


class CorpusError(ValueError):
    """A corpus file that does not follow the format; the message names the file and line."""


@dataclass(frozen=True)
class CorpusEntry:
    """One recorded conversation of mailprobe with one real server's endpoint, and its ground truth."""

    server: str  # "Dovecot", "Postfix", "Cyrus IMAP", ...
    version: str  # the package version that answered
    config: str  # the test harness's set-up name ("plaintext_refused", "tls_required", ...)
    setting: str  # the configuration lines that decide the ground truth, as an admin would write them
    protocol: str  # "imap", "pop3", "smtp"
    port: int
    transport: str  # "starttls" or "implicit"
    expected_verdict: str  # what the configuration says the plaintext verdict must be
    recorded_verdict: str  # what mailprobe said when the conversation was recorded
    transcript: tuple[TranscriptLine, ...]
    path: Path | None = None

    @property
    def name(self) -> str:
        """The file's name relative to fixtures/corpus ("cyrus/plaintext_refused-143.txt")."""
        if self.path is None:
            return f"{self.server}/{self.config}-{self.port}"
        try:
            return self.path.relative_to(CORPUS).as_posix()
        except ValueError:
            return self.path.name

    @property
    def dummy_user(self) -> str | None:
        """The random user name mailprobe sent when this was recorded (its password is masked)."""
        for line in self.transcript:
            if line.direction == "C" and (found := DUMMY_USER.search(line.text)):
                return found.group(0)
        return None

    def connections(self) -> list[tuple[TranscriptLine, ...]]:
        """The transcript cut at each ``connected to`` note: one part per connection mailprobe opened."""
        parts: list[list[TranscriptLine]] = []
        for line in self.transcript:
            if line.direction == "*" and line.text.startswith("connected to "):
                parts.append([])
            if parts:
                parts[-1].append(line)
        return [tuple(part) for part in parts]

    def with_transcript(self, transcript: tuple[TranscriptLine, ...]) -> CorpusEntry:
        """The same entry with another transcript (for tests that vary a real conversation)."""
        return dataclasses.replace(self, transcript=tuple(transcript))


def iter_corpus(root: Path = CORPUS) -> Iterator[CorpusEntry]:
    """Every corpus file under ``root``, in a stable order."""
    for path in sorted(root.rglob("*.txt")):
        yield load(path)


def load(path: Path) -> CorpusEntry:
    return parse(path.read_text("utf-8"), path)


def parse(text: str, path: Path | None = None) -> CorpusEntry:
    where = path.name if path else "<corpus text>"
    fields: dict[str, str] = {}
    lines: list[TranscriptLine] = []
    in_body = False
    for number, raw in enumerate(text.split("\n"), 1):
        if not in_body:
            if raw == "---":
                in_body = True
            elif raw.strip() and not raw.startswith("#"):
                key, colon, value = raw.partition(": ")
                if not colon or key not in _FIELDS:
                    raise CorpusError(f"{where}:{number}: expected 'field: value' ({', '.join(_FIELDS)}): {raw!r}")
                fields[key] = value
            continue
        if not raw:
            continue
        match = _LINE.fullmatch(raw)
        if match is None:
            raise CorpusError(f"{where}:{number}: expected 'C|S|* MS .|T TEXT': {raw!r}")
        direction, t_ms, tls, shown = match.groups()
        lines.append(TranscriptLine(direction, _unquote(shown, where, number), tls == "T", int(t_ms)))  # type: ignore[arg-type]
    missing = [f for f in _FIELDS if f not in fields]
    if missing or not in_body:
        raise CorpusError(f"{where}: missing {', '.join(missing) or 'the --- line before the transcript'}")
    return CorpusEntry(
        server=fields["server"],
        version=fields["version"],
        config=fields["config"],
        setting=fields["setting"],
        protocol=fields["protocol"],
        port=int(fields["port"]),
        transport=fields["transport"],
        expected_verdict=fields["expected"],
        recorded_verdict=fields["recorded"],
        transcript=tuple(lines),
        path=path,
    )


def dump(entry: CorpusEntry) -> str:
    values = (
        entry.server, entry.version, entry.config, entry.setting, entry.protocol, str(entry.port), entry.transport,
        entry.expected_verdict, entry.recorded_verdict,
    )  # fmt: skip
    head = [HEADER, *(f"{key}: {value}" for key, value in zip(_FIELDS, values, strict=True)), "---"]
    body = [f"{t.direction} {t.t_ms:>6} {'T' if t.tls else '.'} {_quote(t.text)}" for t in entry.transcript]
    return "\n".join(head + body) + "\n"


def _quote(text: str) -> str:
    """Text as it is, unless the line could not carry it unchanged: then as a JSON string (it starts with ")."""
    plain = text and text == text.strip() and not text.startswith('"')
    if plain and not any(ord(c) < 32 or ord(c) == 127 for c in text):
        return text
    return json.dumps(text)


def _unquote(shown: str, where: str, number: int) -> str:
    if not shown.startswith('"'):
        return shown
    try:
        text = json.loads(shown)
    except json.JSONDecodeError as exc:
        raise CorpusError(f"{where}:{number}: a quoted text must be one JSON string: {exc}") from None
    if not isinstance(text, str):
        raise CorpusError(f"{where}:{number}: a quoted text must be one JSON string")
    return text
