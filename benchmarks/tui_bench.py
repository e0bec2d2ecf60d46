"""Responsiveness of the TUI under a /16-sized stream: 65,536 synthetic endpoint results, no network at all.

    python benchmarks/tui_bench.py                  # results through the real Scan runner with a fake probe
    python benchmarks/tui_bench.py --mode direct    # results handed straight to the app (the TUI's own cost)

Prints the time to drain the stream (every result counted and listed) and the key-to-screen latency of cursor
moves pressed every 50 ms while it drains: the time from the key press until the table draws the moved cursor.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from textual import events  # noqa: E402

from scanner.model import (  # noqa: E402
    Capabilities,
    CertificateInfo,
    Endpoint,
    EndpointResult,
    Finding,
    PlaintextLogin,
    TlsInfo,
)
from scanner.probe.context import ScanContext  # noqa: E402
from scanner.probe.options import ProbeOptions  # noqa: E402
from scanner.scan.scheduler import Scan  # noqa: E402
from scanner.tui.app import ScanApp  # noqa: E402
from scanner.tui.widgets.results_table import ResultsTable  # noqa: E402

COUNT = 65_536


def templates() -> list[EndpointResult]:
    cert = CertificateInfo(
        "CN=mail",
        "CN=CA",
        ("mail.example.test",),
        "2026-01-01",
        "2027-01-01",
        200,
        "00" * 32,
        "RSA 2048",
        "sha256WithRSAEncryption",
        2,
        True,
        "system",
        None,
        False,
        False,
        True,
        ("mail.example.test",),
    )
    base = EndpointResult(
        "h",
        "127.1.0.0",
        "mail.example.test",
        143,
        "imap",
        "starttls",
        "open",
        software="Dovecot",
        capabilities=Capabilities(("IMAP4rev1", "STARTTLS")),
        starttls="ok",
        plaintext_login=PlaintextLogin("refused", ("clear: NO",)),
        tls=TlsInfo("TLSv1.3", "TLS_AES_128_GCM_SHA256", cert),
    )
    accepted = Finding("plaintext-login-accepted", "critical", "Plaintext login accepted", "d", "r")
    expired = Finding("certificate-expired", "high", "Certificate expired", "d", "r")
    return [
        base,
        replace(base, plaintext_login=PlaintextLogin("accepted"), findings=(accepted,), software="Microsoft Exchange"),
        replace(
            base,
            port=993,
            transport="implicit",
            starttls="not_applicable",
            plaintext_login=PlaintextLogin("not_applicable"),
            tls=TlsInfo("TLSv1.2", "ECDHE", replace(cert, days_left=-5)),
            findings=(expired,),
        ),
        replace(base, state="filtered", software=None, tls=None, plaintext_login=PlaintextLogin("not_tested")),
        replace(base, state="closed", software=None, tls=None, plaintext_login=PlaintextLogin("not_tested")),
        replace(base, state="filtered", software=None, tls=None, plaintext_login=PlaintextLogin("not_tested")),
    ]


def synthetic(count: int) -> list[EndpointResult]:
    shapes = templates()
    out = []
    for i in range(count):
        address = f"127.{1 + i // 65536}.{(i // 256) % 256}.{i % 256}"  # never contacted: no probe opens a socket
        out.append(replace(shapes[i % len(shapes)], host=address, address=address))
    return out


class Probe:
    def __init__(self, results: list[EndpointResult]) -> None:
        self.answers = {r.key: r for r in results}

    async def __call__(self, endpoint: Endpoint, options: ProbeOptions, context: ScanContext) -> EndpointResult:
        await asyncio.sleep(0)
        return self.answers[endpoint.key]


async def run(mode: str, count: int, flush_interval: float) -> dict[str, object]:
    results = synthetic(count)
    endpoints = [Endpoint(r.host, r.address, r.port, r.protocol, r.transport, r.name) for r in results]
    if mode == "probe":
        scan = Scan(endpoints, ProbeOptions(), probe=Probe(results), total=count, concurrency=512)
    else:
        scan = Scan([], ProbeOptions(), probe=Probe([]), total=count)  # finishes at once; results fed below
    app = ScanApp(
        scan,
        targets=f"{count:,} synthetic endpoints",
        options_summary=f"benchmark ({mode})",
        flush_interval=flush_interval,
    )
    drawn: dict[int, float] = {}  # cursor row -> when the table first drew it
    original = ResultsTable.render_line

    def render_line(self: ResultsTable, y: int):  # noqa: ANN202
        strip = original(self, y)
        if y == self.cursor - int(self.scroll_y) + 1:
            drawn.setdefault(self.cursor, time.perf_counter())
        return strip

    ResultsTable.render_line = render_line  # type: ignore[method-assign]
    flushes: list[float] = []
    app_flush = app.flush

    def timed_flush() -> None:
        began = time.perf_counter()
        app_flush()
        flushes.append(time.perf_counter() - began)

    app.flush = timed_flush  # type: ignore[method-assign]
    latencies: list[float] = []
    try:
        async with app.run_test(size=(160, 50)):
            table = app.query_one(ResultsTable)
            start = time.perf_counter()

            async def feed() -> None:
                for i in range(0, count, 512):  # like a fast scan: bursts of results between frames
                    app._inbox.extend(results[i : i + 512])
                    await asyncio.sleep(0.001)

            feeder = asyncio.create_task(feed()) if mode == "direct" else None
            while app.tally.done < count:
                if len(app.view) > table.cursor + 1:
                    target = table.cursor + 1
                    pressed = time.perf_counter()
                    # Straight into the app's queue, as the terminal driver does: Pilot.press would wait for
                    # the app to be idle, which it never is while the stream drains.
                    app._driver.send_message(events.Key("down", None))
                    while target not in drawn and time.perf_counter() - pressed < 5:
                        await asyncio.sleep(0.0005)
                    latencies.append(drawn.get(target, time.perf_counter()) - pressed)
                await asyncio.sleep(0.02)
            drained = time.perf_counter() - start
            if feeder is not None:
                await feeder
            listed = len(app.view)
            # After the drain: how long the user waits for a filter or a sort over every row.
            timings = {}
            for label, action in (
                ("verdict filter", app.action_cycle_verdict),
                ("sort by severity", None),
                ("text filter", None),
            ):
                began = time.perf_counter()
                if label == "sort by severity":
                    app.sort_by("severity")
                elif label == "text filter":
                    app._apply_text("expired")
                else:
                    action()
                timings[label] = 1000 * (time.perf_counter() - began)
    finally:
        ResultsTable.render_line = original  # type: ignore[method-assign]
    return {
        "results": count,
        "listed": listed,
        "drain_s": drained,
        "keys": len(latencies),
        "worst_ms": 1000 * max(latencies, default=0.0),
        "median_ms": 1000 * statistics.median(latencies) if latencies else 0.0,
        "flushes": len(flushes),
        "flush_worst_ms": 1000 * max(flushes, default=0.0),
        "after": timings,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("probe", "direct"), default="probe")
    parser.add_argument("--count", type=int, default=COUNT)
    parser.add_argument("--flush", type=float, default=0.15, help="flush interval in seconds (default 0.15)")
    args = parser.parse_args()
    figures = asyncio.run(run(args.mode, args.count, args.flush))
    print(
        f"mode {args.mode}: {figures['results']:,} results ({figures['listed']:,} listed, silent/closed counted) "
        f"drained in {figures['drain_s']:.2f} s"
    )
    print(
        f"key-to-screen latency over {figures['keys']} cursor moves under load: worst {figures['worst_ms']:.0f} ms, "
        f"median {figures['median_ms']:.0f} ms"
    )
    print(f"view updates: {figures['flushes']} batches, longest {figures['flush_worst_ms']:.0f} ms")
    print("over all rows afterwards: " + ", ".join(f"{k} {v:.0f} ms" for k, v in figures["after"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
