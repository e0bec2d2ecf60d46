"""Pure formatting of results for the TUI: one result -> the words in its row, sort keys, filters, changes.

No Textual here: every function takes model objects and returns strings or tuples, so it is tested directly.
Text from servers (host and PTR names, software, error texts) goes through scanner.untrusted.for_terminal.
Every cell starts with a word or a symbol that means the same without colour; the style is only a second channel.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from scanner.model import SEVERITY_RANK, EndpointResult, TranscriptLine
from scanner.tally import SILENT_STATES, VERDICT_ORDER, verdict_for_terminal, verdict_order
from scanner.untrusted import for_terminal


@dataclass(frozen=True)
class Cell:
    text: str
    style: str = ""  # a Rich style name; "" leaves the table's default


@dataclass(frozen=True)
class Column:
    key: str
    label: str


COLUMNS: tuple[Column, ...] = (
    Column("host", "Host"),
    Column("name", "Name"),
    Column("port", "Port"),
    Column("protocol", "Proto"),
    Column("transport", "Mode"),
    Column("software", "Software"),
    Column("plaintext", "Plaintext login"),
    Column("starttls", "STARTTLS"),
    Column("certificate", "Certificate"),
    Column("tls", "TLS"),
    Column("severity", "Worst"),
)
COLUMN_KEYS: tuple[str, ...] = tuple(c.key for c in COLUMNS)

GOOD, BAD, WARN, DIM = "green", "bold red", "yellow", "dim"

# The verdicts' words are scanner.tally's; the TUI adds colour only.
VERDICT_STYLES: dict[str, str] = {"accepted": BAD, "refused": GOOD, "inconclusive": WARN}
# Verdicts in the order a filter key cycles through them (None = all), worst first.
VERDICT_FILTERS: tuple[str | None, ...] = (None, *VERDICT_ORDER)

STARTTLS_CELLS: dict[str, Cell] = {
    "ok": Cell("✓ ok", GOOD),
    "failed": Cell("✗ failed", BAD),
    "not_offered": Cell("✗ not offered", BAD),
    "not_applicable": Cell("- n/a", DIM),
    "not_tested": Cell("? not tested", WARN),
}

SEVERITY_CELLS: dict[str, Cell] = {
    "critical": Cell("‼ critical", "bold white on red"),
    "high": Cell("✗ high", BAD),
    "medium": Cell("! medium", WARN),
    "low": Cell("· low", ""),
    "info": Cell("i info", DIM),
}
NO_FINDING = Cell("✓ none", GOOD)
# Minimum severities a filter key cycles through (None = all).
SEVERITY_FILTERS: tuple[str | None, ...] = (None, "critical", "high", "medium", "low", "info")


def is_listed(result: EndpointResult, show_silent: bool) -> bool:
    return show_silent or result.state not in SILENT_STATES


def host_cell(r: EndpointResult) -> Cell:
    text = r.host if r.host == r.address else f"{r.host} ({r.address})"
    return Cell(for_terminal(text))


def name_cell(r: EndpointResult) -> Cell:
    return Cell(for_terminal(r.name or r.ptr) or "-", "" if (r.name or r.ptr) else DIM)


def software_cell(r: EndpointResult) -> Cell:
    if r.state == "closed":
        return Cell("- closed", DIM)
    if r.state == "filtered":
        return Cell("- silent", DIM)
    if r.state == "error" and not r.software:
        return Cell(f"✗ error: {for_terminal(r.error) or 'unknown'}", WARN)
    return Cell(for_terminal(r.software) or "? unknown", "" if r.software else DIM)


def plaintext_cell(r: EndpointResult) -> Cell:
    verdict = r.plaintext_login.verdict
    return Cell(verdict_for_terminal(verdict), VERDICT_STYLES.get(verdict, DIM if verdict in VERDICT_ORDER else WARN))


def starttls_cell(r: EndpointResult) -> Cell:
    if r.transport == "implicit":
        return Cell("- implicit", DIM)
    return STARTTLS_CELLS.get(r.starttls, Cell(f"? {for_terminal(r.starttls)}", WARN))


def certificate_problems(r: EndpointResult) -> list[str]:
    """Short words for what is wrong with the leaf certificate, worst first; [] when all is well."""
    cert = r.tls.certificate if r.tls else None
    if cert is None:
        return []
    problems: list[str] = []
    if cert.days_left < 0:
        problems.append(f"expired {-cert.days_left}d ago")
    if cert.exchange_default:
        problems.append("Exchange default")
    elif cert.self_signed:
        problems.append("self-signed")
    elif not cert.trusted:
        problems.append("untrusted")
    if cert.name_match is False:
        problems.append("wrong name")
    return problems


def certificate_cell(r: EndpointResult, warn_days: int = 30) -> Cell:
    cert = r.tls.certificate if r.tls else None
    if cert is None:
        return Cell("- none", DIM)
    problems = certificate_problems(r)
    if problems:
        return Cell("✗ " + ", ".join(problems), BAD)
    if cert.days_left <= warn_days:
        return Cell(f"! trusted, {cert.days_left}d left", WARN)
    name = "" if cert.name_match else ", name unchecked"
    return Cell(f"✓ trusted{name}, {cert.days_left}d", GOOD)


def tls_cell(r: EndpointResult) -> Cell:
    if r.tls is None or r.tls.version is None:
        return Cell("- none", DIM)
    legacy = [v.replace("TLSv", "") for v in r.tls.legacy_versions_accepted]
    profile = f" ({r.tls.mozilla.summary})" if r.tls.mozilla else ""
    if legacy:
        return Cell(f"! {r.tls.version} +{','.join(legacy)}{profile}", WARN)
    if r.tls.mozilla and r.tls.mozilla.summary in ("none", "unknown"):
        return Cell(f"{for_terminal(r.tls.version)}{profile}", WARN)
    return Cell(for_terminal(r.tls.version) + profile, "")


def severity_cell(r: EndpointResult) -> Cell:
    worst = r.worst_severity
    return SEVERITY_CELLS[worst] if worst else NO_FINDING


CELL_FUNCS: dict[str, Callable[[EndpointResult], Cell]] = {
    "host": host_cell,
    "name": name_cell,
    "port": lambda r: Cell(str(r.port)),
    "protocol": lambda r: Cell(r.protocol.upper()),
    "transport": lambda r: Cell(r.transport),
    "software": software_cell,
    "plaintext": plaintext_cell,
    "starttls": starttls_cell,
    "certificate": certificate_cell,
    "tls": tls_cell,
    "severity": severity_cell,
}


def row_cells(r: EndpointResult) -> tuple[Cell, ...]:
    return tuple(CELL_FUNCS[key](r) for key in COLUMN_KEYS)


def plain_row(r: EndpointResult) -> tuple[str, ...]:
    return tuple(c.text for c in row_cells(r))


def _address_key(address: str) -> tuple[int, int, str]:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return (2, 0, address)
    return (ip.version, int(ip), "")


SORT_KEYS: dict[str, Callable[[EndpointResult], object]] = {
    "host": lambda r: (_address_key(r.host.lower()), _address_key(r.address), r.port),
    "name": lambda r: ((r.name or r.ptr or "~").lower(), _address_key(r.address), r.port),
    "port": lambda r: (r.port, _address_key(r.address)),
    "protocol": lambda r: (r.protocol, r.transport, _address_key(r.address), r.port),
    "transport": lambda r: (r.transport, _address_key(r.address), r.port),
    "software": lambda r: ((r.software or "~").lower(), _address_key(r.address), r.port),
    "plaintext": lambda r: (verdict_order(r.plaintext_login.verdict), _address_key(r.address), r.port),
    "starttls": lambda r: (starttls_cell(r).text, _address_key(r.address), r.port),
    "certificate": lambda r: (-len(certificate_problems(r)), certificate_cell(r).text, _address_key(r.address)),
    "tls": lambda r: ((r.tls.version or "~") if r.tls else "~", _address_key(r.address), r.port),
    # Worst first: higher rank sorts earlier.
    "severity": lambda r: (-SEVERITY_RANK.get(r.worst_severity or "", -1), _address_key(r.address), r.port),
}


@dataclass(frozen=True)
class ViewFilter:
    text: str = ""
    verdict: str | None = None
    min_severity: str | None = None
    show_silent: bool = False

    def describe(self) -> str:
        parts = []
        if self.text:
            parts.append(f'text "{self.text}"')
        if self.verdict:
            parts.append(f"verdict {self.verdict}")
        if self.min_severity:
            parts.append(f"severity >= {self.min_severity}")
        if self.show_silent:
            parts.append("silent/closed shown")
        return ", ".join(parts) or "none"


def search_text(r: EndpointResult, cells: Iterable[Cell] | None = None) -> str:
    """Everything a text filter looks at, lower case (pass the row's cells when already made)."""
    words = [c.text for c in (cells if cells is not None else row_cells(r))]
    ids = " ".join(f.id for f in r.findings)
    return " ".join((*words, r.address, r.state, ids, r.error or "")).lower()


def matches(r: EndpointResult, view: ViewFilter, haystack: str | None = None) -> bool:
    if not is_listed(r, view.show_silent):
        return False
    if view.verdict and r.plaintext_login.verdict != view.verdict:
        return False
    if view.min_severity:
        worst = r.worst_severity
        if worst is None or SEVERITY_RANK[worst] < SEVERITY_RANK[view.min_severity]:
            return False
    if view.text:
        haystack = haystack if haystack is not None else search_text(r)
        return all(word in haystack for word in view.text.lower().split())
    return True


def next_in(cycle: tuple[str | None, ...], current: str | None) -> str | None:
    return cycle[(cycle.index(current) + 1) % len(cycle)] if current in cycle else cycle[0]


def changes(old: EndpointResult, new: EndpointResult) -> list[str]:
    """What a re-probe changed, one line each, e.g. "plaintext login: accepted -> refused"."""
    out: list[str] = []

    def compare(label: str, before: str, after: str) -> None:
        if before != after:
            out.append(f"{label}: {before} -> {after}")

    compare("state", old.state, new.state)
    compare("plaintext login", old.plaintext_login.verdict, new.plaintext_login.verdict)
    compare("STARTTLS", old.starttls, new.starttls)
    compare("software", old.software or "unknown", new.software or "unknown")
    compare("certificate", certificate_cell(old).text[2:], certificate_cell(new).text[2:])
    compare("TLS", tls_cell(old).text, tls_cell(new).text)
    compare("worst severity", old.worst_severity or "none", new.worst_severity or "none")
    old_ids = {f.id for f in old.findings}
    new_ids = {f.id for f in new.findings}
    out.extend(f"finding gone: {i}" for i in sorted(old_ids - new_ids))
    out.extend(f"new finding: {i}" for i in sorted(new_ids - old_ids))
    return out


_IMAP_LOGIN = re.compile(r"^(\S+\s+LOGIN\s+(?:\"[^\"]*\"|\S+)\s+).+$", re.IGNORECASE)
_POP_PASS = re.compile(r"^(PASS\s+).+$", re.IGNORECASE)
_AUTH_PLAIN_IR = re.compile(r"^((?:\S+\s+)?(?:AUTHENTICATE|AUTH)\s+PLAIN\s+)\S+$", re.IGNORECASE)
_BASE64_ONLY = re.compile(r"^[A-Za-z0-9+/]{8,}={0,2}$")
MASK = "********"


def mask_line(line: TranscriptLine) -> str:
    """The line's text with any password (or SASL blob carrying one) replaced by asterisks."""
    if line.direction != "C":
        return line.text
    text = line.text
    for pattern in (_IMAP_LOGIN, _POP_PASS, _AUTH_PLAIN_IR):
        m = pattern.match(text)
        if m:
            return m.group(1) + MASK
    if _BASE64_ONLY.match(text.strip()):
        return MASK
    return text


def format_transcript(lines: Iterable[TranscriptLine], server_words: Callable[[str], str] = for_terminal) -> list[str]:
    """One line per transcript line; what the server said goes through ``server_words`` (escaped, or quoted)."""
    out = []
    for line in lines:
        arrow = {"C": "C:", "S": "S:", "*": "**"}[line.direction]
        lock = "tls" if line.tls else "   "
        said = server_words(line.text) if line.direction == "S" else for_terminal(mask_line(line))
        out.append(f"{line.t_ms:>6}ms {lock} {arrow} {said}")
    return out


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"
