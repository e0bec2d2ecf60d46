"""How long to wait for a connect, learnt from the scan itself (as nmap does with its RTT timeouts).

Every connect that is answered (SYN-ACK or RST) is a sample of the round trip as this process sees it, event-loop
delay included. From them the timer keeps a smoothed RTT and its variation (RFC 6298) and offers
``srtt + 4 * rttvar``, never below ``floor`` and never above the user's connect timeout (``ceiling``). Until
``warmup`` samples are in, it offers the ceiling. Connects already waiting follow the timer down: ``shrunk()``
wakes them when the offer has dropped by a quarter, so the first wave of a scan does not sit out the ceiling.

A connect cut short by the timer (not by the ceiling) is tried once more, with twice the wait, before the port is
called filtered: a lost SYN, or a host farther away than the ones that taught the timer, costs a second try, not a
wrong "filtered". A dropped port never costs more than the ceiling.
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar

FLOOR = 0.1  # seconds: nmap's own minimum RTT timeout (-T3 and -T4)
WARMUP = 8


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
        self._shrunk: asyncio.Future[None] | None = None

    def current(self) -> float:
        return self._offer

    @property
    def adaptive(self) -> bool:
        """True once the offer is below the ceiling (a connect that times out then has budget left for a second
        try; open_tcp decides that from the time actually waited)."""
        return self._offer < self.ceiling

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
            if self._shrunk is not None and not self._shrunk.done():
                self._shrunk.set_result(None)
            self._shrunk = None
        elif self._offer > self._announced:
            self._announced = self._offer  # grew again: later shrinks are measured from here

    def shrunk(self) -> asyncio.Future[None]:
        """A future that completes the next time the offer drops by a quarter or more."""
        if self._shrunk is None or self._shrunk.done():
            self._shrunk = asyncio.get_running_loop().create_future()
        return self._shrunk


_current: ContextVar[ConnectTimer | None] = ContextVar("mailprobe_connect_timer", default=None)


def install(timer: ConnectTimer | None) -> None:
    """Make ``timer`` the one for the current task (and the tasks it creates from now on)."""
    _current.set(timer)


def current_timer() -> ConnectTimer | None:
    return _current.get()
