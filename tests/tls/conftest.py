"""Fixtures shared by the TLS tests."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def dovecot_files() -> Iterator[Path]:
    """A directory for certificates a test's Dovecot reads: world-readable, unlike pytest's tmp_path (0700), since
    Dovecot's unprivileged processes open them."""
    directory = Path(tempfile.mkdtemp(prefix="mp-tls-"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)
