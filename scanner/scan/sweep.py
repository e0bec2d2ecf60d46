"""The scan's connects, without a task per connect: most endpoints of a range never answer, and for them a task,
its coroutines, a future and a timer handle each cost more CPU than the connect itself.

A ``ConnectSweep`` starts each connect by hand (a non-blocking socket), watches all of them through one epoll of
its own (one reader in the event loop) and keeps their deadlines in queues in start order, one per wait: every
connect in a queue waits ``offer x factor`` (the scan's ``ConnectTimer``; the factor is 1 for a first try, 2 for a
second, 3 for a single try), so start order is deadline order and one timer serves them all. It reports each
endpoint exactly once: ``on_connected`` with the connected socket (the probe takes it from there), or
``on_unanswered`` with the ``ConnectError`` the probe's own connect would have raised (same states, same reasons).
A connect the learnt wait cut short gets a second try as the probe's own would, unless the scan's second tries have
proven useless so far (``scanner.scan.retry_policy``).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import select
import socket
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from scanner.probe.session import (
    ConnectError,
    failed_connect,
    kernel_rtt,
    start_connect,
    unanswered_connect,
)
from scanner.probe.steplog import LOG
from scanner.scan.connect_timer import ConnectTimer
from scanner.scan.retry_policy import RetryPolicy

T = TypeVar("T")  # what the caller tracks with each connect (the endpoint and its scan slot)

QUANTUM = 0.01  # seconds: deadlines due within this of each other expire in one pass
_BATCH = 1024  # epoll events taken per call


class _Pending(Generic[T]):
    __slots__ = ("tag", "address", "port", "sock", "started", "first_started", "tries", "factor", "done")

    def __init__(self, tag: T, address: str, port: int, sock: socket.socket, started: float, factor: int) -> None:
        self.tag = tag
        self.address = address
        self.port = port
        self.sock = sock
        self.started = started
        self.first_started = started
        self.tries = 1
        self.factor = factor  # the wait of this try, in learnt waits
        self.done = False


class ConnectSweep(Generic[T]):
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        timer: ConnectTimer | None,
        *,
        ceiling: float,
        source: str | None,
        on_connected: Callable[[T, socket.socket, float], None],
        on_unanswered: Callable[[T, ConnectError, float], None],
        label: Callable[[T], str] = str,
    ) -> None:
        self._loop = loop
        self._timer = timer
        self.ceiling = ceiling
        self._source = source
        self._on_connected = on_connected
        self._on_unanswered = on_unanswered
        self._label = label
        self._epoll = select.epoll()
        self._by_fd: dict[int, _Pending[T]] = {}
        # one queue per wait (in learnt waits): within a queue start order is deadline order
        self._queues: dict[int, deque[_Pending[T]]] = {}
        self._alarm: asyncio.TimerHandle | None = None
        self._alarm_at = 0.0
        self._idle = asyncio.Event()
        self._idle.set()
        self.retries = RetryPolicy()
        loop.add_reader(self._epoll.fileno(), self._drain)

    def __len__(self) -> int:
        return len(self._by_fd)

    # -- starting -----------------------------------------------------------------------------------------------

    def start(self, tag: T, address: str, port: int) -> None:
        """Start the connect; its outcome comes through one of the callbacks (possibly before this returns)."""
        started = self._loop.time()
        try:
            sock, error = start_connect(address, port, self._source)
        except OSError as exc:
            self._unanswered(tag, failed_connect(exc), started)
            return
        self._launched(_Pending(tag, address, port, sock, started, self.retries.first_try_factor()), error)

    def _launched(self, pending: _Pending[T], error: int) -> None:
        if error != errno.EINPROGRESS:  # answered at once (loopback does that) or failed locally
            self._settled(pending, error)
            return
        fd = pending.sock.fileno()
        self._epoll.register(fd, select.EPOLLOUT)
        if not self._by_fd:
            self._idle.clear()
            if self._timer is not None:
                self._timer.track(self, self._loop)  # keeps the timer's lag heartbeat going while we wait
        self._by_fd[fd] = pending
        queue = self._queues.get(pending.factor)
        if queue is None:
            queue = self._queues[pending.factor] = deque()
        queue.append(pending)
        due = self._deadline(pending)
        if self._alarm is None or due < self._alarm_at:
            self._arm(due)

    # -- answers ------------------------------------------------------------------------------------------------

    def _drain(self) -> None:
        while events := self._epoll.poll(0, _BATCH):
            for fd, _mask in events:
                pending = self._by_fd.get(fd)
                if pending is None:
                    continue
                self._epoll.unregister(fd)
                self._forget(fd)
                self._settled(pending, pending.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))
            if len(events) < _BATCH:
                return

    def _settled(self, pending: _Pending[T], error: int) -> None:
        pending.done = True
        if pending.tries > 1:
            self.retries.second_try_answered()  # a SYN was lost, or the host is farther than the wait learnt
        elapsed = self._loop.time() - pending.started
        sock = pending.sock
        if error:
            sock.close()
            failure = failed_connect(OSError(error, os.strerror(error)))
            if failure.state == "closed" and self._timer is not None:
                self._timer.sample_seen(elapsed)
            self._unanswered(pending.tag, failure, pending.first_started)
            return
        if self._timer is not None:
            self._timer.sample(kernel_rtt(sock) or elapsed)
        self._log(pending.tag, "connected", pending.first_started)
        self._guarded(self._on_connected, pending.tag, sock, pending.first_started)

    # -- deadlines ----------------------------------------------------------------------------------------------

    def _deadline(self, pending: _Pending[T]) -> float:
        ceiling_at = pending.first_started + self.ceiling
        if self._timer is None:
            return ceiling_at
        return min(ceiling_at, pending.started + self._timer.current() * pending.factor)

    def _arm(self, due: float) -> None:
        if self._alarm is not None:
            self._alarm.cancel()
        self._alarm_at = due
        self._alarm = self._loop.call_at(due, self._expire)

    def reschedule(self) -> None:
        """The timer's offer fell: deadlines already queued come sooner."""
        due = self._earliest()
        if due is not None and (self._alarm is None or due < self._alarm_at):
            self._arm(due)

    def _earliest(self) -> float | None:
        earliest = None
        for queue in list(self._queues.values()):  # a retry may add a queue meanwhile
            while queue and queue[0].done:
                queue.popleft()
            if queue:
                due = self._deadline(queue[0])
                earliest = due if earliest is None else min(earliest, due)
        return earliest

    def _expire(self) -> None:
        self._alarm = None
        self._drain()  # handshakes the kernel finished by now count as answered, not as dropped
        cutoff = self._loop.time() + QUANTUM
        for queue in list(self._queues.values()):  # a retry may add a queue meanwhile
            while queue:
                pending = queue[0]
                if pending.done:
                    queue.popleft()
                    continue
                if self._deadline(pending) > cutoff:
                    break
                queue.popleft()
                self._timed_out(pending)
        due = self._earliest()
        if due is not None:
            self._arm(max(due, self._loop.time() + QUANTUM))

    def _timed_out(self, pending: _Pending[T]) -> None:
        pending.done = True
        waited = self._loop.time() - pending.first_started
        # Cut short by the learnt wait (not by the ceiling): a second SYN, with twice the wait. Started before the
        # first socket is let go, so the sweep never looks idle in between.
        retried = (
            self._timer is not None
            and pending.tries == 1
            and waited < self.ceiling
            and self.retries.should_retry(pending.factor)
            and self._retry(pending)
        )
        self._forget(pending.sock.fileno())
        pending.sock.close()  # also leaves the epoll: the socket was its only user
        if not retried:
            self._unanswered(pending.tag, unanswered_connect(waited, pending.tries), pending.first_started)

    def _retry(self, first: _Pending[T]) -> bool:
        """Start the second try; False when it could not even start (the first try's outcome then stands)."""
        try:
            sock, error = start_connect(first.address, first.port, self._source)
        except OSError:
            return False
        pending = _Pending(first.tag, first.address, first.port, sock, self._loop.time(), 2)  # as open_tcp's
        pending.first_started, pending.tries = first.first_started, 2
        self._launched(pending, error)
        return True

    def _forget(self, fd: int) -> None:
        del self._by_fd[fd]
        if not self._by_fd:
            self._idle.set()
            if self._timer is not None:
                self._timer.forget(self)

    # -- outcomes -----------------------------------------------------------------------------------------------

    def _unanswered(self, tag: T, failure: ConnectError, first_started: float) -> None:
        self._log(tag, f"ConnectError: {failure.reason}", first_started)
        self._guarded(self._on_unanswered, tag, failure, first_started)

    def _guarded(self, callback: Callable[[T, Any, float], None], tag: T, value: object, started: float) -> None:
        try:
            callback(tag, value, started)
        except Exception:  # a callback's bug must not stop the sweep (the others still wait for their answers)
            LOG.exception("connect outcome of %s not handled", self._label(tag))

    def _log(self, tag: T, words: str, started: float) -> None:
        if LOG.isEnabledFor(logging.DEBUG):
            ms = int((self._loop.time() - started) * 1000)
            LOG.debug("%s connect: %s %s %d ms", self._label(tag), words, "in" if words == "connected" else "after", ms)

    # -- the end ------------------------------------------------------------------------------------------------

    async def idle(self) -> None:
        """Until no connect is waiting for its answer."""
        await self._idle.wait()

    def close(self) -> None:
        """Drop every connect still waiting (the scan was cancelled): no callback is called for them."""
        if self._alarm is not None:
            self._alarm.cancel()
            self._alarm = None
        for pending in self._by_fd.values():
            pending.done = True
            pending.sock.close()
        self._by_fd.clear()
        for queue in list(self._queues.values()):  # a retry may add a queue meanwhile
            queue.clear()
        if self._timer is not None:
            self._timer.forget(self)
        self._idle.set()
        if self._epoll.fileno() >= 0:
            self._loop.remove_reader(self._epoll.fileno())
            self._epoll.close()
