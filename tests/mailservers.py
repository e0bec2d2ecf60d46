"""Private instances of real mail servers other than Dovecot, started and stopped by the tests (never system
services): GNU Mailutils imap4d/pop3d and nginx's mail proxy (with an auth_http backend served here on loopback).

Each instance gets its own 127.0.0.x address (the scanner connects from 127.0.0.1) and its own directory, runs in
the foreground as a child process in its own session, and is stopped by its pid.

    with MailutilsPair("required", cert, key) as mu:     # imap4d on :143 and pop3d on :110 of mu.address
        ...
    with NginxMailProxy("only", cert, key) as ngx:        # IMAP :143, POP3 :110 (starttls only|on|off)
        ngx.auth_requests                                 # what nginx asked the auth backend
"""

from __future__ import annotations

import contextlib
import http.server
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.dovecot import Ports, _listening, _release_address, allocate_address

_START_TIMEOUT = 15.0
NGINX_MAIL_MODULE = Path("/usr/lib/nginx/modules/ngx_mail_module.so")


def require(binary: str, *, module: Path | None = None) -> None:
    if shutil.which(binary) is None or (module is not None and not module.exists()):
        if os.environ.get("CI"):
            pytest.fail(f"{binary} is not installed (.ci/run installs it)")
        pytest.skip(f"{binary} is not installed")


def wait_process_listening(
    proc: subprocess.Popen[bytes], address: str, ports: Sequence[int], what: str, log: Path, timeout: float
) -> None:
    """Until ``proc`` listens on every port of ``ports`` at ``address``; a RuntimeError with the end of its log when
    it exits first or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}: {log.read_text()[-2000:]}")
        if all(_listening(address, p) for p in ports):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} not listening on {address} {ports}: {log.read_text()[-2000:]}")


class _Child:
    """One foreground server process in its own session; stopped by its pid, never by name."""

    def __init__(self, argv: list[str], log: Path) -> None:
        self._log = log.open("ab")
        self.proc = subprocess.Popen(
            argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )

    def wait_listening(self, address: str, ports: list[int], what: str, log: Path) -> None:
        wait_process_listening(self.proc, address, ports, what, log, _START_TIMEOUT)

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # its own session: the server and its children only
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()


class MailutilsPair:
    """GNU Mailutils imap4d on 143 and pop3d on 110, one ``tls-mode`` for both: "required" (STARTTLS before any
    login), "ondemand" (STARTTLS offered, login allowed in clear) or "false" (no TLS at all)."""

    def __init__(self, tls_mode: str, cert: Path, key: Path) -> None:
        require("imap4d")
        require("pop3d")
        self.tls_mode = tls_mode
        self.address = allocate_address(Ports())
        self.dir = Path(tempfile.mkdtemp(prefix="mp-mailutils-"))
        (self.dir / "spool").mkdir()
        self._children: list[_Child] = []
        self._cert, self._key = cert, key

    def _config(self, port: int) -> Path:
        tls = (
            ""
            if self.tls_mode == "false"
            else (f'  tls {{ ssl-certificate-file "{self._cert}"; ssl-key-file "{self._key}"; }};\n')
        )
        text = (
            "logging { syslog false; };\n"
            f'mailbox {{ mail-spool "{self.dir / "spool"}"; }};\n'
            "mode daemon;\nforeground true;\n"
            f'pidfile "{self.dir}/{port}.pid";\n'
            f"server {self.address}:{port} {{\n  tls-mode {self.tls_mode};\n{tls}}};\n"
        )
        path = self.dir / f"{port}.conf"
        path.write_text(text)
        return path

    def __enter__(self) -> MailutilsPair:
        try:
            for binary, port in (("imap4d", 143), ("pop3d", 110)):
                log = self.dir / f"{binary}.log"
                child = _Child([binary, f"--config-file={self._config(port)}", "--foreground"], log)
                self._children.append(child)
                child.wait_listening(self.address, [port], binary, log)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for child in self._children:
            child.stop()
        _release_address(self.address)
        shutil.rmtree(self.dir, ignore_errors=True)


class _AuthBackend(http.server.BaseHTTPRequestHandler):
    """nginx's auth_http: every login is refused as a bad password (the dummy user is nobody)."""

    requests: list[dict[str, str]]

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.server.requests.append(dict(self.headers))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Auth-Status", "Invalid login or password")
        self.send_header("Auth-Wait", "1")  # nginx keeps the session open and answers after a second
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


class NginxMailProxy:
    """nginx's mail proxy on 143 (IMAP) and 110 (POP3) with ``starttls`` "only", "on" or "off" (then no TLS at
    all), and 993 with implicit TLS unless off; its auth_http backend answers from a thread on 127.0.0.1."""

    def __init__(self, starttls: str, cert: Path, key: Path) -> None:
        require("nginx", module=NGINX_MAIL_MODULE)
        self.starttls = starttls
        self.address = allocate_address(Ports())
        self.dir = Path(tempfile.mkdtemp(prefix="mp-nginx-"))
        self._cert, self._key = cert, key
        self._http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _AuthBackend)
        self._http.requests = []  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._child: _Child | None = None

    @property
    def auth_requests(self) -> list[dict[str, str]]:
        return self._http.requests  # type: ignore[attr-defined,no-any-return]

    def ports(self) -> list[int]:
        return [143, 110] if self.starttls == "off" else [143, 110, 993]

    def _config(self) -> Path:
        tls = self.starttls != "off"
        ssl = f"  ssl_certificate {self._cert};\n  ssl_certificate_key {self._key};\n" if tls else ""
        starttls = f"    starttls {self.starttls};\n" if tls else ""
        implicit = f"  server {{ listen {self.address}:993 ssl; protocol imap; }}\n" if tls else ""
        text = (
            f"load_module {NGINX_MAIL_MODULE};\n"
            f"pid {self.dir}/nginx.pid;\nerror_log {self.dir}/error.log info;\n"
            "daemon off;\nmaster_process off;\nevents { worker_connections 64; }\n"
            "mail {\n"
            "  server_name mail.example.test;\n"
            f"  auth_http 127.0.0.1:{self._http.server_address[1]}/auth;\n"
            "  imap_capabilities IMAP4rev1 IDLE;\n  pop3_capabilities TOP USER UIDL;\n"
            f"{ssl}"
            f"  server {{\n    listen {self.address}:143;\n    protocol imap;\n{starttls}  }}\n"
            f"  server {{\n    listen {self.address}:110;\n    protocol pop3;\n{starttls}  }}\n"
            f"{implicit}"
            "}\n"
        )
        path = self.dir / "nginx.conf"
        path.write_text(text)
        return path

    def __enter__(self) -> NginxMailProxy:
        self._thread.start()
        log = self.dir / "stderr.log"
        try:
            self._child = _Child(
                ["nginx", "-p", str(self.dir), "-e", str(self.dir / "error.log"), "-c", str(self._config())], log
            )
            self._child.wait_listening(self.address, self.ports(), "nginx", self.dir / "error.log")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._child is not None:
            self._child.stop()
        self._http.shutdown()
        self._http.server_close()
        _release_address(self.address)
        shutil.rmtree(self.dir, ignore_errors=True)
