"""How long to wait for a connect, learnt from the scan itself (as nmap does with its RTT timeouts).

Every connect that is answered (SYN-ACK or RST) is a sample of the round trip. A SYN-ACK's sample is the kernel's
own measurement (TCP_INFO), so a busy event loop does not inflate it; a reset's is the time the loop took to see it,
less the loop's current lag (measured by a heartbeat while connects wait). From the samples the timer keeps a
smoothed RTT and its variation (RFC 6298) and offers ``srtt + 4 * rttvar``, never below ``floor`` and never above
the user's connect timeout (``ceiling``). Until ``warmup`` samples are in, it offers the ceiling.

Each pending connect has a deadline of its own (``ConnectDeadline``: one timer handle in the event loop, O(1) to
arm and to drop). When the offer drops by a quarter the timer moves the deadlines of the connects already waiting,
so the first wave of a scan does not sit out the ceiling; a deadline that fires after the offer grew again waits
on to the new one. Nothing is shared between waiters, so the cost of a connect does not grow with the number in
flight.

A connect cut short by the timer (not by the ceiling) is tried once more, with twice the wait, before the port is
called filtered: a lost SYN, or a host farther away than the ones that taught the timer, costs a second try, not a
wrong "filtered". A dropped port never costs more than the ceiling.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

FLOOR = 0.1  # seconds: nmap's own minimum RTT timeout (-T3 and -T4)
WARMUP = 8
HEARTBEAT = 0.05  # seconds between two measurements of the event loop's lag


class Waiter(Protocol):
    """What waits on the timer's offer: a connect's deadline, or a sweep of many connects."""

    def reschedule(self) -> None: ...


class ConnectTimer:
    def __init__(self, ceiling: float, *, floor: float = FLOOR, warmup: int = WARMUP) -> None:
        self.ceiling = ceiling
        self.floor = min(floor, ceiling)
        self.warmup = warmup
        self.samples = 0
        self.srtt: float | None = None
        self.rttvar = 0.0
        self._offer = ceiling
        self._announced = ceiling
        self._waiting: set[Waiter] = set()
        self.lag = 0.0  # how late the event loop runs a callback that is due, as last measured
        self._heartbeat: asyncio.TimerHandle | None = None

    def current(self) -> float:
        return self._offer

    def sample(self, rtt: float) -> None:
        self.samples += 1
        if self.srtt is None:
            self.srtt, self.rttvar = rtt, rtt / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - rtt)
            self.srtt = 0.875 * self.srtt + 0.125 * rtt
        if self.samples < self.warmup:
            return
        self._offer = min(self.ceiling, max(self.floor, self.srtt + 4 * self.rttvar))
        if self._offer <= 0.75 * self._announced:
            self._announced = self._offer
            for deadline in list(self._waiting):  # rare (a quarter down each time), so O(waiting) is fine here
                deadline.reschedule()
        elif self._offer > self._announced:
            self._announced = self._offer  # grew again: later shrinks are measured from here

    def sample_seen(self, elapsed: float) -> None:
        """A sample timed by the event loop (a reset): the loop's own lag is not part of the round trip."""
        self.sample(max(elapsed - self.lag, 0.0))

    def deadline(
        self,
        loop: asyncio.AbstractEventLoop,
        started: float,
        ceiling: float,
        factor: float,
        on_expiry: Callable[[], None],
    ) -> ConnectDeadline:
        """The deadline of one connect attempt under this timer (see ``ConnectDeadline``)."""
        return ConnectDeadline(loop, self, started, ceiling, factor, on_expiry)

    def waiting(self) -> int:
        return len(self._waiting)

    # -- pending connects ------------------------------------------------------------------------------------

    def track(self, waiter: Waiter, loop: asyncio.AbstractEventLoop) -> None:
        """``waiter.reschedule()`` is called whenever the offer falls by a quarter, until ``forget(waiter)``."""
        self._waiting.add(waiter)
        if self._heartbeat is None:
            due = loop.time() + HEARTBEAT
            self._heartbeat = loop.call_at(due, self._beat, loop, due)

    def forget(self, waiter: Waiter) -> None:
        self._waiting.discard(waiter)
        if not self._waiting and self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None

    def _beat(self, loop: asyncio.AbstractEventLoop, due: float) -> None:
        now = loop.time()
        self.lag = max(now - due, 0.0)
        self._heartbeat = loop.call_at(now + HEARTBEAT, self._beat, loop, now + HEARTBEAT)


class ConnectDeadline:
    """When one connect attempt gives up: ``started + offer * factor``, never past ``started + ceiling``; calls
    ``on_expiry`` once then. Without a timer the deadline is simply the ceiling. ``cancel()`` when done."""

    __slots__ = ("_loop", "_timer", "_started", "_factor", "_ceiling_at", "_on_expiry", "_handle")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        timer: ConnectTimer | None,
        started: float,
        ceiling: float,
        factor: float,
        on_expiry: Callable[[], None],
    ) -> None:
        self._loop = loop
        self._timer = timer
        self._started = started
        self._factor = factor
        self._ceiling_at = started + ceiling
        self._on_expiry = on_expiry
        self._handle: asyncio.TimerHandle | None = loop.call_at(self.when(), self._fire)
        if timer is not None:
            timer.track(self, loop)

    def when(self) -> float:
        if self._timer is None:
            return self._ceiling_at
        return min(self._ceiling_at, self._started + self._timer.current() * self._factor)

    def reschedule(self) -> None:
        if self._handle is None:
            return
        self._handle.cancel()
        self._handle = self._loop.call_at(self.when(), self._fire)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._timer is not None:
            self._timer.forget(self)

    def _fire(self) -> None:
        when = self.when()
        if when > self._loop.time() + 0.001:  # the offer grew while this one slept: wait on to the new deadline
            self._handle = self._loop.call_at(when, self._fire)
            return
        self.cancel()
        self._on_expiry()
