"""Drive a sans-I/O machine through a scripted conversation, delivering the server's bytes three ways.

- "whole": each reply in one receive_data call;
- "bytes": one byte at a time, draining events after every byte;
- "glued": each reply arrives together with the next one (as one TCP segment would carry them).

A conversation is a list of steps ``(command, server_bytes)``; ``command`` is ``None`` for the greeting, or a
callable taking the machine and returning the bytes it sends. ``server_bytes`` may end with EOF (``EOF``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from scanner.protocols.events import NEED_DATA, ConnectionClosed

MODES = ("whole", "bytes", "glued")
EOF = b"<EOF>"  # marker at the end of a step's server bytes: the server then closes

Command = Callable[[Any], bytes] | None
Step = tuple[Command, bytes]


def drain(machine: Any) -> list[object]:
    """Pull events until NEED_DATA; stop after a ConnectionClosed (which would repeat forever)."""
    events: list[object] = []
    while True:
        event = machine.next_event()
        if event is NEED_DATA:
            return events
        events.append(event)
        if isinstance(event, ConnectionClosed):
            return events


def _split_eof(data: bytes) -> tuple[bytes, bool]:
    return (data[: -len(EOF)], True) if data.endswith(EOF) else (data, False)


def _deliver(machine: Any, data: bytes, mode: str) -> list[object]:
    data, eof = _split_eof(data)
    events: list[object] = []
    if mode == "bytes":
        for i in range(len(data)):
            machine.receive_data(data[i : i + 1])
            events += drain(machine)
    elif data:
        machine.receive_data(data)
        events += drain(machine)
    if eof:
        machine.receive_data(b"")
        events += drain(machine)
    return events


def run(machine: Any, steps: list[Step], mode: str) -> tuple[list[bytes], list[list[object]]]:
    """Play ``steps``; return what the client sent and the events seen at each step."""
    sent: list[bytes] = []
    per_step: list[list[object]] = []
    ahead = False  # this step's bytes already went out with the previous step
    for index, (command, server) in enumerate(steps):
        events: list[object] = []
        if command is not None:
            sent.append(command(machine))
            events += drain(machine)  # bytes glued onto the previous reply are parsed now
        data = server
        if mode == "glued":
            data = b"" if ahead else server
            ahead = False
            following = steps[index + 1][1] if index + 1 < len(steps) else EOF
            if data and not data.endswith(EOF) and not following.endswith(EOF):
                data += following
                ahead = True
        events += _deliver(machine, data, "bytes" if mode == "bytes" else "whole")
        per_step.append(events)
    return sent, per_step
