"""Private instances of Cyrus IMAP (imapd, pop3d) and Courier (imapd, pop3d), started and stopped by the tests
(never system services).

Debian's cyrus-imapd, cyrus-pop3d, courier-imap and courier-pop each Provide and Conflict with imap-server or
pop3-server, as dovecot-imapd and mailutils do, so apt cannot install them beside those. .ci/run installs what they
need that does not conflict (cyrus-common: master, libraries, the cyrus user; courier-base, courier-authdaemon,
courier-authlib-userdb: couriertcpd, couriertls, authdaemond, userdb) and unpacks the four conflicting packages
into SERVERS_ROOT (``dpkg-deb -x``); the daemons run from there.

Each instance has its own 127.0.0.x address and directory, and runs in its own PID namespace (``unshare --pid
--fork --kill-child``): stopping it kills that namespace's first process, which takes every process of the instance
with it (couriertcpd puts itself in a session of its own, so a process group would not). Courier's authentication
daemon has compiled-in paths (/etc/courier/authdaemonrc, /etc/courier/userdb.dat, /run/courier/authdaemon/socket),
so a Courier instance also has a mount namespace in which its own directories are bound over those two: the
system's files are never read or written.

    with CyrusInstance("plaintext_refused", cert, key) as cy:    # allowplaintext: no
        cy.address, cy.user.name, cy.user.password
    with CourierInstance("tls_required", cert, key) as co:       # IMAP_TLS_REQUIRED=1, POP3_TLS_REQUIRED=1
        ...
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.dovecot import MailUser, Ports, _listening, _release_address, allocate_address, require_installed
from tests.mailservers import wait_process_listening

SERVERS_ROOT = Path(os.environ.get("MAILPROBE_EXTRA_SERVERS", "/opt/mailprobe-servers"))
CYRUS_MASTER = Path("/usr/lib/cyrus/bin/master")  # cyrus-common
CYRUS_BIN = SERVERS_ROOT / "usr/lib/cyrus/bin"  # imapd, pop3d (unpacked cyrus-imapd, cyrus-pop3d)
COURIER_LIB = SERVERS_ROOT / "usr/lib/courier/courier"  # imaplogin, courierpop3login, courierpop3d (unpacked)
COURIER_IMAPD = SERVERS_ROOT / "usr/bin/imapd"
AUTHDAEMOND = Path("/usr/lib/courier/courier-authlib/authdaemond")  # courier-authdaemon
COURIERTLS = Path("/usr/bin/couriertls")  # courier-base
NOBODY = 65534

_START_TIMEOUT = 20.0
_UNPACKED_HINT = (
    "is not available (.ci/run installs cyrus-common/courier-base and unpacks cyrus-imapd, cyrus-pop3d, "
    f"courier-imap, courier-pop into {SERVERS_ROOT})"
)


@dataclass(frozen=True)
class Setup:
    tls: bool  # a certificate: STARTTLS on 143/110 and implicit TLS on 993/995
    plaintext_allowed: bool  # what a real user's password meets in clear: the ground truth of the verdict
    setting: str  # the configuration lines that decide it, as the corpus records them


CYRUS_SETUPS: dict[str, Setup] = {
    "plaintext_refused": Setup(True, False, "allowplaintext: no"),
    "plaintext_allowed": Setup(True, True, "allowplaintext: yes"),
    "no_tls": Setup(False, True, "allowplaintext: yes; no tls_server_cert"),
}
COURIER_SETUPS: dict[str, Setup] = {
    "tls_required": Setup(True, False, "IMAP_TLS_REQUIRED=1, POP3_TLS_REQUIRED=1"),
    "tls_optional": Setup(True, True, "IMAP_TLS_REQUIRED=0, POP3_TLS_REQUIRED=0"),
    "no_tls": Setup(False, True, "IMAP_STARTTLS=NO, POP3_STARTTLS=NO, no certificate"),
}


def cyrus_version() -> str | None:
    return _package_version("cyrus-common")


def courier_version() -> str | None:
    return _package_version("courier-base")


def _package_version(package: str) -> str | None:
    if shutil.which("dpkg-query") is None:
        return None
    done = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True, timeout=30, check=False
    )
    return done.stdout.strip() or None


def require_cyrus() -> None:
    present = all(p.exists() for p in (CYRUS_MASTER, CYRUS_BIN / "imapd", CYRUS_BIN / "pop3d"))
    require_installed(present and shutil.which("saslpasswd2") is not None, f"Cyrus {_UNPACKED_HINT}")
    require_installed(shutil.which("unshare") is not None and os.geteuid() == 0, "Cyrus tests need root and unshare")


def require_courier() -> None:
    needed = (AUTHDAEMOND, COURIERTLS, COURIER_IMAPD, COURIER_LIB / "imaplogin", COURIER_LIB / "courierpop3login")
    present = all(p.exists() for p in needed) and shutil.which("couriertcpd") and shutil.which("makeuserdb")
    require_installed(bool(present), f"Courier {_UNPACKED_HINT}")
    require_installed(shutil.which("unshare") is not None and os.geteuid() == 0, "Courier tests need root and unshare")


class _Namespaced:
    """A shell script as the first process of a new PID namespace (and a private mount namespace). SIGKILL to
    ``unshare`` (by its pid) kills the script through --kill-child, and the kernel then kills every other process
    of the namespace: nothing of the instance outlives stop(). The script must stay that first process (start the
    daemons in the background and ``wait``): a daemon exec'd in its place that changes its user loses the death
    signal."""

    def __init__(self, script: str, log: Path) -> None:
        self._log = log.open("ab")
        self.proc = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--kill-child", "--mount", "--propagation", "private", "sh", "-c", script],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def wait_listening(self, address: str, ports: tuple[int, ...], what: str, log: Path) -> None:
        wait_process_listening(self.proc, address, ports, what, log, _START_TIMEOUT)

    def stop(self, address: str, ports: tuple[int, ...]) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            self.proc.wait(timeout=10)
        self._log.close()
        deadline = time.monotonic() + 10
        while any(_listening(address, p) for p in ports):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server's namespace still listens on {address} {ports} after its stop")
            time.sleep(0.05)


class _Instance:
    """What Cyrus and Courier instances share: address, directory, dummy account, life cycle."""

    kind = ""
    setups: dict[str, Setup] = {}

    def __init__(self, setup: str, cert: Path | None, key: Path | None) -> None:
        if setup not in self.setups:
            raise ValueError(f"unknown {self.kind} set-up {setup!r}; known: {', '.join(self.setups)}")
        self.setup_name = setup
        self.setup = self.setups[setup]
        if self.setup.tls and (cert is None or key is None):
            raise ValueError(f"{self.kind} set-up {setup!r} serves TLS: give a certificate and its key")
        self.cert, self.key = cert, key
        self.address = allocate_address(Ports())
        self.dir = Path(tempfile.mkdtemp(prefix=f"mp-{self.kind.lower()}-"))
        self.dir.chmod(0o755)  # the daemons' own users read their configuration below it
        self.user = MailUser(f"mailprobe-test-{secrets.token_hex(4)}", secrets.token_urlsafe(12))
        self.log = self.dir / "server.log"
        self._child: _Namespaced | None = None

    @property
    def ports(self) -> tuple[int, ...]:
        return (143, 110, 993, 995) if self.setup.tls else (143, 110)

    def _script(self) -> str:
        raise NotImplementedError

    def __enter__(self) -> _Instance:
        try:
            self._child = _Namespaced(self._script(), self.log)
            self._child.wait_listening(self.address, self.ports, self.kind, self.log)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._child is not None:
            child, self._child = self._child, None
            child.stop(self.address, self.ports)
        _release_address(self.address)
        shutil.rmtree(self.dir, ignore_errors=True)


class CyrusInstance(_Instance):
    """Cyrus's master with imapd on 143 (993 with -s) and pop3d on 110 (995 with -s), a sasldb of its own with one
    test account, ``allowplaintext`` as the set-up says."""

    kind = "Cyrus"
    setups = CYRUS_SETUPS

    def __init__(self, setup: str, cert: Path | None = None, key: Path | None = None) -> None:
        require_cyrus()
        super().__init__(setup, cert, key)

    def _imapd_conf(self) -> Path:
        d = self.dir
        tls = ""
        if self.setup.tls:
            assert self.cert is not None and self.key is not None
            shutil.copy(self.cert, d / "server.crt")
            shutil.copy(self.key, d / "server.key")
            tls = f"tls_server_cert: {d}/server.crt\ntls_server_key: {d}/server.key\n"
        text = (
            "# written by tests/cyrus_courier.py; private test instance, safe to delete\n"
            f"configdirectory: {d}/conf\npartition-default: {d}/spool\n"
            "servername: mail.example.test\n"
            "sasl_pwcheck_method: auxprop\nsasl_auxprop_plugin: sasldb\n"
            f"sasl_sasldb_path: {d}/sasldb2\nsasl_mech_list: PLAIN LOGIN\n"
            f"allowplaintext: {'yes' if self.setup.plaintext_allowed else 'no'}\n"
            f"{tls}"
            f"master_pid_file: {d}/run/master.pid\nidlesocket: {d}/run/idle\n"
            f"lmtpsocket: {d}/run/lmtp\nnotifysocket: {d}/run/notify\n"
        )
        path = d / "imapd.conf"
        path.write_text(text)
        return path

    def _cyrus_conf(self, imapd_conf: Path) -> Path:
        a, conf = self.address, imapd_conf
        services = [
            f'  imap cmd="{CYRUS_BIN}/imapd -C {conf}" listen="{a}:143" prefork=0',
            f'  pop3 cmd="{CYRUS_BIN}/pop3d -C {conf}" listen="{a}:110" prefork=0',
        ]
        if self.setup.tls:
            services += [
                f'  imaps cmd="{CYRUS_BIN}/imapd -s -C {conf}" listen="{a}:993" prefork=0',
                f'  pop3s cmd="{CYRUS_BIN}/pop3d -s -C {conf}" listen="{a}:995" prefork=0',
            ]
        text = (
            f'START {{\n  recover cmd="/usr/lib/cyrus/bin/ctl_cyrusdb -C {conf} -r"\n}}\n'
            "SERVICES {\n" + "\n".join(services) + "\n}\nEVENTS {\n}\n"
        )
        path = self.dir / "cyrus.conf"
        path.write_text(text)
        return path

    def _script(self) -> str:
        d = self.dir
        for sub in ("conf", "spool", "run"):
            (d / sub).mkdir()
        imapd_conf = self._imapd_conf()
        cyrus_conf = self._cyrus_conf(imapd_conf)
        subprocess.run(
            ["saslpasswd2", "-f", str(d / "sasldb2"), "-p", "-c", "-u", "mail.example.test", self.user.name],
            input=self.user.password,
            text=True,
            check=True,
            timeout=30,
        )
        subprocess.run(["chown", "-R", "cyrus:mail", str(d)], check=True, timeout=30)
        d.chmod(0o755)
        argv = [str(CYRUS_MASTER), "-C", str(imapd_conf), "-M", str(cyrus_conf), "-p", f"{d}/run/master.pid", "-D"]
        # Not exec'd: the shell stays the namespace's first process. The master drops to the cyrus user, and a
        # change of credentials clears the death signal that --kill-child relies on.
        return f"{shlex.join(argv)} &\nwait"


class CourierInstance(_Instance):
    """Courier's couriertcpd with imaplogin/imapd on 143, couriertls on 993, courierpop3login on 110 and 995, and
    an authdaemond reading a userdb of its own with one test account."""

    kind = "Courier"
    setups = COURIER_SETUPS

    def __init__(self, setup: str, cert: Path | None = None, key: Path | None = None) -> None:
        require_courier()
        super().__init__(setup, cert, key)

    def _files(self) -> None:
        d = self.dir
        etc, auth, home = d / "etc", d / "auth", d / "home" / self.user.name
        etc.mkdir()
        auth.mkdir()
        home.mkdir(parents=True)
        (etc / "authdaemonrc").write_text(
            'authmodulelist="authuserdb"\nauthmodulelistorig="authuserdb"\ndaemons=2\n'
            'authdaemonvar=/run/courier/authdaemon\nDEBUG_LOGIN=0\nDEFAULTOPTIONS=""\nLOGGEROPTS=""\n'
        )
        subprocess.run(["maildirmake.courier", str(home / "Maildir")], check=True, timeout=30)
        subprocess.run(["chown", "-R", f"{NOBODY}:{NOBODY}", str(home)], check=True, timeout=30)
        crypted = subprocess.run(
            ["openssl", "passwd", "-6", "-stdin"], input=self.user.password, capture_output=True, text=True, check=True
        ).stdout.strip()
        userdb = etc / "userdb"
        userdb.write_text(
            f"{self.user.name}\tuid={NOBODY}|gid={NOBODY}|home={home}|mail={home}/Maildir|systempw={crypted}\n"
        )
        userdb.chmod(0o600)
        if self.setup.tls:
            assert self.cert is not None and self.key is not None
            pem = etc / "server.pem"  # couriertls wants the key and the certificate in one file
            pem.write_bytes(self.key.read_bytes() + self.cert.read_bytes())
            pem.chmod(0o600)
            shutil.chown(pem, "courier", "courier")  # read by couriertls under imaplogin, which runs as courier
            shutil.copy("/etc/courier/dhparams.pem", etc / "dhparams.pem")
            (etc / "dhparams.pem").chmod(0o644)

    def _environment(self) -> dict[str, str]:
        etc = self.dir / "etc"
        required = "0" if self.setup.plaintext_allowed else "1"
        tls = "YES" if self.setup.tls else "NO"
        env = {
            "IMAP_CAPABILITY": "IMAP4rev1 UIDPLUS CHILDREN NAMESPACE IDLE",  # Debian's default, CRAM-* off
            "IMAP_CAPABILITY_TLS": "IMAP4rev1 UIDPLUS CHILDREN NAMESPACE IDLE AUTH=PLAIN",
            "IMAP_STARTTLS": tls,
            "IMAP_TLS_REQUIRED": required,
            "POP3AUTH": "",
            "POP3AUTH_TLS": "LOGIN PLAIN",
            "POP3_STARTTLS": tls,
            "POP3_TLS_REQUIRED": required,
            "IMAP_EMPTYTRASH": "",
        }
        if self.setup.tls:
            env |= {
                "COURIERTLS": str(COURIERTLS),
                "TLS_CERTFILE": str(etc / "server.pem"),
                "TLS_DHPARAMS": str(etc / "dhparams.pem"),
                "TLS_VERIFYPEER": "NONE",
            }
        return env

    def _script(self) -> str:
        self._files()
        d = self.dir
        tcpd = ["couriertcpd", f"-address={self.address}", "-maxprocs=20", "-maxperip=20", "-nodnslookup",
                "-noidentlookup"]  # fmt: skip
        imap = [str(COURIER_LIB / "imaplogin"), str(COURIER_IMAPD), "Maildir"]
        pop3 = [str(COURIER_LIB / "courierpop3login"), str(COURIER_LIB / "courierpop3d"), "Maildir"]
        tls = [str(COURIERTLS), "-server", "-tcpd"]
        servers = [[*tcpd, "143", *imap], [*tcpd, "110", *pop3]]
        if self.setup.tls:
            servers += [[*tcpd, "993", *tls, *imap], [*tcpd, "995", *tls, *pop3]]
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in self._environment().items())
        lines = [
            "set -e",
            "mkdir -p /etc/courier /run/courier/authdaemon",  # mount points; Debian's packages make both
            f"mount --bind {shlex.quote(str(d / 'etc'))} /etc/courier",
            f"mount --bind {shlex.quote(str(d / 'auth'))} /run/courier/authdaemon",
            "makeuserdb",  # inside the namespace: writes userdb.dat beside our userdb, not the system's
            f"{shlex.quote(str(AUTHDAEMOND))} &",
            f"export {exports}",
            *(f"{shlex.join(argv)} &" for argv in servers),
            "wait",
        ]
        return "\n".join(lines)
