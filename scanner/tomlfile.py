"""Reading a user's TOML file (scan configuration, policy): every failure is one readable InputFileError."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from scanner.errors import InputFileError


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    """``what`` names the file in errors, e.g. "policy file" -> "policy file p.toml: bad TOML: ..."."""
    file = Path(path)
    try:
        return tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputFileError(f"{what} {file}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{what} {file}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputFileError(f"{what} {file}: bad TOML: {exc}") from None
