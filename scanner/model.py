"""The result model: one frozen EndpointResult per endpoint travels from the probe to every consumer.

Serialisation is explicit (``to_dict``/``from_dict``) so that JSON Lines written by one version can be read back
by the diff, report, resume and TUI code without guessing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

Protocol = Literal["imap", "pop3", "smtp"]  # smtp: message submission (587 STARTTLS, 465 implicit TLS)
Transport = Literal["starttls", "implicit"]
State = Literal["open", "closed", "filtered", "error"]
# not_tested: a STARTTLS port whose probe stopped (time cap, failure) before STARTTLS was tried
StartTls = Literal["ok", "failed", "not_offered", "not_applicable", "not_tested"]
Verdict = Literal["refused", "accepted", "inconclusive", "not_tested", "not_applicable"]
Severity = Literal["critical", "high", "medium", "low", "info"]

SEVERITIES: tuple[Severity, ...] = ("critical", "high", "medium", "low", "info")
SEVERITY_RANK: dict[str, int] = {name: rank for rank, name in enumerate(reversed(SEVERITIES))}  # info=0 .. critical=4

DEFAULT_PORTS: dict[int, tuple[Protocol, Transport]] = {
    110: ("pop3", "starttls"),
    143: ("imap", "starttls"),
    993: ("imap", "implicit"),
    995: ("pop3", "implicit"),
}
# Every port whose protocol is known from its number: the defaults plus the client submission ports (RFC 8314).
STANDARD_PORTS: dict[int, tuple[Protocol, Transport]] = {
    **DEFAULT_PORTS,
    465: ("smtp", "implicit"),
    587: ("smtp", "starttls"),
}
# Named port lists for -p: "client" is everything a mail client talks to.
PORT_PRESETS: dict[str, str] = {"default": "110,143,993,995", "client": "110,143,465,587,993,995"}


@dataclass(frozen=True)
class Endpoint:
    """One thing to probe: an address and port, with the protocol and TLS mode to speak there."""

    host: str  # what the user typed (name or address)
    address: str  # the IP address connected to
    port: int
    protocol: Protocol
    transport: Transport
    name: str | None = None  # host name for SNI and certificate name checks
    ptr: str | None = None  # reverse DNS name of the address, when looked up (a fallback for name checks)
    srv_domain: str | None = None  # the mail domain whose SRV record named this host (RFC 6186 name checks)

    @property
    def key(self) -> tuple[str, int]:
        """Identity of an endpoint across scans (resume, diff, baseline)."""
        return (self.address, self.port)


@dataclass(frozen=True)
class Finding:
    id: str
    severity: Severity
    title: str
    detail: str
    remediation: str


@dataclass(frozen=True)
class PlaintextLogin:
    verdict: Verdict
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True)
class Capabilities:
    before_tls: tuple[str, ...] = ()
    after_tls: tuple[str, ...] = ()
    # What TLS changed (STARTTLS ports where both lists were read): capabilities in the server's spelling, SASL
    # mechanism lists split per mechanism ("AUTH LOGIN", "SASL PLAIN"); see scanner.verdicts.capability_changes.
    added_after_tls: tuple[str, ...] = ()
    removed_after_tls: tuple[str, ...] = ()


NTLM_NAME_FIELDS = ("target_name", "netbios_computer", "netbios_domain", "dns_computer", "dns_domain", "dns_tree")


@dataclass(frozen=True)
class NtlmInfo:
    """What the server's NTLM CHALLENGE gave away to a client that offered no credential, or why none was read.
    Every name is the server's text, as sent: untrusted (shown only through scanner.untrusted)."""

    over_tls: bool  # where the CHALLENGE was read: after TLS (True) or in clear before STARTTLS (False)
    target_name: str | None = None
    netbios_computer: str | None = None
    netbios_domain: str | None = None
    dns_computer: str | None = None
    dns_domain: str | None = None
    dns_tree: str | None = None
    product_version: str | None = None  # the Version field: "10.0.17763" (major.minor.build)
    server_time: str | None = None  # MsvAvTimestamp, ISO 8601 UTC
    error: str | None = None  # why no CHALLENGE was read (mechanism refused, not an NTLM message, ...)
    problems: tuple[str, ...] = ()  # parts of the CHALLENGE that could not be read; the rest stands

    @property
    def names(self) -> dict[str, str]:
        """The names given away, by field, in MS-NLMP order; empty ones left out."""
        return {name: value for name in NTLM_NAME_FIELDS if (value := getattr(self, name))}


class UtcTime(dt.datetime):
    """A UTC instant that prints as it is written to JSON: ISO 8601 with a Z ("2026-09-01T00:00:00Z")."""

    def __str__(self) -> str:
        return self.strftime("%Y-%m-%dT%H:%M:%SZ")

    @classmethod
    def of(cls, value: dt.datetime | str) -> UtcTime:
        """From a datetime (naive means UTC) or an ISO 8601 text ("2026-09-01T00:00:00Z", "2026-09-01")."""
        moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        moment = moment.astimezone(dt.UTC)
        return cls(*moment.timetuple()[:6], tzinfo=dt.UTC)


NameSource = Literal["expect-name", "target", "srv", "ptr", "address"]
NameResult = Literal["match", "mismatch", "not checked"]


@dataclass(frozen=True)
class NameCheck:
    """One reference name compared with the certificate, and where the name came from."""

    name: str
    source: NameSource  # --expect-name, the name scanned, an SRV record, the PTR of the address, the address
    result: NameResult
    note: str = ""  # why it was not checked, or what it means


@dataclass(frozen=True)
class CertificateInfo:
    """The leaf certificate as judged by scanner.tls.certificate. Facts are typed (dates, key, trust-error kind);
    ``key`` and ``trust_error`` are their words for people."""

    subject: str
    issuer: str
    sans: tuple[str, ...]
    not_before: UtcTime  # a str in ISO 8601 is accepted and converted
    not_after: UtcTime
    days_left: int
    sha256: str
    key: str  # e.g. "RSA 2048", "EC secp256r1": for people; rules read key_type and key_bits
    signature_algorithm: str
    chain_length: int
    trusted: bool
    trust_store: str  # the stores consulted; when trusted, the store(s) holding the anchor
    trust_error: str | None  # a sentence for an admin, never an OID
    self_signed: bool
    exchange_default: bool
    name_match: bool | None  # None: no name clients are known to use could be checked (see name_checks)
    names_checked: tuple[str, ...]
    chain: tuple[str, ...] = ()  # one line per presented certificate: "subject <- issuer"
    key_type: str = ""  # "RSA", "EC", "Ed25519", "Ed448", "DSA", or "unknown"
    key_bits: int | None = None  # RSA/DSA modulus, EC curve size
    trust_error_kind: str | None = None  # one of scanner.tls.verify's TRUST_* kinds
    profile_deviations: tuple[str, ...] = ()  # strict-profile breaches clients tolerate, in plain words
    unchecked: tuple[str, ...] = ()  # what could not be read or checked, and why
    name_checks: tuple[NameCheck, ...] = ()

    def __post_init__(self) -> None:
        for name in ("not_before", "not_after"):
            value = getattr(self, name)
            if not isinstance(value, UtcTime):
                object.__setattr__(self, name, UtcTime.of(value))
        if not self.key_type and self.key:  # a record written before key_type existed
            kind, _, size = self.key.partition(" ")
            object.__setattr__(self, "key_type", kind)
            digits = re.search(r"\d+", size)
            object.__setattr__(self, "key_bits", int(digits.group()) if digits else None)
        if self.trust_error and self.trust_error_kind is None and ": " in self.trust_error:  # older records
            object.__setattr__(self, "trust_error_kind", self.trust_error.split(": ", 1)[0])


@dataclass(frozen=True)
class VersionSuites:
    """The suites one protocol version accepts, in the order the server prefers them."""

    version: str
    suites: tuple[str, ...]  # IANA names; the server's order when server_order, else the order mailprobe offered
    server_order: bool | None = None  # True: the server picks by its own order; None: fewer than two suites


Coverage = Literal["all", "some", "none"]


RobotVerdict = Literal["not_applicable", "not_vulnerable", "vulnerable", "inconclusive"]
RobotOracle = Literal["strong", "weak"]


@dataclass(frozen=True)
class RobotReaction:
    """How the server reacted to one malformed (or well-formed) RSA premaster: one word per try, made by mailprobe
    from the protocol's structure ("alert:20", "closed", "reset", "timeout", "not_tls", "record:22"), never server
    text. ``answers`` holds the first round's reaction, and the second's when the round was repeated."""

    variant: str  # well-formed, wrong-first-bytes, zero-in-padding, no-separator, wrong-version
    answers: tuple[str, ...] = ()


@dataclass(frozen=True)
class RobotCheck:
    """The ROBOT check of one server (scanner.tls.robot_probe): Bleichenbacher's oracle on RSA key exchange."""

    verdict: RobotVerdict
    oracle: RobotOracle | None = None  # vulnerable only: as the ROBOT authors classify it
    version: str | None = None  # the version and RSA key-exchange suite the probe used
    suite: str | None = None
    reactions: tuple[RobotReaction, ...] = ()
    connections: int = 0  # what the check cost the server: 0 when not applicable, 5 or 10 otherwise
    note: str = ""  # why not applicable or inconclusive, in mailprobe's words


# not_applicable: no TLS 1.2-or-older version (TLS 1.3 has neither a heartbeat nor a ChangeCipherSpec that changes
# anything); not_tested: from a version of mailprobe before these checks, or not run
VulnerabilityVerdict = Literal["vulnerable", "not_vulnerable", "inconclusive", "not_applicable", "not_tested"]


@dataclass(frozen=True)
class VulnerabilityCheck:
    """One check of a server's TLS stack for a known bug (Heartbleed, CCS injection): scanner.tls.vulns."""

    verdict: VulnerabilityVerdict = "not_tested"
    evidence: str = ""  # what decided, in mailprobe's words: record types, lengths, alert codes (never server bytes)
    version: str | None = None  # the TLS version of the connection it ran on


@dataclass(frozen=True)
class TlsConfiguration:
    """A server's TLS configuration as enumerated by scanner.tls.enumerate (one per server, shared by its ports)."""

    versions: tuple[str, ...] = ()  # accepted, oldest first ("SSLv3" ... "TLSv1.3")
    suites: tuple[VersionSuites, ...] = ()  # per accepted version, newest first
    groups: tuple[str, ...] = ()  # key-exchange groups accepted (IANA names), in the server's order
    dh_bits: int | None = None  # the smallest finite-field DH prime the server sent (DHE suites), None: none seen
    dh_group: str | None = None  # that prime's standard group ("ffdhe2048", "modp4096", ...) or "custom"
    forward_secrecy: Coverage | None = None  # of the accepted suites, how many have an ephemeral key exchange
    aead: Coverage | None = None  # of the accepted suites, how many are AEAD (GCM, CCM, ChaCha20-Poly1305)
    compression: bool | None = None  # TLS compression (CRIME) accepted; None: no TLS 1.2-or-older version to ask
    secure_renegotiation: bool | None = None  # RFC 5746 renegotiation_info in the ServerHello
    extended_master_secret: bool | None = None  # RFC 7627
    fallback_scsv: bool | None = None  # RFC 7507 honoured; None: fewer than two versions, nothing to fall back to
    untested: tuple[str, ...] = ()  # "<what>: <reason>", what could not be asked or answered
    handshakes: int = 0  # ClientHellos sent (each on its own connection)
    duration_ms: int = 0
    enumerated_on: int | None = None  # the port of the same server that enumerated (None: this port)
    # "address:port" whose enumeration this server confirmed with hellos of its own (scanner.tls.confirm); then
    # handshakes and duration_ms are the confirmation's. None: enumerated in full here (or on enumerated_on)
    confirmed_from: str | None = None
    robot: RobotCheck | None = None  # None: not checked (older results, or the enumeration was off)
    # this server's own answers, on connections of its own enumeration or confirmation (never a known server's)
    heartbleed: VulnerabilityCheck = VulnerabilityCheck()
    ccs_injection: VulnerabilityCheck = VulnerabilityCheck()


@dataclass(frozen=True)
class Deviation:
    """One way a server departs from a Mozilla profile."""

    check: str  # the guideline's key: tls_versions, ciphers, ciphersuites, tls_curves, dh_param_size, ...
    detail: str


@dataclass(frozen=True)
class ProfileCompliance:
    compliant: bool | None  # None: nothing found against it, but the enumeration was incomplete
    deviations: tuple[Deviation, ...] = ()


@dataclass(frozen=True)
class MozillaCompliance:
    """The configuration judged against each profile of Mozilla's server-side TLS guidelines."""

    guidelines: str  # the version of the guidelines ("5.7")
    modern: ProfileCompliance
    intermediate: ProfileCompliance
    old: ProfileCompliance
    # one word: the strictest profile met ("modern", "intermediate", "old"), "none", or "unknown" (derived)
    summary: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "summary", self._summary())

    def _summary(self) -> str:
        verdicts = [(name, getattr(self, name).compliant) for name in ("modern", "intermediate", "old")]
        for name, compliant in verdicts:
            if compliant:
                return name  # the strictest profile met
        return "unknown" if any(compliant is None for _, compliant in verdicts) else "none"

    def profile(self, name: str) -> ProfileCompliance:
        found: ProfileCompliance = getattr(self, name)
        return found


@dataclass(frozen=True)
class TlsInfo:
    version: str | None
    cipher: str | None
    certificate: CertificateInfo | None = None
    legacy_versions_accepted: tuple[str, ...] = ()
    legacy_versions_untested: tuple[str, ...] = ()  # "TLSv1: local OpenSSL cannot offer it", ...
    # the port of the same server whose probe gave the two fields above (None: probed on this port); see
    # scanner.scan.legacy_share
    legacy_versions_probed_on: int | None = None
    configuration: TlsConfiguration | None = None  # None: not enumerated (--no-tls-enumeration)
    mozilla: MozillaCompliance | None = None


InjectionVariant = Literal["same-write", "separate-segment"]
# answered-in-tls: the injected command's answer came inside TLS before mailprobe sent anything there (vulnerable);
# answered-in-clear: it came before the handshake (pipelining in order, not injection); silent: no answer within the
# wait; broke-handshake: the TLS handshake after it failed (the server read the injected bytes as TLS, or closed);
# failed: the try could not get as far as the handshake (STARTTLS refused, connection lost)
InjectionOutcome = Literal["answered-in-tls", "answered-in-clear", "silent", "broke-handshake", "failed"]
InjectionVerdict = Literal["vulnerable", "not_vulnerable", "inconclusive", "not_tested"]


@dataclass(frozen=True)
class InjectionTry:
    """One STARTTLS command-injection try: the command appended to STARTTLS (``sent``), how it was sent, what came
    back. ``evidence``: the server's lines that answered it (untrusted text); ``other``: anything else it sent."""

    variant: InjectionVariant
    sent: str
    outcome: InjectionOutcome
    evidence: tuple[str, ...] = ()
    other: tuple[str, ...] = ()
    waited_ms: int = 0  # how long mailprobe listened inside TLS before giving up (0: the answer came, or no TLS)
    note: str = ""  # why the try failed, in mailprobe's words


@dataclass(frozen=True)
class StartTlsInjection:
    """The STARTTLS command-injection test of one STARTTLS port (see docs/findings.md)."""

    verdict: InjectionVerdict
    tries: tuple[InjectionTry, ...] = ()
    note: str = ""  # why it was not tested


@dataclass(frozen=True)
class TranscriptLine:
    """One line of the conversation. direction: C client, S server, * a note by mailprobe (e.g. TLS started)."""

    direction: Literal["C", "S", "*"]
    text: str
    tls: bool
    t_ms: int  # milliseconds since the endpoint's probe started


@dataclass(frozen=True)
class EndpointResult:
    host: str
    address: str
    name: str | None
    port: int
    protocol: Protocol
    transport: Transport
    state: State
    error: str | None = None
    greeting: str | None = None
    software: str | None = None
    capabilities: Capabilities = field(default_factory=Capabilities)
    starttls: StartTls = "not_applicable"
    plaintext_login: PlaintextLogin = field(default_factory=lambda: PlaintextLogin("not_tested"))
    tls: TlsInfo | None = None
    transcript: tuple[TranscriptLine, ...] = ()
    findings: tuple[Finding, ...] = ()
    duration_ms: int = 0
    ptr: str | None = None  # reverse DNS name of the address, when looked up
    ntlm: NtlmInfo | None = None  # where NTLM is offered: what its CHALLENGE gave away
    srv_domain: str | None = None  # the mail domain whose SRV record named this host (RFC 6186 name checks)
    starttls_injection: StartTlsInjection | None = None  # STARTTLS ports only; None when not run (implicit TLS)

    @classmethod
    def without_conversation(cls, endpoint: Endpoint, state: State, error: str | None = None) -> EndpointResult:
        """The row of an endpoint nothing was said with: its name did not resolve, its port was closed or silent, or
        the probe failed before it could report. Every such row is built here."""
        return cls(
            host=endpoint.host,
            address=endpoint.address,
            name=endpoint.name,
            port=endpoint.port,
            protocol=endpoint.protocol,
            transport=endpoint.transport,
            state=state,
            error=error,
            ptr=endpoint.ptr,
            srv_domain=endpoint.srv_domain,
        )

    @property
    def key(self) -> tuple[str, int]:
        return (self.address, self.port)

    @property
    def endpoint(self) -> Endpoint:
        """The endpoint this row is of, with every name it was judged by: what a re-probe probes again."""
        return Endpoint(
            self.host, self.address, self.port, self.protocol, self.transport, self.name, self.ptr, self.srv_domain
        )

    @property
    def worst_severity(self) -> Severity | None:
        if not self.findings:
            return None
        return max((f.severity for f in self.findings), key=SEVERITY_RANK.__getitem__)

    def to_dict(self) -> dict[str, Any]:
        plain: dict[str, Any] = _plain(self)
        return plain

    def to_json(self) -> str:
        return self._json

    @functools.cached_property
    def _json(self) -> str:
        # Cached: a result is written to the output file and often to stdout too. Not a field, so equality,
        # hashing and dataclasses.replace() ignore it; from_json(own=True) primes it.
        return dumps(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EndpointResult:
        caps = data.get("capabilities") or {}
        login = data.get("plaintext_login") or {}
        tls = data.get("tls")
        ntlm = data.get("ntlm")
        return cls(
            host=data["host"],
            address=data["address"],
            name=data.get("name"),
            port=int(data["port"]),
            protocol=data["protocol"],
            transport=data["transport"],
            state=data["state"],
            error=data.get("error"),
            greeting=data.get("greeting"),
            software=data.get("software"),
            capabilities=Capabilities(
                tuple(caps.get("before_tls", ())),
                tuple(caps.get("after_tls", ())),
                tuple(caps.get("added_after_tls", ())),
                tuple(caps.get("removed_after_tls", ())),
            ),
            starttls=data.get("starttls", "not_applicable"),
            plaintext_login=PlaintextLogin(login.get("verdict", "not_tested"), tuple(login.get("evidence", ()))),
            tls=_tls_from_dict(tls) if tls else None,
            transcript=tuple(TranscriptLine(**line) for line in data.get("transcript", ())),
            findings=tuple(
                _finding(f["id"], f["severity"], f["title"], f["detail"], f["remediation"])
                for f in data.get("findings", ())
            ),
            duration_ms=int(data.get("duration_ms", 0)),
            ptr=data.get("ptr"),
            ntlm=_ntlm_from_dict(ntlm) if ntlm else None,
            srv_domain=data.get("srv_domain"),
            starttls_injection=_injection_from_dict(injection)
            if (injection := data.get("starttls_injection"))
            else None,
        )

    @classmethod
    def from_json(cls, line: str, *, own: bool = False) -> EndpointResult:
        """``own``: the line is this program's own to_json() output (a worker's pipe), kept as the serialised
        form instead of being rebuilt. Lines from files are always rebuilt, so what is written is normalised."""
        result = cls.from_dict(loads(line))
        if own:
            result.__dict__["_json"] = line.rstrip("\n")
        return result


def _ntlm_from_dict(data: dict[str, Any]) -> NtlmInfo:
    known = {f.name for f in dataclasses.fields(NtlmInfo)}
    values = {k: v for k, v in data.items() if k in known}
    values["problems"] = tuple(values.get("problems", ()))
    values["over_tls"] = bool(values.get("over_tls", False))
    return NtlmInfo(**values)


def _tls_from_dict(data: dict[str, Any]) -> TlsInfo:
    cert = data.get("certificate")
    certificate = _certificate_from_json(_record_key(cert)) if cert else None
    return TlsInfo(
        version=data.get("version"),
        cipher=data.get("cipher"),
        certificate=certificate,
        legacy_versions_accepted=tuple(data.get("legacy_versions_accepted", ())),
        legacy_versions_untested=tuple(data.get("legacy_versions_untested", ())),
        legacy_versions_probed_on=data.get("legacy_versions_probed_on"),
        configuration=configuration_from_dict(data["configuration"]) if data.get("configuration") else None,
        mozilla=_mozilla_from_dict(data["mozilla"]) if data.get("mozilla") else None,
    )


def configuration_to_dict(configuration: TlsConfiguration) -> dict[str, Any]:
    """As a result's JSON holds it (``tls.configuration``); ``configuration_from_dict`` reads it back."""
    plain: dict[str, Any] = _plain(configuration)
    return plain


def configuration_from_dict(data: dict[str, Any]) -> TlsConfiguration:
    return TlsConfiguration(
        versions=tuple(data.get("versions", ())),
        suites=tuple(
            VersionSuites(s["version"], tuple(s.get("suites", ())), s.get("server_order"))
            for s in data.get("suites", ())
        ),
        groups=tuple(data.get("groups", ())),
        dh_bits=data.get("dh_bits"),
        dh_group=data.get("dh_group"),
        forward_secrecy=data.get("forward_secrecy"),
        aead=data.get("aead"),
        compression=data.get("compression"),
        secure_renegotiation=data.get("secure_renegotiation"),
        extended_master_secret=data.get("extended_master_secret"),
        fallback_scsv=data.get("fallback_scsv"),
        untested=tuple(data.get("untested", ())),
        handshakes=int(data.get("handshakes", 0)),
        duration_ms=int(data.get("duration_ms", 0)),
        enumerated_on=data.get("enumerated_on"),
        confirmed_from=data.get("confirmed_from"),
        robot=_robot_from_dict(data["robot"]) if data.get("robot") else None,
        heartbleed=_check_from_dict(data.get("heartbleed")),
        ccs_injection=_check_from_dict(data.get("ccs_injection")),
    )


def _robot_from_dict(data: dict[str, Any]) -> RobotCheck:
    return RobotCheck(
        verdict=data.get("verdict", "inconclusive"),
        oracle=data.get("oracle"),
        version=data.get("version"),
        suite=data.get("suite"),
        reactions=tuple(RobotReaction(r["variant"], tuple(r.get("answers", ()))) for r in data.get("reactions", ())),
        connections=int(data.get("connections", 0)),
        note=data.get("note", ""),
    )


def _check_from_dict(data: dict[str, Any] | None) -> VulnerabilityCheck:
    if not data:
        return VulnerabilityCheck()  # a result file written before these checks
    return VulnerabilityCheck(data.get("verdict", "not_tested"), str(data.get("evidence", "")), data.get("version"))


def _mozilla_from_dict(data: dict[str, Any]) -> MozillaCompliance:
    def profile(name: str) -> ProfileCompliance:
        entry = data.get(name) or {}
        deviations = tuple(Deviation(d["check"], d["detail"]) for d in entry.get("deviations", ()))
        return ProfileCompliance(entry.get("compliant"), deviations)

    return MozillaCompliance(
        str(data.get("guidelines", "")), profile("modern"), profile("intermediate"), profile("old")
    )


def _injection_from_dict(data: dict[str, Any]) -> StartTlsInjection:
    return StartTlsInjection(
        verdict=data.get("verdict", "not_tested"),
        tries=tuple(
            InjectionTry(
                variant=t["variant"],
                sent=t.get("sent", ""),
                outcome=t["outcome"],
                evidence=tuple(t.get("evidence", ())),
                other=tuple(t.get("other", ())),
                waited_ms=int(t.get("waited_ms", 0)),
                note=t.get("note", ""),
            )
            for t in data.get("tries", ())
        ),
        note=data.get("note", ""),
    )


def dumps(value: Any) -> str:
    """``value`` (a result, a dataclass tree) as one line of compact JSON, non-ASCII kept: orjson (a tenth of the
    standard library's time, which a /16's hundreds of thousands of rows notice), with the standard library as the
    fallback for what orjson refuses (integers past 64 bits, lone surrogates). Both give the same text."""
    try:
        return orjson.dumps(value, default=_datetime_text, option=orjson.OPT_PASSTHROUGH_DATETIME).decode()
    except (TypeError, orjson.JSONEncodeError):
        return plain_dumps(value)


def plain_dumps(value: Any) -> str:
    """The standard library's serialisation of ``value`` (what ``dumps`` falls back to)."""
    return json.dumps(_plain(value), ensure_ascii=False, separators=(",", ":"))


def loads(line: str | bytes) -> Any:
    """One JSON line; orjson first, the standard library for what it refuses (escaped lone surrogates)."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line)


def _datetime_text(value: object) -> str:
    if isinstance(value, dt.datetime):
        return str(value)  # UtcTime: ISO 8601 with Z
    raise TypeError(f"{type(value).__name__} is not serialisable")


_LEAVES = frozenset({str, int, float, bool, type(None)})


def _record_key(record: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(record)
    except TypeError:  # orjson.JSONEncodeError: an integer past 64 bits, say, in an edited file
        return json.dumps(record).encode()


@functools.lru_cache(maxsize=1024)
def _certificate_from_json(text: bytes) -> CertificateInfo:
    """One CertificateInfo per distinct certificate record: the rows of a range behind one certificate share it
    (frozen, so sharing is safe), instead of each holding its own few kilobytes of the same facts."""
    values = dict(loads(text))
    for name in ("sans", "names_checked", "chain", "profile_deviations", "unchecked"):
        values[name] = tuple(values.get(name, ()))
    values["name_checks"] = tuple(NameCheck(**check) for check in values.get("name_checks", ()))
    known = {f.name for f in dataclasses.fields(CertificateInfo)}
    return CertificateInfo(**{k: v for k, v in values.items() if k in known})


@functools.lru_cache(maxsize=4096)
def _finding(id_: str, severity: Severity, title: str, detail: str, remediation: str) -> Finding:
    """One Finding per distinct finding: most rows of a range repeat the same few, texts included."""
    return Finding(id_, severity, title, detail, remediation)


def _plain(value: Any) -> Any:
    """Dataclasses to dicts, tuples to lists; recursive (dataclasses.asdict keeps tuples). Written for speed: a
    scan serialises every result, and a /16 has hundreds of thousands of them, so leaves (most fields) are told
    apart by their exact type before any call."""
    kind: type = type(value)
    if kind in _LEAVES:
        return value
    if kind is tuple or kind is list:
        return [v if type(v) in _LEAVES else _plain(v) for v in value]
    names = _field_names(kind)
    if names is not None:
        return {name: v if type(v := getattr(value, name)) in _LEAVES else _plain(v) for name in names}
    if isinstance(value, dt.datetime):
        return str(value)  # UtcTime: ISO 8601 with Z
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value  # str and int subclasses (literals, enums) are leaves too


@functools.cache
def _field_names(kind: type) -> tuple[str, ...] | None:
    if not dataclasses.is_dataclass(kind):
        return None
    return tuple(f.name for f in dataclasses.fields(kind))


@dataclass(frozen=True)
class ScanInfo:
    """What one scan was: the first line of its block in a results file (see scanner.results_file)."""

    scan_id: str
    started: str  # ISO 8601, UTC
    targets: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    tool: str = ""  # "mailprobe 0.x"
    resumed: bool = False  # a --resume run that continues scan_id

    def to_dict(self) -> dict[str, Any]:
        return {
            "record": "scan",
            "scan_id": self.scan_id,
            "started": self.started,
            "targets": list(self.targets),
            "options": dict(self.options),
            "tool": self.tool,
            "resumed": self.resumed,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScanInfo:
        return cls(
            scan_id=str(data["scan_id"]),
            started=str(data.get("started", "")),
            targets=tuple(str(t) for t in data.get("targets", ())),
            options=dict(data.get("options") or {}),
            tool=str(data.get("tool", "")),
            resumed=bool(data.get("resumed", False)),
        )
