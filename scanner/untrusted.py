"""The one boundary for untrusted text: how each output channel shows what a server (or a log line) chose.

Greetings, capability tokens, login answers, certificate fields and log fields are attacker-chosen. Every renderer
passes them through the function for its channel, and nothing else decides how they look:

- ``for_terminal``: control characters (C0, DEL, C1), bidi controls, zero-width and other invisible or format
  characters, line and paragraph separators are shown visibly escaped (``\\x1b``, ``\\u202e``), never raw, so server
  text cannot move the cursor, set titles, write the clipboard, reorder or break mailprobe's own line. Nor can it lay
  out a line that passes for mailprobe's own: a run of spaces, which a terminal wraps so that the words after it
  start a line of their own, is shown as one marked run (``␠×40``), and pictographs (category So: the ✓ ✗ ⚠ marks
  mailprobe puts before its own verdicts, their look-alikes, blank glyphs such as the braille blank) are escaped.
- ``for_terminal_quoted``: the same, inside visible double quotes (``"`` and ``\\`` escaped so a quotation cannot
  be closed early): server words shown next to mailprobe's own verdict words.
- ``for_xml``: XML-1.0-legal characters only (the rest visibly escaped), for JUnit; the XML writer escapes markup.
- ``for_markdown``: one line, HTML special characters as entities, every other ASCII punctuation backslash-escaped.
- ``for_csv``: visibly escaped like the terminal (CSV files get printed too) and formula cells neutralised.
- ``for_html`` / ``for_html_attribute``: escaped, and text isolated in ``<bdi>`` so bidi cannot reorder the page.
- ``for_json``: a serialized document kept exact (JSON is the machine record): characters a terminal could act on
  and lone surrogates are written as ``\\u`` escapes, which JSON reads back as the very same text.
- ``for_plugin_output`` / ``for_prometheus_label``: monitoring: one line, no ``|`` (it starts perfdata); label values.

See docs/untrusted-text.md.
"""

from __future__ import annotations

import re

# The html module is imported by the three functions that escape for HTML or Markdown: its table of named
# character references costs every start-up otherwise, and a scan needs it only for reports.

# Invisible letters (category Lo, so str.isprintable() passes them) that are used to fake blank or spoofed text.
_INVISIBLE_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")
_SHORT_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
# Three or more combining marks in a row from the general-purpose blocks (diacritics, their supplements and
# extensions, marks for symbols, half marks): the rest of a pile is escaped.
_STACKED_MARKS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]{3,}")
# Leading characters that make a spreadsheet evaluate a cell (OWASP "CSV injection").
_FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
_ELLIPSIS = "…"
_MARKDOWN_SPECIAL = frozenset("\\`*_[]|#~!$^{}")
_LIST_MARKER = re.compile(r"(?:[-+]|\d{1,9}[.)])(?=\s|$)|-{3,}$")  # what starts a list item or a rule
_SPACE_RUN = re.compile(" {3,}")
_KEPT_INDENT = 8  # a line's own indentation (mailprobe's, when it escapes a whole line) is no trick


def _escape_char(ch: str) -> str:
    short = _SHORT_ESCAPES.get(ch)
    if short:
        return short
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _is_shown_raw(ch: str) -> bool:
    return (ch.isprintable() or ch == " ") and ch not in _INVISIBLE_LETTERS


def _escape(text: str, keep: str = "") -> str:
    if text.isprintable() and not _INVISIBLE_LETTERS.intersection(text):
        out = text  # the usual case: nothing to do
    else:
        out = "".join(ch if ch in keep or _is_shown_raw(ch) else _escape_char(ch) for ch in text)
    if _STACKED_MARKS.search(out) is None:
        return out
    # "Zalgo" text: marks piled on one letter draw over the lines above and below; two are plenty for any script
    return _STACKED_MARKS.sub(lambda m: m.group()[:2] + "".join(map(_escape_char, m.group()[2:])), out)


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _limit(text: str, max_chars: int | None) -> str:
    if max_chars is None or len(text) <= max_chars:
        return text
    return text[: max(max_chars - 1, 0)] + _ELLIPSIS


def _mark_run(match: re.Match[str]) -> str:
    run = match.group()
    if match.start() == 0 and len(run) <= _KEPT_INDENT:
        return run
    return f" ␠×{len(run)} "


def _laid_out(text: str, pictographs: bool = True) -> str:
    """No layout trick: pictographs escaped (no forged ✓ or ✗, no blank glyph), runs of spaces marked."""
    if pictographs and not text.isascii():
        import unicodedata  # built in, and needed only for text that is not ASCII

        # the run mark itself (U+2420) stays, so text escaped twice (evidence quoted, then shown) reads the same
        text = "".join(_escape_char(ch) if unicodedata.category(ch) == "So" and ch != "␠" else ch for ch in text)
    return _SPACE_RUN.sub(_mark_run, text) if "   " in text else text


def for_terminal(value: object, max_chars: int | None = None) -> str:
    """One line of plain text safe for any terminal: every non-printing character visibly escaped, no layout trick."""
    return _limit(_laid_out(_escape(_text(value))), max_chars)


def for_terminal_quoted(value: object, max_chars: int | None = None) -> str:
    """Server words as a visible quotation: ``"..."``, with ``"`` and ``\\`` escaped so it cannot end early."""
    inner = _laid_out(_escape(_text(value).replace("\\", "\\\\").replace('"', '\\"')))
    return '"' + _limit(inner, max_chars) + '"'


def for_xml(value: object, multiline: bool = False) -> str:
    """Only XML-1.0-legal characters (anything else visibly escaped); line feeds kept when ``multiline``."""
    return _escape(_text(value), keep="\n" if multiline else "")


def for_markdown(value: object) -> str:
    """Inline Markdown (also a table cell): no HTML, markup, pipe or line break from the text.

    ``& < >`` become entities and every character that starts markup inline (emphasis, code, links, images,
    strikethrough, math, pipes, headings, escapes) is backslash-escaped; a leading list marker (``-``, ``+``,
    ``1.``) is escaped too, since renderers put the text after a ``- `` bullet. ``.`` ``-`` ``:`` elsewhere stay
    as they are, so names and sentences read normally in the Markdown source.
    """
    import html

    out = []
    for ch in for_terminal(value):
        if ch in "&<>":
            out.append(html.escape(ch))
        elif ch in _MARKDOWN_SPECIAL:
            out.append("\\" + ch)  # CommonMark lets any ASCII punctuation be backslash-escaped
        else:
            out.append(ch)
    text = "".join(out)
    marker = _LIST_MARKER.match(text)
    if marker:
        end = marker.end() - 1
        text = text[:end] + "\\" + text[end:]
    return text


def for_csv(value: object) -> str:
    """A CSV cell: visibly escaped, and a leading ``= + - @`` TAB or CR neutralised with a ``'``."""
    raw = _text(value)
    shown = _laid_out(_escape(raw), pictographs=False)  # a spreadsheet cell, not a line: mailprobe's marks stay
    if raw.startswith(_FORMULA_LEADS) or shown.startswith(_FORMULA_LEADS):
        return "'" + shown
    return shown


def for_html(value: object, multiline: bool = False) -> str:
    """An HTML fragment: escaped, visibly escaped controls, isolated in ``<bdi>`` (line feeds kept if ``multiline``)."""
    import html

    return "<bdi>" + html.escape(_escape(_text(value), keep="\n" if multiline else ""), quote=True) + "</bdi>"


def for_html_attribute(value: object) -> str:
    """An HTML attribute value (quoted by the caller): escaped, one line, controls visibly escaped."""
    import html

    return html.escape(for_terminal(value), quote=True)


_JSON_SUSPECT = re.compile(r"[^\x00-\x7e]")  # JSON already escapes C0; DEL and all non-ASCII are looked at


def _json_escape(match: re.Match[str]) -> str:
    ch = match.group()
    if _is_shown_raw(ch):
        return ch
    code = ord(ch)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # beyond the BMP: a surrogate pair, as JSON writes it
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def for_json(document: str) -> str:
    """A serialized JSON document, the same value exactly, with every character a terminal could act on (C1, DEL,
    bidi, zero-width, separators, lone surrogates) written as a ``\\u`` escape: valid UTF-8, safe to print.
    JSON syntax is ASCII, so such characters can only sit inside strings, where the escape means the same."""
    if document.isascii() and "\x7f" not in document:
        return document
    return _JSON_SUSPECT.sub(_json_escape, document)


def for_plugin_output(value: object, max_chars: int | None = None) -> str:
    """A monitoring plugin's text (Nagios, Icinga, Sensu, Zabbix): one terminal-safe line with no ``|``, which
    would start the performance data."""
    return for_terminal(value, max_chars).replace("|", "\\x7c")


def for_prometheus_label(value: object) -> str:
    """A Prometheus label value: one line, controls visibly escaped (the exposition writer escapes ``"`` and ``\\``)."""
    return _limit(_escape(_text(value)), 253)
