"""Small helpers for the words mailprobe prints: counts with the right plural."""

from __future__ import annotations

_IRREGULAR = {"address": "addresses", "this": "these", "is": "are", "was": "were", "has": "have"}


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """'1 finding', '2 findings', '1,204 endpoints'; ``plural_form`` for nouns not formed with -s."""
    if count == 1:
        return f"1 {noun}"
    return f"{count:,} {plural_form or _IRREGULAR.get(noun) or noun + 's'}"
