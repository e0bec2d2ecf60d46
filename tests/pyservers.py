"""Mail servers from PyPI, each pinned in a venv of its own (never mailprobe's), started and stopped by the tests:
aiosmtpd (1.4.5, vulnerable to STARTTLS command injection, CVE-2024-34083; 1.4.6, fixed), Twisted's IMAP4 server and
pymap (both run commands pipelined after STARTTLS inside TLS).

The venvs are made once under ``MAILPROBE_TEST_VENVS`` (default ``~/.cache/mailprobe-test-venvs``) by pip from PyPI,
one lock per venv so parallel test workers wait for each other, and kept for later runs.

    with PyServer.aiosmtpd("1.4.5", cert, key) as smtp:   # submission on smtp.address:587
        ...
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.dovecot import Ports, _listening, _release_address, allocate_address

# name -> the exact requirements of its venv
PINS: dict[str, tuple[str, ...]] = {
    "aiosmtpd-1.4.5": ("aiosmtpd==1.4.5",),
    "aiosmtpd-1.4.6": ("aiosmtpd==1.4.6",),
    "twisted-26.10.0": ("Twisted==26.10.0", "pyOpenSSL==26.4.0", "service-identity==26.1.0"),
    "pymap-0.36.7": ("pymap==0.36.7",),
}
SERVERS = Path(__file__).parent / "servers"
_START_TIMEOUT = 20.0


def venv_root() -> Path:
    return Path(os.environ.get("MAILPROBE_TEST_VENVS") or Path.home() / ".cache" / "mailprobe-test-venvs")


def server_python(name: str) -> Path:
    """The python of the venv ``name`` (made on first use); skipped, or failed under CI, when pip cannot make it."""
    root = venv_root()
    root.mkdir(parents=True, exist_ok=True)
    venv = root / name
    python = venv / "bin" / "python"
    done = venv / ".complete"
    with (root / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            made = subprocess.run(
                f"{sys.executable} -m venv --clear {venv} && {python} -m pip install -q --disable-pip-version-check "
                + " ".join(PINS[name]),
                shell=True,
                capture_output=True,
                text=True,
                timeout=600,
            )
            if made.returncode != 0:
                reason = f"could not make the {name} venv: {made.stderr.strip()[-500:]}"
                if os.environ.get("CI"):
                    pytest.fail(reason)
                pytest.skip(reason)
            done.touch()
    return python


class PyServer:
    """One server process in its own session on a 127.0.0.x address of its own; stopped by its pid."""

    def __init__(self, argv: list[str], port: int, what: str) -> None:
        self.argv = argv
        self.port = port
        self.what = what
        self.address = allocate_address(Ports())
        self.dir = Path(tempfile.mkdtemp(prefix="mp-pyserver-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def aiosmtpd(cls, version: str, cert: Path, key: Path) -> PyServer:
        """aiosmtpd's own command line: STARTTLS required before AUTH (there is no AUTH), messages sunk."""
        python = server_python(f"aiosmtpd-{version}")
        server = cls([], 587, f"aiosmtpd {version}")
        server.argv = [str(python), "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink"]
        server.argv += ["-l", f"{server.address}:587", "--tlscert", str(cert), "--tlskey", str(key)]
        return server

    @classmethod
    def twisted_imap(cls, cert: Path, key: Path) -> PyServer:
        python = server_python("twisted-26.10.0")
        server = cls([], 143, "Twisted IMAP4Server 26.10.0")
        server.argv = [str(python), str(SERVERS / "twisted_imap.py"), server.address, "143", str(cert), str(key)]
        return server

    @classmethod
    def pymap(cls, cert: Path, key: Path) -> PyServer:
        python = server_python("pymap-0.36.7")
        server = cls([], 143, "pymap 0.36.7")
        server.argv = [str(python.parent / "pymap"), "--host", server.address, "--port", "143"]
        server.argv += ["--cert", str(cert), "--key", str(key), "dict"]
        return server

    def __enter__(self) -> PyServer:
        log = self.dir / "server.log"
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        deadline = time.monotonic() + _START_TIMEOUT
        while not _listening(self.address, self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                said = log.read_text()[-2000:]
                self.__exit__()
                raise RuntimeError(f"{self.what} did not start: {said}")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(timeout=10)
        _release_address(self.address)
        shutil.rmtree(self.dir, ignore_errors=True)
