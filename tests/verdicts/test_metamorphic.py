"""Issue 22's metamorphic property: rewording what a server says never moves the verdict to the opposite confident
verdict (accepted <-> refused); inconclusive is allowed. Checked by running the real probe against every replayed
server (the bundled profiles and fixtures/servers) with its texts reworded by Hypothesis: random words, another
language, case swapped, text removed, text made longer (tests/verdicts/paraphrase.py). The standard signals and the
differential do not depend on words, so only a rule that lets wording decide could fail this."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner import certgen
from scanner.fakeserver import FakeServer, Profile, bundled_profile, bundled_profile_names, load_profile
from scanner.fakeserver.profile import Answer
from scanner.fakeserver.tls import context_for
from scanner.model import Endpoint
from scanner.probe.conversation import probe_endpoint
from scanner.probe.options import ProbeOptions
from scanner.verdicts.plaintext import SLOW_MS
from tests.verdicts.paraphrase import Rewording, draw_rewording, rewrite, split_line, texts_of

HOST = "127.0.0.2"
NAME = "mail.example.test"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "servers"
OPPOSITE = {"accepted", "refused"}


def _servers() -> list[Profile]:
    """Every profile that serves a conversation: bundled and fixtures; not the ones that only stream, stay silent or
    drip (they have no login answer to reword)."""
    found = [bundled_profile(n) for n in bundled_profile_names()]
    found += [load_profile(p) for p in sorted(FIXTURES.glob("*.toml"))]
    return [p for p in found if p.mode == "serve" and not p.hostile.drip_interval]


SERVERS = _servers()


def _delay(profile: Profile) -> float:
    """Each server's own timing class (a delayed credential check, or none), kept short: just past SLOW_MS when the
    real one waits longer."""
    slow = SLOW_MS / 1000 + 0.05
    return min(profile.login_delay, slow) if profile.login_delay else 0.0


def reword_profile(profile: Profile, reword: Rewording) -> Profile:
    proto = profile.protocol

    def lines(values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(rewrite(v, proto, reword) for v in values)

    answers = {key: dataclasses.replace(a, lines=lines(a.lines)) for key, a in profile.answers.items()}
    return dataclasses.replace(
        profile,
        greeting=lines(profile.greeting),
        # SMTP's capability_ok is the EHLO greeting of the client, a protocol line
        capability_ok=profile.capability_ok if proto == "smtp" else rewrite(profile.capability_ok, proto, reword),
        starttls_ok=lines(profile.starttls_ok),
        starttls_refused=lines(profile.starttls_refused),
        logout=lines(profile.logout),
        noop=lines(profile.noop),
        unknown=lines(profile.unknown),
        answers=answers,
    )


def server_texts(profile: Profile) -> list[str]:
    every: list[str] = [*profile.greeting, *profile.starttls_ok, *profile.starttls_refused, *profile.logout]
    every += [*profile.noop, *profile.unknown, *(line for a in profile.answers.values() for line in a.lines)]
    if profile.protocol != "smtp":
        every.append(profile.capability_ok)
    return texts_of(every, profile.protocol)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory):
    directory = tmp_path_factory.mktemp("certs")
    ca = certgen.make_ca("mailprobe metamorphic test CA")
    options = ProbeOptions(
        read_timeout=3, login_timeout=3, tls_timeout=3, connect_timeout=2, endpoint_timeout=20, legacy_tls=False,
        ca_file=str(ca.write(directory)),
    )  # fmt: skip
    return context_for("ca-signed", NAME, HOST, directory, ca=ca), options


async def _verdict(profile: Profile, pki) -> str:
    context, options = pki
    async with FakeServer(profile, host=HOST, port=0, ssl_context=context, login_delay=_delay(profile)) as server:
        transport = "implicit" if profile.implicit_tls else "starttls"
        endpoint = Endpoint(HOST, HOST, server.port, profile.protocol, transport, name=NAME)
        result = await probe_endpoint(endpoint, options)
    return result.plaintext_login.verdict


def verdicts(profiles: list[Profile], pki) -> dict[str, str]:
    async def run() -> list[str]:
        return list(await asyncio.gather(*(_verdict(p, pki) for p in profiles)))

    return dict(zip((p.name for p in profiles), asyncio.run(run()), strict=True))


@pytest.fixture(scope="module")
def baseline(pki) -> dict[str, str]:
    return verdicts(SERVERS, pki)


def test_the_servers_cover_both_confident_verdicts(baseline: dict[str, str]) -> None:
    """The property means something only if there are verdicts to turn around."""
    assert {"accepted", "refused"} <= set(baseline.values()), baseline
    assert {"uw-imapd-logindisabled", "zimbra-pop3-cleartext-disabled", "dovecot-pop3-plaintext-refused"} <= set(
        baseline
    )


@settings(
    max_examples=8,
    deadline=60_000,  # one example probes every server at once; a loaded machine needs a few seconds
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=False,
)
@given(data=st.data())
def test_rewording_a_server_never_turns_its_verdict_around(data: st.DataObject, baseline, pki) -> None:
    reworded = [reword_profile(p, draw_rewording(data, server_texts(p), p.name)) for p in SERVERS]
    got = verdicts(reworded, pki)
    turned = {name: (baseline[name], verdict) for name, verdict in got.items() if {baseline[name], verdict} == OPPOSITE}
    assert not turned, turned


# --- the rewording itself -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("protocol", "line", "split"),
    [
        ("imap", "{tag} NO [PRIVACYREQUIRED] No TLS.", ("{tag} NO [PRIVACYREQUIRED]", "No TLS.")),
        ("imap", "a2 BAD Command received in Invalid state.", ("a2 BAD", "Command received in Invalid state.")),
        ("imap", "* OK [CAPABILITY IMAP4rev1 STARTTLS] ready", ("* OK [CAPABILITY IMAP4rev1 STARTTLS]", "ready")),
        ("imap", "* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED", None),
        ("imap", "+ ", None),
        ("pop3", "-ERR [AUTH] Authentication failed.", ("-ERR [AUTH]", "Authentication failed.")),
        ("pop3", "+OK", ("+OK", "")),
        ("pop3", "SASL PLAIN", None),
        ("smtp", "535 5.7.8 Error: authentication failed", ("535 5.7.8", "Error: authentication failed")),
        ("smtp", "334 VXNlcm5hbWU6", None),
        ("smtp", "250-AUTH PLAIN LOGIN", ("250-", "AUTH PLAIN LOGIN")),  # why EHLO lines are never reworded
    ],
)  # fmt: skip
def test_only_the_human_text_of_a_status_line_is_reworded(protocol: str, line: str, split) -> None:
    assert split_line(line, protocol) == split


@settings(max_examples=50, deadline=2_000)
@given(data=st.data())
def test_a_rewording_keeps_same_answers_same_and_different_ones_different(data: st.DataObject) -> None:
    texts = ["Authentication failed.", "authentication   FAILED.", "Login failed (ref 1234)", "Login failed (ref 99)",
             "Plaintext authentication disallowed", ""]  # fmt: skip
    reword = draw_rewording(data, texts, "t")
    assert reword(texts[0]) == reword(texts[1])  # the same answer to the comparison
    assert reword(texts[2]) == reword(texts[3])  # digits are ids, not meaning
    distinct = {reword(t) for t in (texts[0], texts[2], texts[4], texts[5])}
    assert len({" ".join(t.lower().split()) for t in distinct}) == 4


def test_a_reworded_profile_keeps_its_protocol_lines() -> None:
    profile = bundled_profile("dovecot-imap-plaintext-refused")
    shouted = reword_profile(profile, str.upper)
    assert shouted.capabilities_clear == profile.capabilities_clear
    clear = shouted.answer("LOGIN", "clear")
    assert isinstance(clear, Answer) and clear.lines[-1].startswith("{tag} NO [PRIVACYREQUIRED] PLAINTEXT")
