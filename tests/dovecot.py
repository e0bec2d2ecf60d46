"""A private, real Dovecot for integration tests.

Each instance gets its own directory (config, base_dir, state_dir, passwd-file, mail, log), its own 127.0.0.x
address (never 127.0.0.1: Dovecot counts a client whose address equals the server's as secured, and the scanner
connects from 127.0.0.1) and runs `dovecot -c CONFIG -F` as a child process in its own session, so stopping it
can never touch a system Dovecot or another test's instance.

    with DovecotInstance("plaintext_refused") as dv:
        dv.address, dv.ports.imap, dv.users[0].name, dv.log_path
        dv.reconfigure("plaintext_allowed")

Set-ups: plaintext_refused, plaintext_allowed, ssl_no, ssl_required (see SETUPS).
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path

# setup name -> (ssl, plaintext auth allowed)
SETUPS: dict[str, tuple[str, bool]] = {
    "plaintext_refused": ("yes", False),
    "plaintext_allowed": ("yes", True),
    "ssl_no": ("no", True),  # without TLS Dovecot has to allow plaintext auth or nobody could log in
    "ssl_required": ("required", False),
}

# Mail processes need a non-root uid; nobody/nogroup exist on every Debian system.
MAIL_UID = 65534
MAIL_GID = 65534

_STARTUP_TIMEOUT = 15.0
_STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class Ports:
    pop3: int = 110
    imap: int = 143
    imaps: int = 993
    pop3s: int = 995

    def all(self) -> tuple[int, int, int, int]:
        return (self.pop3, self.imap, self.imaps, self.pop3s)


@dataclass(frozen=True)
class MailUser:
    """An account of the test server itself (random name and password per instance)."""

    name: str
    password: str


class DovecotError(RuntimeError):
    pass


class DovecotNotInstalled(DovecotError):
    pass


def dovecot_binary() -> str | None:
    return shutil.which("dovecot") or ("/usr/sbin/dovecot" if os.access("/usr/sbin/dovecot", os.X_OK) else None)


def dovecot_version() -> tuple[int, int] | None:
    """(major, minor) of the installed Dovecot, or None when it is not installed."""
    binary = dovecot_binary()
    if binary is None:
        return None
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    m = re.match(r"\s*(\d+)\.(\d+)", out)
    if not m:
        raise DovecotError(f"cannot parse `dovecot --version` output: {out!r}")
    return int(m.group(1)), int(m.group(2))


def require_installed(installed: bool, reason: str) -> None:
    """In a test: skip when a real server is missing, except in CI, where that is a broken set-up and must fail."""
    import pytest

    if installed:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {reason}", pytrace=False)
    pytest.skip(reason)


def require_dovecot() -> None:
    require_installed(
        dovecot_binary() is not None, "dovecot is not installed (apt-get install dovecot-imapd dovecot-pop3d)"
    )


NTLM_AUTH = "/usr/bin/ntlm_auth"  # Samba's helper (package winbind)


def require_ntlm_auth() -> None:
    """Debian's Dovecot 2.3 has no NTLM of its own: it offers NTLM through Samba's ntlm_auth (auth_use_winbind)."""
    require_installed(os.access(NTLM_AUTH, os.X_OK), "ntlm_auth is not installed (apt-get install winbind)")


def ntlm_config(directory: Path, *, workgroup: str, netbios_name: str) -> str:
    """Dovecot settings that offer NTLM (``auth_mechanisms = plain ntlm``), answered by Samba's ntlm_auth with a
    private smb.conf written in ``directory``: the CHALLENGE names ``netbios_name`` in domain ``workgroup``. No
    winbindd runs: the CHALLENGE needs none, and nothing here ever authenticates."""
    directory.mkdir(parents=True, exist_ok=True)
    for sub in ("state", "cache", "lock", "private"):
        (directory / sub).mkdir(exist_ok=True)
        (directory / sub).chmod(0o777)  # the auth process runs as Dovecot's own user
    conf = directory / "smb.conf"
    conf.write_text(
        "[global]\n"
        f"workgroup = {workgroup}\n"
        f"netbios name = {netbios_name}\n"
        "security = ads\n"
        f"realm = {workgroup}.MAILPROBE.TEST\n"
        "server role = member server\n"
        + "".join(f"{sub} directory = {directory / sub}\n" for sub in ("state", "cache", "lock"))
        + f"private dir = {directory / 'private'}\n"
        f"log file = {directory / 'samba.log'}\n"
    )
    helper = directory / "ntlm_auth.sh"
    helper.write_text(f'#!/bin/sh\nexec {NTLM_AUTH} --configfile={conf} "$@"\n')
    helper.chmod(0o755)
    directory.chmod(0o755)
    return f"auth_mechanisms = plain ntlm\nauth_use_winbind = yes\nauth_winbind_helper_path = {helper}\n"


def _dh_file() -> Path | None:
    for candidate in (Path("/usr/share/dovecot/dh.pem"), Path("/etc/dovecot/dh.pem")):
        if candidate.is_file():
            return candidate
    return None


def render_config(
    setup: str,
    *,
    version: tuple[int, int],
    root: Path,
    address: str,
    ports: Ports,
    cert_path: Path,
    key_path: Path,
    passwd_path: Path,
    log_path: Path,
    extra: str = "",
    auth_penalty: bool = False,
) -> str:
    """The whole dovecot.conf for one set-up, in the syntax of the given Dovecot version."""
    if setup not in SETUPS:
        raise ValueError(f"unknown Dovecot set-up {setup!r}; known: {', '.join(SETUPS)}")
    ssl, plaintext_ok = SETUPS[setup]
    yn = "yes" if plaintext_ok else "no"
    listeners = f"""\
service imap-login {{
  inet_listener imap {{
    port = {ports.imap}
  }}
  inet_listener imaps {{
    port = {ports.imaps}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {ports.pop3}
  }}
  inet_listener pop3s {{
    port = {ports.pop3s}
    ssl = yes
  }}
}}
"""
    common = f"""\
# written by tests/dovecot.py; private test instance, safe to delete
instance_name = mailprobe-{root.name}
base_dir = {root}/run
state_dir = {root}/state
listen = {address}
protocols = imap pop3
ssl = {ssl}
log_path = {log_path}
auth_verbose = yes
auth_mechanisms = plain login
# no login_trusted_networks: only TLS may count as secure
"""
    if version >= (2, 4):
        dh = ""  # 2.4 has no ssl_dh setting
        body = f"""\
dovecot_config_version = {version[0]}.{version[1]}.0
dovecot_storage_version = {version[0]}.{version[1]}.0
{common}auth_allow_cleartext = {yn}
ssl_server_cert_file = {cert_path}
ssl_server_key_file = {key_path}
mail_driver = maildir
mail_path = ~/Maildir
passdb passwd-file {{
  passwd_file_path = {passwd_path}
  default_password_scheme = PLAIN
}}
userdb passwd-file {{
  passwd_file_path = {passwd_path}
}}
"""
    else:
        dh_file = _dh_file()
        dh = f"ssl_dh = <{dh_file}\n" if dh_file else ""
        body = f"""\
{common}disable_plaintext_auth = {"no" if plaintext_ok else "yes"}
ssl_cert = <{cert_path}
ssl_key = <{key_path}
{dh}mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {passwd_path}
}}
userdb {{
  driver = passwd-file
  args = {passwd_path}
}}
"""
    if not auth_penalty:
        # Anvil's per-IP penalty grows after each failed login (up to 15 s) and would make a test's timing
        # depend on what ran before it; the fixed auth_failure_delay (2 s) stays, as on a real server.
        listeners += "service anvil {\n  unix_listener anvil-auth-penalty {\n    mode = 0\n  }\n}\n"
    return body + listeners + (extra.rstrip() + "\n" if extra else "")


def _self_signed(directory: Path, dns_name: str) -> tuple[Path, Path]:
    """A throwaway certificate for set-ups whose test does not care which one is served."""
    try:
        from scanner import certgen
    except ImportError:  # harness still usable without the scanner package: fall back to openssl
        certgen = None
    if certgen is not None:
        cert, key = certgen.self_signed(dns_name, [dns_name], days=2).write(directory, "server")
        return Path(cert), Path(key)
    cert, key = directory / "server.crt", directory / "server.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={dns_name}",
            "-addext", f"subjectAltName=DNS:{dns_name}",
        ],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def _listening(address: str, port: int) -> bool:
    """True when a TCP socket is in LISTEN on address:port (read from /proc, so no connection is logged)."""
    want = "{:08X}:{:04X}".format(int.from_bytes(socket.inet_aton(address), "little"), port)
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return False
    return any(line.split()[1] == want and line.split()[3] == "0A" for line in lines)


def _free(address: str, ports: Ports) -> bool:
    for port in ports.all():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


_address_lock = threading.Lock()
_taken: set[str] = set()  # addresses handed out to live instances of this process


def allocate_address(ports: Ports = Ports()) -> str:  # noqa: B008 - Ports is frozen
    """A 127.0.0.x (10..250) no live instance of ours uses and where all ports are still free to bind."""
    with _address_lock:
        candidates = [f"127.0.0.{i}" for i in range(10, 251)]
        random.shuffle(candidates)  # several test processes at once rarely pick the same one
        for address in candidates:
            if address not in _taken and _free(address, ports):
                _taken.add(address)
                return address
    raise DovecotError("no free 127.0.0.x address for a Dovecot instance")


def _release_address(address: str) -> None:
    with _address_lock:
        _taken.discard(address)


_live: weakref.WeakSet[DovecotInstance] = weakref.WeakSet()


def close_all(instances: list[DovecotInstance]) -> None:
    """Close several instances, shutting them down in parallel (each master takes about a second)."""
    for instance in instances:
        with contextlib.suppress(Exception):
            instance.begin_stop()
    errors = []
    for instance in instances:
        try:
            instance.close()
        except Exception as exc:  # noqa: BLE001 - close the others first, then report
            errors.append(exc)
    if errors:
        raise errors[0]


@atexit.register
def _stop_all() -> None:
    close_all(list(_live))


class DovecotInstance:
    """One private Dovecot. Call start() (or use it as a context manager) and close() when done."""

    def __init__(
        self,
        setup: str = "plaintext_refused",
        *,
        address: str | None = None,
        ports: Ports | None = None,
        cert_path: str | Path | None = None,
        key_path: str | Path | None = None,
        users: int = 2,
        extra_config: str = "",
        dns_name: str = "mail.mailprobe.test",
        auth_penalty: bool = False,
        extra_ports: tuple[int, ...] = (),
    ) -> None:
        if setup not in SETUPS:
            raise ValueError(f"unknown Dovecot set-up {setup!r}; known: {', '.join(SETUPS)}")
        if (cert_path is None) != (key_path is None):
            raise ValueError("give both cert_path and key_path, or neither")
        binary = dovecot_binary()
        version = dovecot_version()
        if binary is None or version is None:
            raise DovecotNotInstalled("dovecot is not installed (apt-get install dovecot-imapd dovecot-pop3d)")
        self.binary = binary
        self.version = version
        self.setup = setup
        self.ports = ports or Ports()
        self._own_address = address is None
        self.address = address or allocate_address(self.ports)
        if not ipaddress.ip_address(self.address).is_loopback:
            raise ValueError(f"test servers listen on loopback only, not {self.address}")
        if self.address == "127.0.0.1":
            raise ValueError("127.0.0.1 is the client's address; Dovecot would treat clients as secured")
        self.extra_config = extra_config
        # Listeners the extra configuration adds (submission, say): start() waits for them too, since Dovecot
        # opens its services one by one and a test that looks right after start-up may otherwise find one missing.
        self.extra_ports = extra_ports
        self.auth_penalty = auth_penalty
        # Not under pytest's tmp_path: that is 0700 and the auth process (user dovecot) must read the passwd-file;
        # also keeps unix socket paths under base_dir well below the 108-byte limit.
        self.root = Path(tempfile.mkdtemp(prefix="mp-dovecot-"))
        self.root.chmod(0o755)
        self.log_path = self.root / "dovecot.log"
        self.config_path = self.root / "dovecot.conf"
        self.passwd_path = self.root / "passwd"
        self.mail_dir = self.root / "mail"
        if cert_path is None:
            self.cert_path, self.key_path = _self_signed(self.root, dns_name)
        else:
            self.cert_path, self.key_path = Path(cert_path), Path(key_path)  # type: ignore[arg-type]
        self.users: tuple[MailUser, ...] = tuple(
            MailUser(f"mailprobe-{secrets.token_hex(4)}", secrets.token_urlsafe(12)) for _ in range(users)
        )
        self._write_accounts()
        self._proc: subprocess.Popen[bytes] | None = None
        _live.add(self)

    # --- files -----------------------------------------------------------------------------------------------

    def _write_accounts(self) -> None:
        self.mail_dir.mkdir(exist_ok=True)
        os.chown(self.mail_dir, MAIL_UID, MAIL_GID)
        lines = [
            f"{u.name}:{{PLAIN}}{u.password}:{MAIL_UID}:{MAIL_GID}::{self.mail_dir / u.name}::\n" for u in self.users
        ]
        self.passwd_path.write_text("".join(lines))
        self.passwd_path.chmod(0o644)

    def _write_config(self) -> None:
        for sub in ("state",):
            (self.root / sub).mkdir(exist_ok=True)
        self.config_path.write_text(
            render_config(
                self.setup,
                version=self.version,
                root=self.root,
                address=self.address,
                ports=self.ports,
                cert_path=self.cert_path,
                key_path=self.key_path,
                passwd_path=self.passwd_path,
                log_path=self.log_path,
                extra=self.extra_config,
                auth_penalty=self.auth_penalty,
            )
        )

    # --- what a test needs -------------------------------------------------------------------------------------

    @property
    def user(self) -> MailUser:
        return self.users[0]

    @property
    def ssl_enabled(self) -> bool:
        return SETUPS[self.setup][0] != "no"

    @property
    def plaintext_allowed(self) -> bool:
        return SETUPS[self.setup][1]

    @property
    def listening_ports(self) -> tuple[int, ...]:
        """Ports this set-up serves (Dovecot opens no implicit-TLS listener with ssl=no)."""
        served = self.ports.all() if self.ssl_enabled else (self.ports.pop3, self.ports.imap)
        return served + self.extra_ports

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc and self._proc.poll() is None else None

    @property
    def running(self) -> bool:
        return self.pid is not None

    def read_log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for_log(self, pattern: str, timeout: float = 5.0) -> re.Match[str]:
        """Wait until the log has a line matching the regex (Dovecot writes via its log process, a bit later)."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            m = rx.search(self.read_log())
            if m:
                return m
            if time.monotonic() > deadline:
                raise TimeoutError(f"no log line matching {pattern!r} within {timeout}s in {self.log_path}")
            time.sleep(0.05)

    # --- life cycle --------------------------------------------------------------------------------------------

    def start(self, timeout: float = _STARTUP_TIMEOUT) -> DovecotInstance:
        if self.running:
            return self
        self._write_config()
        check = subprocess.run([self.binary, "-c", str(self.config_path), "-n"], capture_output=True, text=True)
        if check.returncode != 0:
            raise DovecotError(f"dovecot rejected the generated config:\n{check.stderr}")
        log_offset = len(self.read_log())
        self._proc = subprocess.Popen(
            [self.binary, "-c", str(self.config_path), "-F"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # own process group: children are found and stopped with it
        )
        deadline = time.monotonic() + timeout
        while not all(_listening(self.address, p) for p in self.listening_ports):
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                self._proc = None
                raise DovecotError(f"dovecot exited during start-up: {err}{self.read_log()[log_offset:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise DovecotError(f"dovecot did not listen on {self.address}:{self.listening_ports} in {timeout}s")
            time.sleep(0.02)
        return self

    def _group_members(self, pgid: int) -> list[int]:
        """Live processes in our Dovecot's process group (by /proc, so only ours are ever signalled)."""
        members = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                exe = os.readlink(entry / "exe")
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and "dovecot" in exe:
                members.append(int(entry.name))
        return members

    def begin_stop(self) -> None:
        """Ask the master to shut down without waiting (it takes about a second); stop() finishes the job."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)  # the master stops its children and exits

    def stop(self) -> None:
        self.begin_stop()
        proc, self._proc = self._proc, None
        if proc is None:
            return
        pgid = proc.pid
        try:
            proc.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if proc.stderr:
            proc.stderr.close()
        # Stragglers (e.g. a mail process busy with a client): same group, ours alone.
        deadline = time.monotonic() + 5
        while members := self._group_members(pgid):
            for pid in members:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if time.monotonic() > deadline:
                raise DovecotError(f"dovecot processes {members} would not exit")
            time.sleep(0.05)
        deadline = time.monotonic() + 5
        while any(_listening(self.address, p) for p in self.ports.all()) and time.monotonic() < deadline:
            time.sleep(0.02)

    def restart(self) -> DovecotInstance:
        self.stop()
        return self.start()

    def reconfigure(
        self,
        setup: str | None = None,
        *,
        cert_path: str | Path | None = None,
        key_path: str | Path | None = None,
        extra_config: str | None = None,
    ) -> DovecotInstance:
        """Rewrite the config and restart on the same address, ports, users and log file.

        A restart rather than `doveadm reload`: after a reload, login processes of the old config may still take
        a new connection for a moment, and a test must see the new behaviour on its very next connection.
        """
        if setup is not None:
            if setup not in SETUPS:
                raise ValueError(f"unknown Dovecot set-up {setup!r}")
            self.setup = setup
        if (cert_path is None) != (key_path is None):
            raise ValueError("give both cert_path and key_path, or neither")
        if cert_path is not None:
            self.cert_path, self.key_path = Path(cert_path), Path(key_path)  # type: ignore[arg-type]
        if extra_config is not None:
            self.extra_config = extra_config
        was_running = self.running
        self.stop()
        self._write_config()
        return self.start() if was_running else self

    def close(self) -> None:
        """Stop and delete the instance's directory (log included: read it before)."""
        try:
            self.stop()
        finally:
            if self._own_address:
                _release_address(self.address)
            shutil.rmtree(self.root, ignore_errors=True)
            _live.discard(self)

    def __enter__(self) -> DovecotInstance:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<DovecotInstance {self.setup} {self.address} {self.version} pid={self.pid} root={self.root}>"


def start_instance(setup: str, attempts: int = 3, **kwargs: object) -> DovecotInstance:
    """Start an instance; with an automatic address, retry elsewhere if another process took it meanwhile."""
    last: Exception | None = None
    for _ in range(attempts):
        instance = DovecotInstance(setup, **kwargs)  # type: ignore[arg-type]
        try:
            return instance.start()
        except DovecotError as exc:
            instance.close()
            last = exc
            if kwargs.get("address") is not None or "Address already in use" not in str(exc):
                raise
    raise DovecotError(f"could not start Dovecot after {attempts} attempts: {last}")
