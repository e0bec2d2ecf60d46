"""A private, real Postfix submission server for integration tests, with a private Dovecot as its SASL back end.

Each instance has its own config directory, queue and log under a temporary root and runs as ``postfix -c DIR
start``. Its only listeners are the per-address ones in master.cf (``ADDRESS:587`` and, with TLS, ``ADDRESS:465``)
on the test's own 127.0.0.x address; ``inet_interfaces = loopback-only`` is there only because Postfix insists that
inet_interfaces name an interface address, which 127.0.0.x (x > 1) is not. Nothing can leave: every transport is
``error:``, no destination is local, relaying and recipients are rejected, and the probe never sends MAIL anyway.

    with PostfixInstance("auth_after_tls", dovecot=dv) as pf:   # dv: a running tests.dovecot.DovecotInstance
        pf.address, pf.read_log()

Set-ups (SETUPS): auth_after_tls (smtpd_tls_auth_only = yes), auth_in_clear (AUTH offered and checked before TLS),
no_tls (no certificate, no STARTTLS, no 465), tls_required (smtpd_tls_security_level = encrypt).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.dovecot import DovecotInstance, _listening, require_installed

SUBMISSION, SUBMISSIONS = 587, 465


@dataclass(frozen=True)
class Setup:
    tls: bool  # a certificate, STARTTLS on 587 and implicit TLS on 465
    security_level: str  # smtpd_tls_security_level on 587
    auth_only_after_tls: bool  # smtpd_tls_auth_only


SETUPS: dict[str, Setup] = {
    "auth_after_tls": Setup(True, "may", True),
    "auth_in_clear": Setup(True, "may", False),
    "no_tls": Setup(False, "none", False),
    "tls_required": Setup(True, "encrypt", False),
}

# The daemons a submission-only Postfix needs; chroot off so the Dovecot socket path is the real one.
_SERVICES = """\
postlog unix-dgram n - n - 1 postlogd
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
tlsmgr unix - - n 1000? 1 tlsmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
proxymap unix - - n - - proxymap
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
"""
# Dovecot's auth socket for Postfix: appended to the Dovecot instance's config by the caller (see sasl_config).
SASL_SOCKET = "auth-postfix"
SASL_CONFIG = f"service auth {{\n  unix_listener {SASL_SOCKET} {{\n    mode = 0666\n  }}\n}}\n"


def dovecot_submission_config(address: str) -> str:
    """Extra Dovecot config for its own submission service on 587/465. The relay it needs is set to a closed port of
    the instance's own address: it is only used after a successful login, which a dummy AUTH never is."""
    return f"""\
protocols = imap pop3 submission
hostname = mail.mailprobe.test
submission_relay_host = {address}
submission_relay_port = 9
service submission-login {{
  inet_listener submission {{
    port = {SUBMISSION}
  }}
  inet_listener submissions {{
    port = {SUBMISSIONS}
    ssl = yes
  }}
}}
"""


def dovecot_submission_packaged() -> bool:
    return Path("/usr/lib/dovecot/submission-login").exists()


class PostfixError(RuntimeError):
    pass


def postfix_binary() -> str | None:
    return shutil.which("postfix") or ("/usr/sbin/postfix" if os.access("/usr/sbin/postfix", os.X_OK) else None)


def require_postfix() -> None:
    require_installed(
        postfix_binary() is not None,
        "postfix is not installed (apt-get install postfix, with a policy-rc.d that stops it starting)",
    )


class PostfixInstance:
    """One private Postfix on ``dovecot``'s address (so the same host serves IMAP/POP3 and submission)."""

    def __init__(
        self,
        setup: str,
        *,
        dovecot: DovecotInstance,
        cert_path: str | Path | None = None,
        key_path: str | Path | None = None,
        hostname: str = "mail.mailprobe.test",
        extra_main_cf: str = "",
    ) -> None:
        if setup not in SETUPS:
            raise ValueError(f"unknown Postfix set-up {setup!r}; known: {', '.join(SETUPS)}")
        binary = postfix_binary()
        if binary is None:
            raise PostfixError("postfix is not installed")
        self.binary = binary
        self.setup = SETUPS[setup]
        self.name = setup
        self.address = dovecot.address
        if self.address == "127.0.0.1" or not self.address.startswith("127."):
            raise ValueError(f"test servers listen on 127.0.0.x (x > 1) only, not {self.address}")
        self.sasl_path = dovecot.root / "run" / SASL_SOCKET
        self.cert_path = Path(cert_path or dovecot.cert_path)
        self.key_path = Path(key_path or dovecot.key_path)
        self.hostname = hostname
        self.extra_main_cf = extra_main_cf  # appended to main.cf (later lines win in Postfix)
        self.root = Path(tempfile.mkdtemp(prefix="mp-postfix-"))
        self.root.chmod(0o755)
        self.config_dir = self.root / "conf"
        self.log_path = self.root / "maillog"

    @property
    def ports(self) -> tuple[int, ...]:
        return (SUBMISSION, SUBMISSIONS) if self.setup.tls else (SUBMISSION,)

    def _main_cf(self) -> str:
        s = self.setup
        nothing = "error:mailprobe test instance: nothing is delivered or relayed"
        tls = f"smtpd_tls_chain_files = {self.key_path}, {self.cert_path}\n" if s.tls else ""
        return f"""\
# written by tests/postfix.py; private test instance, safe to delete
compatibility_level = 3.6
queue_directory = {self.root}/queue
data_directory = {self.root}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = {self.hostname}
inet_interfaces = loopback-only
inet_protocols = ipv4
mydestination =
relayhost =
relay_domains =
mynetworks =
smtpd_relay_restrictions = reject
smtpd_recipient_restrictions = reject
default_transport = {nothing}
local_transport = {nothing}
relay_transport = {nothing}
virtual_transport = {nothing}
syslog_name = postfix-mailprobe-{self.root.name}
maillog_file_prefixes = {self.root}
maillog_file = {self.log_path}
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = {self.sasl_path}
smtpd_tls_security_level = {s.security_level}
smtpd_tls_auth_only = {"yes" if s.auth_only_after_tls else "no"}
{tls}{self.extra_main_cf}"""

    def _master_cf(self) -> str:
        lines = [f"{self.address}:{SUBMISSION} inet n - n - - smtpd"]
        if self.setup.tls:
            lines.append(
                f"{self.address}:{SUBMISSIONS} inet n - n - - smtpd -o smtpd_tls_wrappermode=yes "
                "-o smtpd_tls_security_level=encrypt"
            )
        return "\n".join(lines) + "\n" + _SERVICES

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.binary, "-c", str(self.config_dir), *args], capture_output=True, text=True, timeout=60
        )

    def start(self, timeout: float = 20.0) -> PostfixInstance:
        for port in self.ports:
            if _listening(self.address, port):
                raise PostfixError(f"{self.address}:{port} is already taken")
        self.config_dir.mkdir(exist_ok=True)
        (self.root / "queue").mkdir(exist_ok=True)
        (self.root / "data").mkdir(exist_ok=True)
        shutil.chown(self.root / "data", "postfix")
        (self.config_dir / "main.cf").write_text(self._main_cf())
        (self.config_dir / "master.cf").write_text(self._master_cf())
        started = self._run("start")
        if started.returncode != 0:
            raise PostfixError(f"postfix start failed: {started.stdout}{started.stderr}{self.read_log()}")
        deadline = time.monotonic() + timeout
        while not all(_listening(self.address, p) for p in self.ports):
            if time.monotonic() > deadline:
                self.stop()
                raise PostfixError(f"postfix did not listen on {self.address}:{self.ports}: {self.read_log()}")
            time.sleep(0.05)
        return self

    def _master_pid(self) -> int | None:
        try:
            return int((self.root / "queue" / "pid" / "master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        pid = self._master_pid()
        self._run("stop")
        deadline = time.monotonic() + 10
        while pid is not None and Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid is not None and Path(f"/proc/{pid}").exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)  # our own master, by the pid it wrote

    def read_log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def close(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostfixInstance:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()
