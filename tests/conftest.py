"""Shared fixtures. Real-Dovecot fixtures live here; the harness itself is tests/dovecot.py."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

_TESTS = Path(__file__).resolve().parent
for _path in (_TESTS, _TESTS.parent):  # `from dovecot import ...` and `import scanner` without an install
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from dovecot import DovecotInstance, require_dovecot, start_instance  # noqa: E402

DovecotFactory = Callable[..., DovecotInstance]


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("dovecot") is not None:
        require_dovecot()


@pytest.fixture
def dovecot_factory() -> Iterator[DovecotFactory]:
    """Start private Dovecots: factory(setup, *, address=None, ports=None, cert_path=None, key_path=None,
    users=2, extra_config="", dns_name=...) -> a running DovecotInstance; all stopped and removed at teardown."""
    require_dovecot()
    instances: list[DovecotInstance] = []

    def factory(setup: str = "plaintext_refused", **kwargs: object) -> DovecotInstance:
        instance = start_instance(setup, **kwargs)
        instances.append(instance)
        return instance

    yield factory
    for instance in instances:
        instance.close()


def _session_instance(setup: str) -> Iterator[DovecotInstance]:
    require_dovecot()
    instance = start_instance(setup)
    try:
        yield instance
    finally:
        instance.close()


# Shared by the whole session: do not reconfigure these (use dovecot_factory for that).
@pytest.fixture(scope="session")
def dovecot_plaintext_refused() -> Iterator[DovecotInstance]:
    yield from _session_instance("plaintext_refused")


@pytest.fixture(scope="session")
def dovecot_plaintext_allowed() -> Iterator[DovecotInstance]:
    yield from _session_instance("plaintext_allowed")


@pytest.fixture(scope="session")
def dovecot_ssl_no() -> Iterator[DovecotInstance]:
    yield from _session_instance("ssl_no")


@pytest.fixture(scope="session")
def dovecot_ssl_required() -> Iterator[DovecotInstance]:
    yield from _session_instance("ssl_required")
