"""Result lines: orjson writes them (speed), the standard library is the reference and the fallback. The text must
be the same either way, whatever a server put in the row, and must read back to the same result."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.model import Capabilities, EndpointResult, Finding, TranscriptLine, dumps, loads, plain_dumps
from scanner.untrusted import for_json
from tests.factories import certificate, result

# what a hostile server may put in a greeting, a capability, a certificate field: controls, bidi, surrogates,
# quotes, backslashes, non-BMP characters
server_text = st.text(st.characters(exclude_categories=()), max_size=60)  # lone surrogates included


def rows() -> list[EndpointResult]:
    return [
        result(),
        result(993),
        result(110, state="closed"),
        result(143, state="error"),
        result(995, cert=certificate(trusted=False, days_left=-3), legacy=("TLSv1",)),
        result(587, findings=(Finding("x", "high", "t", "d", "r"),)),
        result(143, address="2001:db8::10", host="mail.example.com"),
    ]


def test_the_same_text_as_the_standard_library_and_back():
    for row in rows():
        assert row.to_json() == plain_dumps(row)
        assert EndpointResult.from_json(row.to_json()) == row


@settings(max_examples=120, deadline=None)
@given(greeting=server_text, capability=server_text, subject=server_text, line=server_text)
def test_hostile_text_gives_the_same_line_and_reads_back(greeting, capability, subject, line):
    row = result(
        greeting=greeting,
        capabilities=Capabilities((capability, "STARTTLS")),
        cert=certificate(subject=subject, sans=(subject,)),
        transcript=(TranscriptLine("S", line, False, 5),),
    )
    row = EndpointResult.from_dict(json.loads(plain_dumps(row)))  # as read back from a file
    text = dumps(row)
    assert text == plain_dumps(row)  # orjson, or its fallback for what it refuses (lone surrogates)
    assert EndpointResult.from_json(for_json(text)) == row  # what the file holds reads back to the same row
    assert loads(for_json(text)) == json.loads(for_json(text))


def test_an_integer_past_64_bits_falls_back_instead_of_failing():
    row = result(duration_ms=2**70)
    assert json.loads(row.to_json())["duration_ms"] == 2**70
