"""Walk the named files and directories, detect each file's format, stream it through its parser."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator

from scanner.logs import dovecot, exchange
from scanner.logs.aggregate import Aggregator
from scanner.logs.model import FileInfo, LoginEvent, Report
from scanner.logs.reader import chunks, head, open_log

MALFORMED_SAMPLES = 5
CONTROL_BYTES = (*range(9), 11, 12, *range(14, 32))
SKIP_SUFFIXES = (".bz2", ".xz", ".zst", ".zip", ".7z")


class Missing(Exception):
    """A path named by the user does not exist."""


def iter_files(paths: Iterable[str]) -> Iterator[str]:
    """The files under ``paths``, directories walked in name order; a missing path raises Missing."""
    for path in paths:
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    if not name.startswith("."):
                        yield os.path.join(root, name)
        elif os.path.exists(path):
            yield path
        else:
            raise Missing(path)


def detect(sample: bytes) -> str:
    """ "exchange" (a ``#``-header CSV log), "dovecot" (syslog/journal/Dovecot text), or "unknown" (binary)."""
    probe = sample[:4096]
    if probe and sum(probe.count(bytes([b])) for b in CONTROL_BYTES) > len(probe) // 20:  # not a text log
        return "unknown"
    first = sample.lstrip()[:4096]
    if first.startswith((b"#Software: Microsoft Exchange", b"#Fields:", b"#Version:", b"#Log-type:", b"#Date:")):
        return "exchange"
    return "dovecot"  # any text log: only "-login: " lines are read, so other syslog lines cost nothing


def analyse(
    paths: Iterable[str],
    by: str = "address",
    tls_ports: frozenset[int] = exchange.IMPLICIT_TLS_PORTS,
    progress: Callable[[str], None] | None = None,
    year: int | None = None,
) -> Report:
    """Analyse every file under ``paths``. ``year`` dates syslog lines (which carry none); default: file mtime."""
    aggregator = Aggregator(by)
    files: list[FileInfo] = []
    samples: list[str] = []
    totals = {"lines": 0, "malformed": 0}
    notes: list[str] = []
    backend_logins = 0

    for path in iter_files(paths):
        if path.endswith(SKIP_SUFFIXES):
            files.append(FileInfo(path, "unknown", 0, 0, 0, "compressed format not supported (gzip only)"))
            continue
        if progress is not None:
            progress(path)
        malformed = 0

        def on_malformed(source: str, text: str) -> None:
            nonlocal malformed
            malformed += 1
            if len(samples) < MALFORMED_SAMPLES:
                samples.append(f"{source}: {text}")

        events_before = aggregator.events
        emit: Callable[[LoginEvent], None] = aggregator.add
        try:
            kind = detect(head(path))
            note = ""
            if kind == "unknown":
                files.append(FileInfo(path, "unknown", 0, 0, 0, "binary file skipped"))
                continue
            with open_log(path) as stream:
                if kind == "exchange":
                    parser = exchange.ExchangeParser(path, emit, on_malformed, tls_ports=tls_ports)
                    lines = parser.feed(chunks(stream))
                    kind = f"exchange-{parser.layout or 'unknown'}"
                    if parser.backend_logins:
                        backend_logins += parser.backend_logins
                        note = f"{parser.backend_logins} back-end (proxied) logins not attributed"
                else:
                    mtime = time.localtime(os.path.getmtime(path))
                    state = (
                        dovecot.DovecotState(year=year)
                        if year is not None
                        else dovecot.DovecotState(year=mtime.tm_year, last_month=mtime.tm_mon)
                    )
                    lines = dovecot.scan(chunks(stream), path, state, emit, on_malformed)
        except (OSError, EOFError) as exc:  # unreadable or truncated gzip: keep what was read, say so
            files.append(FileInfo(path, "unreadable", 0, aggregator.events - events_before, malformed, str(exc)))
            notes.append(f"{path}: {exc}")
            continue
        totals["lines"] += lines
        totals["malformed"] += malformed
        files.append(FileInfo(path, kind, lines, aggregator.events - events_before, malformed, note))

    if backend_logins:
        notes.append(
            f"{backend_logins} logins in Exchange back-end files came from the front end (proxy), not from clients: "
            "clients are judged in the front-end files"
        )
    return Report(
        by=by,
        rows=tuple(aggregator.rows()),
        files=tuple(files),
        lines=totals["lines"],
        malformed=totals["malformed"],
        malformed_samples=tuple(samples),
        notes=tuple(notes),
    )
