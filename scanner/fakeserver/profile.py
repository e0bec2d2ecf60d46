"""Behaviour profiles for the fake servers: TOML in, frozen dataclasses out.

A profile says, line for line, what a real deployment answers: greeting, capabilities before and after TLS, the
answer to each login command in clear and over TLS, and any hostile behaviour. Reply lines are text templates
without CRLF; ``{tag}`` is replaced by the client's IMAP tag. The engine (``server.py``) adds the CRLF.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

Protocol = Literal["imap", "pop3", "smtp"]
Phase = Literal["clear", "tls"]
Mode = Literal["serve", "reject-all", "close", "silent", "stream"]

# serve: a POP3/IMAP server; reject-all: every line gets the "unknown" answer (an SMTP server on 143);
# close: greeting, then close; silent: greeting (often none), then nothing; stream: greeting, then hostile bytes.
MODES: tuple[str, ...] = ("serve", "reject-all", "close", "silent", "stream")
LOGIN_COMMANDS: dict[str, tuple[str, ...]] = {
    "imap": ("LOGIN", "AUTHENTICATE PLAIN"),
    "pop3": ("USER", "PASS", "AUTH PLAIN"),
    "smtp": ("AUTH PLAIN", "AUTH LOGIN"),
}

_IMAP_DEFAULTS: dict[str, Any] = {
    "capability_ok": "{tag} OK CAPABILITY completed.",
    "starttls_ok": ["{tag} OK Begin TLS negotiation now."],
    "starttls_refused": ["{tag} BAD Command received in Invalid state."],
    "logout": ["* BYE Logging out", "{tag} OK LOGOUT completed."],
    "noop": ["{tag} OK NOOP completed."],
    "unknown": ["{tag} BAD Command Error. 12"],
    "continuation": "+ ",
}
_POP3_DEFAULTS: dict[str, Any] = {
    "capability_ok": "+OK",
    "starttls_ok": ["+OK Begin TLS negotiation."],
    "starttls_refused": ["-ERR Command is not valid in this state."],
    "logout": ["+OK Logging out."],
    "noop": ["+OK"],
    "unknown": ["-ERR Protocol error. 14"],
    "continuation": "+ ",
}

# SMTP: capability_ok is the first EHLO line after "250-" (the server's name and greeting of the client).
_SMTP_DEFAULTS: dict[str, Any] = {
    "capability_ok": "mail.example.org",
    "starttls_ok": ["220 2.0.0 Ready to start TLS"],
    "starttls_refused": ["502 5.5.1 Error: command not implemented"],
    "logout": ["221 2.0.0 Bye"],
    "noop": ["250 2.0.0 Ok"],
    "unknown": ["502 5.5.2 Error: command not recognized"],
    "continuation": "334 ",
}
_DEFAULTS = {"imap": _IMAP_DEFAULTS, "pop3": _POP3_DEFAULTS, "smtp": _SMTP_DEFAULTS}


class ProfileError(ValueError):
    """A profile file that does not describe a usable server."""


@dataclass(frozen=True)
class Answer:
    """How the server answers one login command in one phase."""

    lines: tuple[str, ...]
    delay: bool = False  # a credential check: wait the profile's login_delay first (Dovecot waits ~2 s)
    accept: bool = False  # the login succeeds: the session becomes authenticated
    invalid_state: bool = False  # counts toward invalid_state_limit (Exchange's "third strike" disconnect)
    continuation: bool = False  # SASL: ask for the payload ("+ ") before answering when no initial response came
    close: bool = False  # close the connection after answering


@dataclass(frozen=True)
class Hostile:
    """Raw behaviour after the greeting for servers that are not well-behaved mail servers."""

    inject_after_starttls: str = ""  # plaintext bytes sent right after the STARTTLS/STLS OK, before the handshake
    process_pipelined: bool = False  # execute commands pipelined after STARTTLS inside TLS (CVE-2011-0411 class)
    answer_pipelined_in_clear: bool = False  # answer them in clear after the OK, before the handshake (in order)
    say_after_tls: str = ""  # sent unprompted right after the STARTTLS handshake (a chatty server)
    stream_hex: str = ""  # mode "stream": bytes sent after the greeting ...
    stream_repeat: str = ""  # ... then this text repeated until the client goes away or stream_limit is reached
    stream_limit: int = 16 * 1024 * 1024
    reply_delay: float = 0.0  # > 0: every write waits this long first (a slow server, or a far one)
    drip_interval: float = 0.0  # > 0: every byte the server writes is sent alone, this many seconds apart


@dataclass(frozen=True)
class Ntlm:
    """How the server answers AUTHENTICATE NTLM / AUTH NTLM: an empty continuation, the client's NEGOTIATE, then a
    CHALLENGE naming these; the client's cancel gets ``cancelled``. Names are empty when not sent."""

    target_name: str = ""
    netbios_computer: str = ""
    netbios_domain: str = ""
    dns_computer: str = ""
    dns_domain: str = ""
    dns_tree: str = ""
    version: str = ""  # "10.0.17763": sent in the Version field when given
    challenge_hex: str = ""  # hostile profiles: these bytes instead of a well-formed CHALLENGE
    challenge_text: str = ""  # ... or this text (not even base64) after the continuation prefix
    cancelled: tuple[str, ...] = ()  # the answer to "*" ({tag} for IMAP)
    cancel_counts: bool = False  # the cancel counts toward invalid_state_limit, as a refused command would


@dataclass(frozen=True)
class Profile:
    name: str
    protocol: Protocol
    description: str
    greeting: tuple[str, ...]
    capabilities_clear: tuple[str, ...]
    capabilities_tls: tuple[str, ...]
    implicit_tls: bool = False
    starttls_works: bool = True  # STARTTLS/STLS answered OK in clear, whether advertised or not
    certificate: str = "ca-signed"  # which certificate the caller should present: a hint, the caller decides
    mode: Mode = "serve"
    preauth: bool = False  # the greeting already authenticated the session (IMAP PREAUTH)
    login_delay: float = 0.0
    invalid_state_limit: int = 0  # 0: never; n: the n-th invalid-state answer also ends the session
    invalid_state_bye: str = ""  # line appended to that n-th answer before closing
    capability_ok: str = ""
    starttls_ok: tuple[str, ...] = ()
    starttls_refused: tuple[str, ...] = ()
    logout: tuple[str, ...] = ()
    noop: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()
    continuation: str = "+ "
    answers: dict[tuple[str, Phase], Answer] = field(default_factory=dict, hash=False)
    hostile: Hostile = field(default_factory=Hostile)
    ntlm: Ntlm | None = None  # None: AUTH NTLM gets the "unknown" answer

    @property
    def starttls_command(self) -> str:
        return "STLS" if self.protocol == "pop3" else "STARTTLS"

    @property
    def starttls_advertised(self) -> bool:
        return self.starttls_command in self.capabilities_clear

    def answer(self, command: str, phase: Phase) -> Answer | None:
        return self.answers.get((command, phase))


def _lines(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ProfileError(f"{where}: expected a string or a list of strings")


def _answer(raw: Any, where: str) -> Answer:
    if not isinstance(raw, dict) or "lines" not in raw:
        raise ProfileError(f"{where}: expected a table with 'lines'")
    unknown = set(raw) - {"lines", "delay", "accept", "invalid_state", "continuation", "close"}
    if unknown:
        raise ProfileError(f"{where}: unknown keys {sorted(unknown)}")
    return Answer(
        lines=_lines(raw["lines"], f"{where}.lines"),
        delay=bool(raw.get("delay", False)),
        accept=bool(raw.get("accept", False)),
        invalid_state=bool(raw.get("invalid_state", False)),
        continuation=bool(raw.get("continuation", False)),
        close=bool(raw.get("close", False)),
    )


_NTLM_CANCELLED = {
    "imap": ("{tag} BAD AUTHENTICATE aborted.",),
    "pop3": ("-ERR Authentication aborted.",),
    "smtp": ("501 5.7.0 Authentication aborted",),
}


def _ntlm(raw: Any, protocol: str, name: str) -> Ntlm | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ProfileError(f"{name}: ntlm must be a table")
    values = dict(raw)
    values["cancelled"] = _lines(values.get("cancelled", list(_NTLM_CANCELLED[protocol])), f"{name}: ntlm.cancelled")
    try:
        ntlm = Ntlm(**values)
    except TypeError as exc:
        raise ProfileError(f"{name}: ntlm: {exc}") from None
    if ntlm.version and not re.fullmatch(r"\d{1,3}\.\d{1,3}\.\d{1,5}", ntlm.version):
        raise ProfileError(f"{name}: ntlm.version must be major.minor.build")
    try:
        bytes.fromhex(ntlm.challenge_hex)
    except ValueError:
        raise ProfileError(f"{name}: ntlm.challenge_hex is not hex") from None
    return ntlm


def parse_profile(data: dict[str, Any], name: str) -> Profile:
    """Build a Profile from parsed TOML; unknown or missing essentials raise ProfileError."""
    protocol = data.get("protocol")
    if protocol not in _DEFAULTS:
        raise ProfileError(f"{name}: protocol must be 'imap', 'pop3' or 'smtp'")
    mode = data.get("mode", "serve")
    if mode not in MODES:
        raise ProfileError(f"{name}: mode must be one of {MODES}")
    defaults = _DEFAULTS[protocol]
    caps = data.get("capabilities", {})
    answers: dict[tuple[str, Phase], Answer] = {}
    for command, phases in data.get("answer", {}).items():
        if not isinstance(phases, dict) or set(phases) - {"clear", "tls"}:
            raise ProfileError(f"{name}: answer.{command} must have only 'clear' and 'tls' tables")
        for phase, raw in phases.items():
            answers[(command.upper(), phase)] = _answer(raw, f"{name}: answer.{command}.{phase}")
    hostile_raw = data.get("hostile", {})
    try:
        hostile = Hostile(**hostile_raw)
    except TypeError as exc:
        raise ProfileError(f"{name}: hostile: {exc}") from None
    if hostile.stream_hex:
        try:
            bytes.fromhex(hostile.stream_hex)
        except ValueError:
            raise ProfileError(f"{name}: hostile.stream_hex is not hex") from None

    ntlm = _ntlm(data.get("ntlm"), protocol, name)

    def text(key: str) -> tuple[str, ...]:
        return _lines(data.get(key, defaults[key]), f"{name}: {key}")

    return Profile(
        name=str(data.get("name", name)),
        protocol=protocol,
        description=str(data.get("description", "")).strip(),
        greeting=_lines(data.get("greeting", []), f"{name}: greeting"),
        capabilities_clear=_lines(caps.get("clear", []), f"{name}: capabilities.clear"),
        capabilities_tls=_lines(caps.get("tls", []), f"{name}: capabilities.tls"),
        implicit_tls=bool(data.get("implicit_tls", False)),
        starttls_works=bool(data.get("starttls_works", True)),
        certificate=str(data.get("certificate", "ca-signed")),
        mode=mode,
        preauth=bool(data.get("preauth", False)),
        login_delay=float(data.get("login_delay", 0.0)),
        invalid_state_limit=int(data.get("invalid_state_limit", 0)),
        invalid_state_bye=str(data.get("invalid_state_bye", "")),
        capability_ok=str(data.get("capability_ok", defaults["capability_ok"])),
        starttls_ok=text("starttls_ok"),
        starttls_refused=text("starttls_refused"),
        logout=text("logout"),
        noop=text("noop"),
        unknown=text("unknown"),
        continuation=str(data.get("continuation", defaults["continuation"])),
        answers=answers,
        hostile=hostile,
        ntlm=ntlm,
    )


def load_profile(path: str | Path) -> Profile:
    """Load one profile file; its file stem is the default name."""
    path = Path(path)
    with path.open("rb") as fh:
        try:
            data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ProfileError(f"{path.name}: {exc}") from None
    return parse_profile(data, path.stem)


def bundled_profile_names() -> tuple[str, ...]:
    """Names of the profiles shipped with the package (used by ``mailprobe demo``)."""
    folder = resources.files("scanner.fakeserver.profiles")
    return tuple(sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml")))


def bundled_profile(name: str) -> Profile:
    """Load a profile shipped with the package by name, e.g. ``exchange-imap-securelogin``."""
    resource = resources.files("scanner.fakeserver.profiles").joinpath(f"{name}.toml")
    if not resource.is_file():
        raise ProfileError(f"no bundled profile named {name!r}; known: {', '.join(bundled_profile_names())}")
    return parse_profile(tomllib.loads(resource.read_text("utf-8")), name)
