"""Fold login events into one row per client address (or per user), in memory proportional to the clients."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from scanner.logs.addresses import address_labels
from scanner.logs.model import Evidence, Kind, LoginEvent, Summary

MAX_NAMES = 200  # user names (or addresses) kept per row; more are counted
# Evidence kept per row and kind: the lines that decided, worst kinds first.
EVIDENCE_PER_KIND = 2
EVIDENCE_ORDER = (Kind.INSECURE, Kind.REFUSED, Kind.INSECURE_FAILED, Kind.UNVERIFIED, Kind.SECURE)
# mailprobe's own dummy users (scanner.probe.dialects.DummyCredentials), as logged, with or without a realm.
PROBE_USER = re.compile(r"mailprobe-[0-9a-f]{12}(?:@[^\s@]*)?")
PROBE_LABEL = "mailprobe-probe"
# A probe's refused or failed dummy login is mailprobe testing the server, not a client to fix. An accepted one
# is not excused: a random password that logs in is a finding in itself.
PROBE_KINDS = frozenset({Kind.REFUSED, Kind.INSECURE_FAILED})


def is_probe_user(user: str) -> bool:
    return PROBE_USER.fullmatch(user) is not None


@dataclass
class _Acc:
    counts: dict[Kind, int] = field(default_factory=lambda: dict.fromkeys(Kind, 0))
    names: dict[str, None] = field(default_factory=dict)
    extra_names: int = 0
    insecure_names: dict[str, None] = field(default_factory=dict)
    protocols: set[str] = field(default_factory=set)
    first: str = ""
    last: str = ""
    evidence: dict[Kind, list[Evidence]] = field(default_factory=dict)
    notes: dict[str, None] = field(default_factory=dict)
    own_address: bool = False
    probe_attempts: int = 0  # refused/failed logins of mailprobe's own dummy users: not counted above

    def add(self, event: LoginEvent, other: str) -> None:
        kind = event.kind
        if not event.counted:  # only the user name of an attempt already counted
            if other and other not in self.names and len(self.names) < MAX_NAMES:
                self.names[other] = None
            return
        if kind in PROBE_KINDS and is_probe_user(event.user):
            self.probe_attempts += 1
            if other and other not in self.names and len(self.names) < MAX_NAMES:
                self.names[other] = None
            return
        self.counts[kind] += 1
        if other:
            if other in self.names:
                pass
            elif len(self.names) < MAX_NAMES:
                self.names[other] = None
            else:
                self.extra_names += 1
            if kind in (Kind.INSECURE, Kind.INSECURE_FAILED) and len(self.insecure_names) < MAX_NAMES:
                self.insecure_names[other] = None
        self.protocols.add(event.protocol)
        stamp = event.timestamp
        if stamp:
            if not self.first or stamp < self.first:
                self.first = stamp
            if stamp > self.last:
                self.last = stamp
        kept = self.evidence.setdefault(kind, [])
        if len(kept) < EVIDENCE_PER_KIND:
            kept.append(Evidence(kind.value, event.source, event.line, event.note))
        if event.note and kind is Kind.UNVERIFIED and len(self.notes) < 4:
            self.notes[event.note] = None
        if event.local_address and event.local_address == event.address:
            self.own_address = True


class Aggregator:
    """``add(event)`` for each event; ``rows()`` at the end. ``by`` is "address" or "user"."""

    def __init__(self, by: str = "address") -> None:
        if by not in ("address", "user"):
            raise ValueError(by)
        self.by = by
        self._rows: dict[str, _Acc] = {}
        self.events = 0

    def add(self, event: LoginEvent) -> None:
        self.events += 1
        if self.by == "address":
            key, other = event.address, event.user
        else:
            if not event.counted and event.user not in self._rows:
                return  # by user, the uncounted line cannot move an attempt to another row
            key, other = event.user or "(no user name logged)", event.address
        acc = self._rows.get(key)
        if acc is None:
            acc = self._rows[key] = _Acc()
        acc.add(event, other)

    def rows(self) -> list[Summary]:
        out = [self._summary(key, acc) for key, acc in self._rows.items()]
        out.sort(key=sort_key)
        return out

    def _summary(self, key: str, acc: _Acc) -> Summary:
        labels: tuple[str, ...] = ()
        notes = list(acc.notes)
        if self.by == "address":
            labels = address_labels(key)
            if acc.own_address:
                labels += ("server-own-address",)
        if acc.probe_attempts:
            labels += (PROBE_LABEL,)
            notes.append(f"{acc.probe_attempts} refused or failed logins by mailprobe's own dummy users (its scans): "
                         "not counted as clients to fix")  # fmt: skip
        names = list(acc.names)
        if acc.extra_names:
            names.append(f"(+{acc.extra_names} more)")
        evidence = tuple(e for kind in EVIDENCE_ORDER for e in acc.evidence.get(kind, ()))
        c = acc.counts
        return Summary(
            key=key,
            labels=labels,
            insecure_logins=c[Kind.INSECURE],
            insecure_failed_logins=c[Kind.INSECURE_FAILED],
            refused_attempts=c[Kind.REFUSED],
            secure_logins=c[Kind.SECURE],
            unverified_logins=c[Kind.UNVERIFIED],
            users=tuple(sorted(names)),
            insecure_users=tuple(sorted(acc.insecure_names)),
            protocols=tuple(sorted(acc.protocols)),
            first_seen=acc.first,
            last_seen=acc.last,
            evidence=evidence,
            notes=tuple(dict.fromkeys(notes)),
            probe_attempts=acc.probe_attempts,
        )


def sort_key(row: Summary) -> tuple:
    """Clients to fix first: most insecure logins, then refused (already broken), then failed cleartext attempts."""
    return (
        -row.insecure_logins,
        -row.refused_attempts,
        -row.insecure_failed_logins,
        -row.unverified_logins,
        -row.secure_logins,
        row.key,
    )
