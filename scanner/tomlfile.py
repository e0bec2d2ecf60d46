"""Reading a user's TOML file (scan configuration, policy) with one readable UsageError for every failure."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from scanner.cli import UsageError


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    """``what`` names the file in errors, e.g. "policy file" -> "policy file p.toml: bad TOML: ..."."""
    file = Path(path)
    try:
        return tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{what} {file}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{what} {file}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{what} {file}: bad TOML: {exc}") from None
