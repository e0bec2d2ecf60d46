"""The words in each cell, sort keys, filters, changes and password masking: pure functions, tested directly."""

from __future__ import annotations

from dataclasses import replace

from scanner.model import TranscriptLine
from scanner.tui.cells import (
    ViewFilter,
    certificate_cell,
    changes,
    format_duration,
    mask_line,
    matches,
    next_in,
    plain_row,
    row_cells,
    severity_cell,
)
from scanner.tui.detail_text import detail_sections
from scanner.tui.tally import Tally, progress_line
from tests.tui.tui_fakes import ACCEPTED, EXPIRED, SECRET, WRONG_NAME, cert, demo_like, result


def test_every_cell_is_readable_without_colour() -> None:
    for r in demo_like():
        for cell in row_cells(r):
            assert cell.text.strip(), f"empty cell in {plain_row(r)}"
        # Coloured cells start with a symbol or carry a word: the colour never carries meaning alone.
        verdict = row_cells(r)[6].text
        assert verdict.split()[0] in {"✓", "✗", "?", "-"}


def test_row_words_for_an_accepting_server() -> None:
    row = plain_row(result(3, name="plain.test", verdict="accepted", findings=(ACCEPTED,)))
    assert row[:5] == ("127.0.0.3", "plain.test", "143", "IMAP", "starttls")
    assert row[6] == "✗ ACCEPTED"
    assert row[10] == "‼ critical"


def test_certificate_cell_names_each_problem() -> None:
    assert certificate_cell(result(2)).text == "✓ trusted, 300d"
    assert certificate_cell(result(2, certificate=cert(days_left=-3))).text == "✗ expired 3d ago"
    assert certificate_cell(result(2, certificate=cert(trusted=False, self_signed=True))).text == "✗ self-signed"
    exchange = cert(trusted=False, self_signed=True, exchange_default=True, name_match=False)
    assert certificate_cell(result(2, certificate=exchange)).text == "✗ Exchange default, wrong name"
    assert certificate_cell(result(2, certificate=cert(days_left=10))).text == "! trusted, 10d left"
    assert certificate_cell(result(2, tls_version=None)).text == "- none"


def test_severity_cell_without_findings() -> None:
    assert severity_cell(result(2)).text == "✓ none"
    assert severity_cell(result(2, findings=(EXPIRED, ACCEPTED))).text == "‼ critical"


def test_filters_by_text_verdict_severity_and_silence() -> None:
    rows = demo_like()
    shown = [r.address for r in rows if matches(r, ViewFilter())]
    assert "127.0.0.10" not in shown and "127.0.0.11" not in shown  # silent and closed are only counted
    assert len([r for r in rows if matches(r, ViewFilter(show_silent=True))]) == len(rows)
    accepted = [r.address for r in rows if matches(r, ViewFilter(verdict="accepted"))]
    assert accepted == ["127.0.0.3", "127.0.0.4", "127.0.0.5"]
    high = [r.address for r in rows if matches(r, ViewFilter(min_severity="high"))]
    assert high == ["127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.7"]
    assert [r.address for r in rows if matches(r, ViewFilter(text="EXPIRED pop3"))] == ["127.0.0.7"]
    assert [r.address for r in rows if matches(r, ViewFilter(text="certificate-name-mismatch"))] == ["127.0.0.8"]


def test_changes_after_a_fix() -> None:
    before = result(3, verdict="accepted", findings=(ACCEPTED,))
    after = result(3, verdict="refused")
    assert changes(before, after) == [
        "plaintext login: accepted -> refused",
        "worst severity: critical -> none",
        "finding gone: plaintext-login-accepted",
    ]
    assert changes(after, after) == []


def test_password_masked_in_every_form() -> None:
    def c(text: str) -> str:
        return mask_line(TranscriptLine("C", text, False, 0))

    assert c(f"a1 LOGIN mailprobe-1a2b {SECRET}") == "a1 LOGIN mailprobe-1a2b ********"
    assert c(f'a1 LOGIN "mailprobe-1a2b" "{SECRET}"') == 'a1 LOGIN "mailprobe-1a2b" ********'
    assert c(f"PASS {SECRET}") == "PASS ********"
    assert c("a2 AUTHENTICATE PLAIN AG1haWxwcm9iZQBzZWNyZXQ=") == "a2 AUTHENTICATE PLAIN ********"
    assert c("AUTH PLAIN AG1haWxwcm9iZQBzZWNyZXQ=") == "AUTH PLAIN ********"
    assert c("AG1haWxwcm9iZQBzZWNyZXQ=") == "********"
    assert c("USER mailprobe-1a2b") == "USER mailprobe-1a2b"
    assert mask_line(TranscriptLine("S", "+OK PASS accepted", False, 0)) == "+OK PASS accepted"


def test_detail_text_has_findings_remediation_evidence_chain_and_masked_transcript() -> None:
    r = result(4, verdict="accepted", findings=(ACCEPTED,))
    text = "\n".join(f"{title}\n" + "\n".join(lines) for title, lines in detail_sections(r, ["plaintext login: x"]))
    assert "Re-probe: what changed\n  plaintext login: x" in text
    assert "[plaintext-login-accepted] Plaintext login accepted" in text
    assert "Fix: Dovecot: set disable_plaintext_auth = yes" in text
    assert "clear: NO [PRIVACYREQUIRED]" in text
    assert 'before TLS: "IMAP4rev1 STARTTLS LOGINDISABLED"' in text
    assert '0. "CN=mail.example.test <- CN=Demo CA"' in text
    assert "LOGIN mailprobe-3f9a ********" in text
    assert SECRET not in text


def test_detail_lists_findings_worst_first() -> None:
    r = result(4, verdict="accepted", findings=(WRONG_NAME, EXPIRED, ACCEPTED))  # as a probe may add them
    findings = dict(detail_sections(r))["Findings (3)"]
    ids = [
        line.split("[", 1)[1].split("]", 1)[0]
        for line in findings
        if line.startswith("  ") and "[" in line and not line.startswith("      ")
    ]
    assert ids == ["plaintext-login-accepted", "certificate-expired", "certificate-name-mismatch"]


def test_tally_and_progress_line() -> None:
    tally = Tally()
    rows = demo_like()
    for r in rows:
        tally.add(r)
    assert tally.done == 10 and tally.silent == 2
    assert tally.counts.verdicts["accepted"] == 3
    tally.replace(
        rows[1], replace(rows[1], plaintext_login=replace(rows[1].plaintext_login, verdict="refused"), findings=())
    )
    verdicts = tally.counts.verdicts
    assert tally.done == 10 and verdicts["accepted"] == 2 and verdicts["refused"] == 5  # of the 8 that answered
    assert tally.verdict_line() == "✗ ACCEPTED 2  ? inconclusive 1  ✓ refused 5"
    assert progress_line(500, 1000, 10.0, "running") == "RUNNING  500/1,000 (50%)  50/s  ETA 00:10"
    assert progress_line(3, None, 0.0, "paused") == "PAUSED  3/?  0/s  ETA --:--"
    assert progress_line(1000, 1000, 3725.0, "finished").endswith("took 1:02:05")


def test_cycles_and_durations() -> None:
    assert next_in((None, "a", "b"), None) == "a"
    assert next_in((None, "a", "b"), "b") is None
    assert format_duration(None) == "--:--"
    assert format_duration(61) == "01:01"


def test_detail_shows_the_injection_test_with_the_servers_answer_quoted() -> None:
    from scanner.model import InjectionTry, StartTlsInjection

    injection = StartTlsInjection(
        "vulnerable",
        (
            InjectionTry("same-write", "mpi3f9a0c21 NOOP", "answered-in-tls", ("mpi3f9a0c21 OK \x1b[2J done",)),
            InjectionTry("separate-segment", "mpi77aa0c21 NOOP", "broke-handshake", note="TLS handshake failed: x"),
        ),
    )
    sections = dict(detail_sections(replace(result(4), starttls_injection=injection)))
    assert "  STARTTLS command injection: VULNERABLE" in sections["Summary"]
    lines = sections["STARTTLS command injection"]
    assert '  same-write: sent "mpi3f9a0c21 NOOP": answered-in-tls' in lines
    assert '      answer: "mpi3f9a0c21 OK \\x1b[2J done"' in lines  # the server's words, visibly escaped
    assert '  separate-segment: sent "mpi77aa0c21 NOOP": broke-handshake' in lines
    implicit = dict(detail_sections(result(4, 993)))
    assert "  STARTTLS command injection: -" in implicit["Summary"]
    assert "STARTTLS command injection" not in implicit
