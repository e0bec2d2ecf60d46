"""Confirm that a server has a TLS configuration already enumerated on another server, with a few hellos.

A range often holds many servers with one TLS stack: a pool behind one certificate. Enumerating each in full costs
dozens of handshakes per server, most of them full handshakes the server must sign (scanner.tls.enumerate). When a
server presents the same certificate chain and negotiates the same version and suite as one already enumerated in
this scan, it is asked instead whether it has that configuration:

- every version the known configuration refuses is refused here (older ones together: a server answers a hello's
  highest version with the highest it has, so one refused hello covers all versions below it);
- in every version it accepts, no suite outside the known ones is accepted, nor any group outside the known ones
  (over TLS 1.3, and over TLS 1.2 for the curves TLS 1.3 dropped);
- offered the known suites with another one first, the server picks the suite its preference says (its own first
  when it imposes its order, our first when it follows ours), with the same extensions (RFC 5746, RFC 7627,
  compression);
- the finite-field DH prime is the same size and standard group (or a prime of its own), and TLS_FALLBACK_SCSV
  gets the same answer;
- what made the known configuration miss a profile (``must_accept``: suites or groups outside it) is accepted here
  too, so that a server that no longer has it is not judged as the known one.

What one hello shows is not asked again. To a server that, like the known one, follows the client's order (Dovecot's
default), each version's order hello puts the suites outside the known ones first (it takes one if it has any),
then a suite that also shows the DH prime (finite-field DHE) and one it must accept; over TLS 1.3 it offers only
the groups it must accept. A server that imposes its order instead picks its own first, which is not the one we
put first: caught too. So a pool of Dovecots (Debian's 4096-bit prime) costs six hellos per server and one DHE
handshake, where asking each question alone took eleven and three. A known server that imposes its order is asked
the outside suites in a hello of their own: its choice would not show them.

Refused hellos cost the server little more than the ClientHello's parsing, and TLS 1.3's are answered with a
HelloRetryRequest before any key exchange, so a confirmation costs a few full handshakes instead of dozens. What it
cannot see: a known suite or group that every profile allows and this server lacks, or another order after the
first suite. So a confirmed configuration may list more than the server accepts, never less, and its judgement is
the one a full enumeration would give. Any difference, or a server that stops answering, sends the caller back to a
full enumeration.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

from scanner.model import TlsConfiguration
from scanner.tls.enumerate import (
    VERSIONS_NEWEST_FIRST,
    EnumerationLimits,
    EnumerationStopped,
    HelloAsker,
    Opener,
    chacha20,
    checks_found,
    finish_checks,
    order_probe,
)
from scanner.tls.hello import ServerAnswer
from scanner.tls.suites import (
    GROUP_BY_NAME,
    GROUPS,
    LEGACY_SUITES,
    SUITE_CODES,
    SUITE_NAMES,
    TLS12_EC_GROUPS,
    TLS13_SUITES,
    Group,
    ephemeral_dh,
    ephemeral_ec,
)
from scanner.tls.vuln_probes import StackChecks

# Versions whose refusal one hello proves together: offered TLS 1.1, a server with TLS 1.0 or SSL 3.0 answers with
# it. Not TLS 1.3, offered through supported_versions alone. (The full enumeration asks SSL 3.0 with a hello without
# extensions, for servers old enough to need one; the server confirming has the same certificate as one that was
# asked so, and every answer of its own agrees.)
_COVERED_BY_ONE = ("TLSv1.2", "TLSv1.1", "TLSv1", "SSLv3")


class _Differs(Exception):
    """The server's answer is not the known configuration's."""


Offer = tuple[str, tuple[str, ...]]  # (a version, suites) or ("groups", groups): see must_accept


async def confirm_configuration(
    opener: Opener,
    known: TlsConfiguration,
    *,
    server_name: str | None,
    must_accept: Sequence[Offer] = (),
    limits: EnumerationLimits | None = None,
) -> TlsConfiguration | None:
    """``known`` with this server's cost (``handshakes``, ``duration_ms``) when every hello agrees with it; None
    when one does not, or the server stops answering (then enumerate it in full). ``must_accept``: offers of which
    the server must take one each (scanner.verdicts.tls_profile.deviating_offers: what makes ``known`` miss a
    profile), so that a server that has dropped them is not judged as the known one."""
    limits = limits or EnumerationLimits()
    # Heartbleed and CCS injection are this server's own: asked on the connections of its confirming hellos
    asker = HelloAsker(opener, server_name, limits, checks=StackChecks(limits.hello_timeout))
    try:
        await _confirm(asker, known, must_accept)
        for offer in must_accept:
            await _present(asker, known, offer)
        await finish_checks(asker, [(entry.version, entry.suites) for entry in known.suites])
    except (_Differs, EnumerationStopped):
        return None
    return _with_cost(known, asker)


def _with_cost(known: TlsConfiguration, asker: HelloAsker) -> TlsConfiguration:
    took = int((time.monotonic() - asker.started) * 1000)
    heartbleed, ccs = checks_found(asker, known.versions)  # this server's own, never the known one's
    return replace(
        known, handshakes=asker.hellos, duration_ms=took, enumerated_on=None, heartbleed=heartbleed, ccs_injection=ccs
    )


async def _confirm(asker: HelloAsker, known: TlsConfiguration, must_accept: Sequence[Offer]) -> None:
    accepted = {entry.version: entry for entry in known.suites}
    known_groups = [GROUP_BY_NAME[name] for name in known.groups if name in GROUP_BY_NAME]
    group_codes = {code for code, group in GROUPS.items() if group in known_groups}
    if any(SUITE_CODES.get(name) is None for entry in known.suites for name in entry.suites):
        raise _Differs("a suite only known by its code")  # cannot be offered back by name: enumerate in full
    await _refused_versions(asker, known)
    for version in VERSIONS_NEWEST_FIRST:
        entry = accepted.get(version)
        if entry is None:
            continue
        codes = [SUITE_CODES[name] for name in entry.suites]
        offered_all = TLS13_SUITES if version == "TLSv1.3" else LEGACY_SUITES
        known_codes = set(codes)
        outside = [code for code in offered_all if code not in known_codes]
        offer = _order_offer(codes, entry.server_order, version, known, must_accept)
        follows_ours = entry.server_order is False and len(codes) > 1
        if follows_ours:
            # a server that follows our order takes the first suite it has: the ones outside go first, so this one
            # hello also shows that it has none of them (one that imposes its order is caught by its choice)
            offer = [*outside, *offer]
        elif outside:
            await _expect_refused(asker, version, outside, list(GROUPS))
        groups = _order_groups(version, known_groups, must_accept)
        answer = await asker.ask(version, offer, groups)
        if answer.outcome != "accepted" and len(groups) < len(GROUPS):
            groups = list(GROUPS)  # the groups it must take are TLS 1.2 curves after all: ask again with them all
            answer = await asker.ask(version, offer, groups)
        if answer.outcome == "accepted" and answer.version == version and answer.suite in outside:
            raise _Differs(f"{version}: a suite outside the known ones")
        expected = offer[len(outside)] if follows_ours else codes[0]
        if answer.outcome != "accepted" or answer.version != version or answer.suite != expected:
            raise _Differs(f"{version}: another choice")
        if known.groups and answer.group is not None:
            # over TLS 1.3 the groups were found by offering them in this order, so the pick is the first known one
            # offered; a TLS 1.2 curve is one of the known groups (the enumeration asks TLS 1.2 for the curves TLS
            # 1.3 did not show)
            if version == "TLSv1.3":
                offered = [GROUPS[code] for code in groups]
                first = next((g for g in known_groups if g in offered), None)
                same = GROUPS.get(answer.group) == first
            else:
                same = answer.group in group_codes
            if not same:
                raise _Differs(f"{version}: another group")
        _same_extensions(answer, known, version)
    await _groups(asker, known, group_codes)
    await _dh_size(asker, known)
    await _fallback(asker, known)


def _order_offer(
    codes: list[int], server_order: bool | None, version: str, known: TlsConfiguration, must_accept: Sequence[Offer]
) -> list[int]:
    """The known suites in an order that tells whether the server imposes its own: not its first one first. A server
    that follows ours picks the suite we put first; that suite is chosen so that the same hello also shows what
    would otherwise take a full handshake of its own (a finite-field DHE suite: the DH prime's size; a suite the
    server must accept), since a DHE handshake is the dearest there is for the server (a modular exponentiation
    as large as its prime, 4096 bits on Debian's Dovecot)."""
    offer = order_probe(codes)  # never led by ChaCha20 where another will do (see there)
    if server_order is not False or len(codes) < 2:
        return offer  # the server's own first is picked whatever comes first
    wanted = {SUITE_CODES[n] for kind, names in must_accept if kind == version for n in names if n in SUITE_CODES}
    dhe = {code for code in codes if _finite_field(code)} if known.dh_bits is not None else set()
    for candidates in (wanted & dhe, wanted, dhe):
        lead = next(
            (c for c in offer if c in candidates and c != codes[0] and not chacha20(SUITE_NAMES.get(c, ""))), None
        )
        if lead is not None:
            return [lead, *(code for code in offer if code != lead)]
    return offer


def _order_groups(version: str, known_groups: list[Group], must_accept: Sequence[Offer]) -> list[int]:
    """The groups the TLS 1.3 order hello offers: the known ones this server must take (what made the known one
    miss a profile), so that the same hello shows it still has them; otherwise all of them."""
    if version != "TLSv1.3":
        return list(GROUPS)
    names = next((set(names) for kind, names in must_accept if kind == "groups"), set())
    wanted = [code for code, group in GROUPS.items() if group.name in names and group in known_groups]
    return wanted or list(GROUPS)


def _finite_field(code: int) -> bool:
    name = SUITE_NAMES.get(code, "")
    return ephemeral_dh(name) and not ephemeral_ec(name)


async def _refused_versions(asker: HelloAsker, known: TlsConfiguration) -> None:
    """Each version the known configuration refuses is refused here too. Below the oldest accepted version, one
    hello at the newest refused one answers for all of them (the server would answer with any of them it has)."""
    accepted = [VERSIONS_NEWEST_FIRST.index(v) for v in known.versions]
    oldest = max(accepted, default=-1)
    covered = False
    for index, version in enumerate(VERSIONS_NEWEST_FIRST):
        if version in known.versions:
            continue
        if version in _COVERED_BY_ONE and index > oldest:
            if covered:
                continue
            covered = True
        suites = list(TLS13_SUITES) if version == "TLSv1.3" else list(LEGACY_SUITES)
        answer = await asker.ask(version, suites, list(GROUPS))
        if answer.outcome == "timeout":
            raise _Differs(f"{version}: no answer")
        if answer.outcome == "accepted" and (answer.version == version or answer.version not in known.versions):
            raise _Differs(f"{version}: accepted")


async def _expect_refused(asker: HelloAsker, version: str, suites: Sequence[int], groups: Sequence[int]) -> None:
    answer = await asker.ask(version, suites, groups)
    if answer.outcome == "accepted" and answer.version == version and answer.suite in suites:
        raise _Differs(f"{version}: a suite outside the known ones")
    if answer.outcome == "timeout":
        raise _Differs(f"{version}: no answer")


def _same_extensions(answer: ServerAnswer, known: TlsConfiguration, version: str) -> None:
    if version == "TLSv1.3":
        return
    if known.secure_renegotiation is not None and (0xFF01 in answer.extensions) != known.secure_renegotiation:
        raise _Differs("another answer on secure renegotiation")
    ems = 0x0017 in answer.extensions
    if known.extended_master_secret is not None and version != "SSLv3" and ems != known.extended_master_secret:
        raise _Differs("another answer on the extended master secret")
    if known.compression is not None and bool(answer.compression) != known.compression:
        raise _Differs("another answer on compression")


async def _present(asker: HelloAsker, known: TlsConfiguration, offer: Offer) -> None:
    """One of ``offer``'s suites (in its version) or groups is accepted here too."""
    kind, names = offer
    if kind != "groups":
        codes = [SUITE_CODES[name] for name in names if name in SUITE_CODES]
        if any(a.version == kind and a.suite in codes for a in _accepted(asker)):
            return  # an earlier hello of this confirmation got one of them
        answer = await asker.ask(kind, codes, list(GROUPS))
        if answer.outcome != "accepted" or answer.version != kind or answer.suite not in codes:
            raise _Differs(f"{kind}: none of {', '.join(names)}")
        return
    wanted = [code for code, group in GROUPS.items() if group.name in names]
    if any(a.group in wanted for a in _accepted(asker)):
        return
    if "TLSv1.3" in known.versions:
        answer = await asker.ask("TLSv1.3", list(TLS13_SUITES), wanted)
        if answer.outcome == "accepted" and answer.group in wanted:
            return
    for entry in known.suites:  # curves TLS 1.3 dropped: asked over the newest older version with ECDHE
        ecdhe = [SUITE_CODES[name] for name in entry.suites if ephemeral_ec(name)]
        curves = [code for code in wanted if code in TLS12_EC_GROUPS]
        if entry.version == "TLSv1.3" or not ecdhe or not curves:
            continue
        answer = await asker.ask(entry.version, ecdhe, curves)
        if answer.outcome == "accepted" and answer.group in curves:
            return
        break
    raise _Differs(f"none of the groups {', '.join(names)}")


async def _groups(asker: HelloAsker, known: TlsConfiguration, group_codes: set[int]) -> None:
    """No group outside the known ones: over TLS 1.3 when known has it, and over the newest older version with an
    ECDHE suite (TLS 1.2 still takes curves TLS 1.3 dropped), as the enumeration asked them. The curves keep a hello
    of their own: offered alone in the order hello, they would stop a server from taking an ECDHE suite outside the
    known ones (it needs a curve it has), so that hello would no longer show such a suite."""
    if "TLSv1.3" in known.versions:
        outside = [code for code in GROUPS if code not in group_codes]
        if outside:
            answer = await asker.ask("TLSv1.3", list(TLS13_SUITES), outside)
            if answer.outcome == "accepted" and answer.group in outside:
                raise _Differs("a group outside the known ones")
    for entry in known.suites:  # newest first
        ecdhe = [SUITE_CODES[name] for name in entry.suites if ephemeral_ec(name)]
        if entry.version == "TLSv1.3" or not ecdhe:
            continue
        outside = [code for code in TLS12_EC_GROUPS if code not in group_codes]
        if outside:
            answer = await asker.ask(entry.version, ecdhe, outside)
            if answer.outcome == "accepted" and answer.suite in ecdhe:
                raise _Differs("a curve outside the known ones")
        return


async def _dh_size(asker: HelloAsker, known: TlsConfiguration) -> None:
    if known.dh_bits is None:
        return
    # the prime is the server's, not a suite's: any DHE answer so far shows it
    seen = {(a.dh_bits, a.dh_group) for a in _accepted(asker) if a.dh_bits is not None}
    if seen:
        if seen != {(known.dh_bits, known.dh_group)}:
            raise _Differs("another DH prime")
        return
    for entry in known.suites:
        dhe = [SUITE_CODES[name] for name in entry.suites if ephemeral_dh(name) and not ephemeral_ec(name)]
        if dhe:
            answer = await asker.ask(entry.version, dhe, list(GROUPS))
            if answer.outcome != "accepted" or (answer.dh_bits, answer.dh_group) != (known.dh_bits, known.dh_group):
                raise _Differs("another DH prime")
            return


def _accepted(asker: HelloAsker) -> list[ServerAnswer]:
    """The hellos of this confirmation the server took so far: what they show need not be asked again."""
    return [a for a in asker.answers if a.outcome == "accepted"]


async def _fallback(asker: HelloAsker, known: TlsConfiguration) -> None:
    if known.fallback_scsv is None:
        return
    versions = [v for v in VERSIONS_NEWEST_FIRST if v in known.versions]
    lower = versions[1]
    entry = next(e for e in known.suites if e.version == lower)
    answer = await asker.ask(lower, [SUITE_CODES[name] for name in entry.suites], list(GROUPS), fallback=True)
    if answer.outcome == "timeout" or (answer.outcome == "accepted") != (known.fallback_scsv is False):
        raise _Differs("another answer to TLS_FALLBACK_SCSV")
