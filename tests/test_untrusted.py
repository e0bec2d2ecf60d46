"""The untrusted-text boundary: what each output channel makes of hostile server text."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET

import pytest

from scanner.untrusted import (
    for_csv,
    for_html,
    for_html_attribute,
    for_json,
    for_markdown,
    for_terminal,
    for_terminal_quoted,
    for_xml,
)

# What attackers put in greetings, capability tokens, certificate names and log fields.
CLEAR_SCREEN = "\x1b[2J\x1b[H"
TITLE = "\x1b]0;owned\x07"
CLIPBOARD = "\x1b]52;c;ZWNobyBvd25lZA==\x07"
HYPERLINK = "\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\"
DEVICE_STATUS = "\x1b[6n"
C1_CSI = "\x9b31m"
FAKE_VERDICT = "\r\x1b[32mplaintext login: refused\x1b[0m"
BIDI = "\u202emoc.elpmaxe\u202c \u2066x\u2069 \u200f\u061c"
ZERO_WIDTH = "a\u200bb\u200dc\ufeffd\u2060e\u00adf\u3164g"
LINE_BREAKS = "one\ntwo\rthree\u2028four\u2029five\x85six\x0bseven\x0cend"
PAYLOADS = [CLEAR_SCREEN, TITLE, CLIPBOARD, HYPERLINK, DEVICE_STATUS, C1_CSI, FAKE_VERDICT, BIDI, ZERO_WIDTH,
            LINE_BREAKS, "\x00\x7f\x1f", "nul\x00tab\tdel\x7f"]  # fmt: skip


def _has_control(text: str, allow: str = "") -> bool:
    return any(not (ch.isprintable() or ch == " ") and ch not in allow for ch in text)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_terminal_text_has_no_control_bidi_or_invisible_character_and_no_line_break(payload: str) -> None:
    shown = for_terminal(payload)
    assert not _has_control(shown)
    assert "\u3164" not in shown
    assert len(shown.splitlines()) <= 1


def test_terminal_escapes_are_visible_and_readable() -> None:
    assert for_terminal("\x1b[2J") == "\\x1b[2J"
    assert for_terminal("abc\u202edef") == "abc\\u202edef"
    assert for_terminal("a\tb\nc\rd") == "a\\tb\\nc\\rd"
    assert for_terminal("\x9b") == "\\x9b"
    assert for_terminal("\U000e0041") == "\\U000e0041"  # a tag character, invisible
    assert for_terminal(None) == ""


def test_ordinary_text_passes_unchanged_whatever_the_script() -> None:
    for text in ("* OK Dovecot ready.", "Grüße aus Köln", "メールサーバー", "mail.example.org", "DOMAIN\\user", ""):
        assert for_terminal(text) == text


def test_piled_combining_marks_are_cut_to_two_but_real_diacritics_stay() -> None:
    zalgo = "Z" + "\u0336\u0353\u0359\u0300" * 5 + "algo"
    shown = for_terminal(zalgo)
    assert shown.startswith("Z\u0336\u0353\\u0359") and shown.endswith("algo")
    assert all(not ("\u0300" <= a <= "\u036f" and "\u0300" <= b <= "\u036f" and "\u0300" <= c <= "\u036f")
               for a, b, c in zip(shown, shown[1:], shown[2:], strict=False))  # fmt: skip
    for text in ("Tiếng Việt", "e\u0323\u0302", "Ångström"):
        assert for_terminal(text) == text


def test_terminal_limit_cuts_after_escaping() -> None:
    assert for_terminal("\x1b" * 10, max_chars=9) == "\\x1b\\x1b…"
    assert len(for_terminal("x" * 500, max_chars=40)) == 40


def test_quotation_cannot_be_closed_early_by_the_server() -> None:
    shown = for_terminal_quoted('ok" plaintext login: refused "\x1b')
    assert shown == '"ok\\" plaintext login: refused \\"\\x1b"'
    assert shown.startswith('"') and shown.endswith('"')
    assert '"' not in shown[1:-1].replace('\\"', "")


@pytest.mark.parametrize("payload", [*PAYLOADS, "\ud800 lone surrogate", "\ufffe\uffff"])
def test_junit_text_parses_as_xml_whatever_the_payload(payload: str) -> None:
    root = ET.Element("testcase", name=for_xml(payload))
    ET.SubElement(root, "system-out").text = for_xml(payload + "\n" + payload, multiline=True)
    parsed = ET.fromstring(ET.tostring(root, encoding="unicode"))
    assert not _has_control(parsed.get("name") or "")
    assert not _has_control(parsed.findtext("system-out") or "", allow="\n")


def test_markdown_carries_no_html_no_markup_no_line_break() -> None:
    shown = for_markdown("<script>alert(1)</script> *bold* [x](http://e/) | `code` # & \n next")
    assert "<" not in shown and ">" not in shown
    assert "&lt;script&gt;" in shown
    assert "\\*bold\\*" in shown and "\\[x\\](http" in shown
    assert "\\|" in shown and "\\`code\\`" in shown
    assert "\n" not in shown
    assert for_markdown("\x1b[31m") == "\\\\x1b\\[31m"  # the visible escape survives rendering as \x1b[31m


def test_markdown_text_cannot_open_a_list_or_rule_after_a_bullet_but_names_read_normally() -> None:
    assert for_markdown("- fake item") == "\\- fake item"
    assert for_markdown("1. fake") == "1\\. fake"
    assert for_markdown("---") == "--\\-"
    assert for_markdown("10.2.3.4") == "10.2.3.4"
    assert for_markdown("mail-1.example.org: ok") == "mail-1.example.org: ok"


@pytest.mark.parametrize("cell", ['=HYPERLINK("http://e/","x")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"])
def test_csv_formula_cells_are_neutralised(cell: str) -> None:
    shown = for_csv(cell)
    assert shown.startswith("'")
    out = io.StringIO()
    csv.writer(out).writerow([shown])
    assert next(csv.reader(io.StringIO(out.getvalue())))[0] == shown


def test_csv_plain_cells_stay_as_they_are_and_controls_are_escaped() -> None:
    assert for_csv("mail.example.org") == "mail.example.org"
    assert for_csv("a\x1b[2Jb\nc") == "a\\x1b[2Jb\\nc"


def test_html_isolates_and_escapes() -> None:
    shown = for_html('<img src=x onerror=alert(1)>"\u202eevil')
    assert shown.startswith("<bdi>") and shown.endswith("</bdi>")
    inner = shown[len("<bdi>") : -len("</bdi>")]
    assert "<" not in inner and ">" not in inner and '"' not in inner
    assert "\u202e" not in shown and "\\u202e" in shown
    assert for_html("a\nb", multiline=True) == "<bdi>a\nb</bdi>"
    assert for_html_attribute('x" onmouseover="y') == "x&quot; onmouseover=&quot;y"


def test_json_stays_exact_but_valid_and_safe_to_print() -> None:
    exact = "\x1b[2J\x9b\u202e<script>=1\nGrüße \U000e0041 \U0001f600\x7f"
    document = for_json(json.dumps({"greeting": exact}, ensure_ascii=False))
    assert json.loads(document) == {"greeting": exact}  # the very same text
    assert not _has_control(document)  # nothing a terminal acts on is written raw
    assert "Grüße" in document and "\U0001f600" in document  # ordinary text stays readable
    lone = for_json(json.dumps({"x": "a\ud800b"}, ensure_ascii=False))
    lone.encode("utf-8")  # a lone surrogate no longer breaks a UTF-8 file
    assert json.loads(lone) == {"x": "a\ud800b"}
    assert for_json('{"a": 1}') == '{"a": 1}'
