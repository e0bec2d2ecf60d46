"""The asyncio engine that plays a Profile to every client that connects.

    async with FakeServer(bundled_profile("exchange-imap-securelogin"), ssl_context=ctx) as srv:
        ... connect to (srv.host, srv.port) ...
        await srv.wait_idle()
        srv.sessions[0].verbs("clear")   # ["CAPABILITY", "STARTTLS"]

Credentials are never checked: a login succeeds only where the profile's answer says ``accept = true``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator

from scanner.fakeserver.connection import Closed, Connection
from scanner.fakeserver.imap import ImapConnection
from scanner.fakeserver.pop3 import Pop3Connection
from scanner.fakeserver.profile import Profile
from scanner.fakeserver.session import Session
from scanner.fakeserver.smtp import SmtpConnection

_CONNECTIONS: dict[str, type[Connection]] = {"imap": ImapConnection, "pop3": Pop3Connection, "smtp": SmtpConnection}


class FakeServer:
    """One listening fake server. Use as an async context manager, or call ``start()`` and ``close()``."""

    def __init__(
        self,
        profile: Profile,
        host: str = "127.0.0.2",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        login_delay: float | None = None,
        idle_timeout: float = 30.0,
        handshake_timeout: float = 10.0,
    ) -> None:
        if profile.implicit_tls and ssl_context is None:
            raise ValueError(f"profile {profile.name!r} uses implicit TLS: an ssl_context is needed")
        self.profile = profile
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.login_delay = profile.login_delay if login_delay is None else login_delay
        self.idle_timeout = idle_timeout
        self.handshake_timeout = handshake_timeout
        self.sessions: list[Session] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> FakeServer:
        self._server = await asyncio.start_server(
            self._on_connect,
            self.host,
            self.port,
            ssl=self.ssl_context if self.profile.implicit_tls else None,
            ssl_handshake_timeout=self.handshake_timeout if self.profile.implicit_tls else None,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FakeServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def wait_idle(self, timeout: float = 5.0) -> None:
        """Wait until every session so far has finished (the client or the server closed it)."""
        async with asyncio.timeout(timeout):
            for session in list(self.sessions):
                await session.finished.wait()

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("?", 0)
        session = Session(peer=(str(peer[0]), int(peer[1])), implicit_tls=self.profile.implicit_tls)
        self.sessions.append(session)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await _CONNECTIONS[self.profile.protocol](self, session, reader, writer).run()
        except (Closed, ConnectionError, TimeoutError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            session.error = "server closed while the session was running"  # close(): the task ends here anyway
        except ssl.SSLError as exc:
            session.error = f"TLS: {exc}"
        finally:
            writer.close()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(writer.wait_closed(), 1.0)
            session.finished.set()
            if task is not None:
                self._tasks.discard(task)


@contextlib.asynccontextmanager
async def serve_all(*servers: FakeServer) -> AsyncIterator[tuple[FakeServer, ...]]:
    """Run several fake servers at once (the demo, multi-endpoint tests); all are closed on exit."""
    async with contextlib.AsyncExitStack() as stack:
        for server in servers:
            await stack.enter_async_context(server)
        yield servers


__all__ = ["FakeServer", "serve_all"]
