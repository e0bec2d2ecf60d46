"""The one path a result takes after its probe: host findings added, then every consumer fed through one protocol.

``ResultPipeline`` reads a scan's results (``Scan.results()`` or the workers' merged stream), runs each row through
the host judge (scanner.verdicts.host: findings that need several ports of a host) and hands the judged row to its
sinks in order. When a later port of a host changes the host findings of a row already handed on, the sinks get
that row again through ``revise``. The results file, stdout, progress, the rows kept for the table and validation,
and the TUI are all sinks; `mailprobe scan`, `mailprobe check` and the TUI build their pipeline the same way.

A revised row is the whole row (the file and stdout take the latest line of an endpoint as its state), but the judge
keeps rows without transcripts: the pipeline keeps each open endpoint's line, compressed, for that.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections import Counter
from collections.abc import AsyncIterable, Awaitable, Sequence
from typing import TYPE_CHECKING, Protocol

from scanner.model import EndpointResult

if TYPE_CHECKING:
    from scanner.verdicts.host import HostJudge

Key = tuple[str, int]


class ResultSink(Protocol):
    """What consumes results. ``add``: an endpoint's first row; ``revise``: a later row of an endpoint already added
    (``old`` as it was given, possibly without its transcript): host findings that came with another port of the
    host, or a re-probe. ``drain``: what to await while the consumer is behind (a pipe with a slow reader), so the
    scan slows down instead of piling rows up; None when there is nothing to wait for (most sinks, always: a call per
    row and sink, so no coroutine is made for nothing). ``aclose``: the stream ended (finished, stopped or
    interrupted)."""

    def add(self, result: EndpointResult) -> None: ...

    def revise(self, old: EndpointResult, new: EndpointResult) -> None: ...

    def drain(self) -> Awaitable[None] | None: ...

    async def aclose(self) -> None: ...


class Sink:
    """A base for sinks that need only some of the protocol: the rest does nothing."""

    def add(self, result: EndpointResult) -> None:
        pass

    def revise(self, old: EndpointResult, new: EndpointResult) -> None:
        self.add(new)

    def drain(self) -> Awaitable[None] | None:
        return None

    async def aclose(self) -> None:
        pass


class ResultPipeline:
    def __init__(self, sinks: Sequence[ResultSink]) -> None:
        self.sinks = list(sinks)
        self._judge: HostJudge | None = None
        self._lines: dict[Key, bytes] = {}  # open endpoints' rows as given, compressed: a revision sends them whole

    async def run(self, results: AsyncIterable[EndpointResult]) -> None:
        """Feed every result of the stream to the sinks; the sinks are closed however the stream ends."""
        try:
            async for result in results:  # put(), inline: a dead /16 has 262,144 rows, each one costs here
                self._hand_on(result)
                for sink in self.sinks:
                    if (waiting := sink.drain()) is not None:
                        await waiting
        finally:
            await self.aclose()

    async def put(self, result: EndpointResult) -> None:
        """A new endpoint's row."""
        self._hand_on(result)
        await self._drain()

    def _hand_on(self, result: EndpointResult) -> None:
        judged, revised = self._judged(result)
        for sink in self.sinks:
            sink.add(judged)
        for old, new in revised:
            for sink in self.sinks:
                sink.revise(old, new)

    async def _drain(self) -> None:
        for sink in self.sinks:
            if (waiting := sink.drain()) is not None:
                await waiting

    async def replace(self, old: EndpointResult, result: EndpointResult) -> EndpointResult:
        """An endpoint probed again (``old``: its row as the sinks have it); returns the new row as judged."""
        judged, revised = self._judged(result)
        for sink in self.sinks:
            sink.revise(old, judged)
            for before, after in revised:
                sink.revise(before, after)
        await self._drain()
        return judged

    async def aclose(self) -> None:
        for sink in self.sinks:
            await sink.aclose()

    def _judged(self, result: EndpointResult) -> tuple[EndpointResult, Sequence[tuple[EndpointResult, EndpointResult]]]:
        if self._judge is None:
            from scanner.verdicts.host import HostJudge  # certificate analysis: not before the first result

            self._judge = HostJudge()
        changes = self._judge.add(result)
        if result.state == "open":
            self._lines[result.key] = zlib.compress(result.to_json().encode(), 1)
        elif self._lines:
            self._lines.pop(result.key, None)
        if not changes:
            return result, ()
        from scanner.verdicts.host import with_findings

        own = result
        revised: list[tuple[EndpointResult, EndpointResult]] = []
        for key, (before, after) in changes.items():
            if key == result.key:
                own = with_findings(result, after)
                continue
            kept = self._judge.row(key)
            if kept is not None:
                revised.append((with_findings(kept, before), with_findings(self._full(key), after)))
        return own, revised

    def _full(self, key: Key) -> EndpointResult:
        """The row of an open endpoint as it was given to the pipeline, transcript included."""
        return EndpointResult.from_json(zlib.decompress(self._lines[key]).decode())


class Collector(Sink):
    """The rows the end of a scan needs (the table, the JSON array, validation, an exit code): the latest row of each
    endpoint. ``every``: keep closed and silent endpoints too (a baseline diff or a policy judges every endpoint asked
    for), else only count them in ``hidden``; ``transcripts``: keep them (the JSON array prints them), else leave
    them out, so memory does not grow by kilobytes per open endpoint."""

    def __init__(self, *, every: bool = False, transcripts: bool = False) -> None:
        self.every = every
        self.transcripts = transcripts
        self.kept: dict[Key, EndpointResult] = {}
        self.hidden: Counter[str] = Counter()

    def add(self, result: EndpointResult) -> None:
        if self.every or result.state in ("open", "error"):
            self.kept[result.key] = result if self.transcripts else dataclasses.replace(result, transcript=())
        else:
            self.hidden[result.state] += 1

    def revise(self, old: EndpointResult, new: EndpointResult) -> None:
        if old.key not in self.kept and not self.every and old.state not in ("open", "error"):
            self.hidden[old.state] -= 1
        self.kept.pop(old.key, None)
        self.add(new)

    @property
    def rows(self) -> list[EndpointResult]:
        return list(self.kept.values())
