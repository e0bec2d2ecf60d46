"""Shared fixtures. Real-Dovecot fixtures live here; the harness itself is tests/dovecot.py.

Import style: tests/ and every folder in it are packages, and helpers are imported by their full name
(``from tests.report.report_samples import endpoint``); pytest puts the repository root on sys.path for them, so
``scanner`` imports without an install too. No test edits sys.path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.dovecot import DovecotInstance, close_all, require_dovecot, start_instance

DovecotFactory = Callable[..., DovecotInstance]


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("dovecot") is not None:
        require_dovecot()


@pytest.fixture
def dovecot_factory() -> Iterator[DovecotFactory]:
    """Start private Dovecots: factory(setup, *, address=None, ports=None, cert_path=None, key_path=None,
    users=2, extra_config="", dns_name=..., auth_penalty=False, extra_ports=()) -> a running DovecotInstance.
    All are stopped and their directories removed at teardown, also when the test fails."""
    require_dovecot()
    instances: list[DovecotInstance] = []

    def factory(setup: str = "plaintext_refused", **kwargs: object) -> DovecotInstance:
        instance = start_instance(setup, **kwargs)
        instances.append(instance)
        return instance

    yield factory
    close_all(instances)


@pytest.fixture(scope="session")
def _dovecot_session_pool() -> Iterator[dict[str, DovecotInstance]]:
    """Session instances by set-up, closed together at the end of the session."""
    pool: dict[str, DovecotInstance] = {}
    yield pool
    close_all(list(pool.values()))


def _session_instance(pool: dict[str, DovecotInstance], setup: str) -> DovecotInstance:
    require_dovecot()
    if setup not in pool:
        pool[setup] = start_instance(setup)
    return pool[setup]


# Shared by the whole session: do not reconfigure or stop these (use dovecot_factory for that).
@pytest.fixture(scope="session")
def dovecot_plaintext_refused(_dovecot_session_pool: dict[str, DovecotInstance]) -> DovecotInstance:
    return _session_instance(_dovecot_session_pool, "plaintext_refused")


@pytest.fixture(scope="session")
def dovecot_plaintext_allowed(_dovecot_session_pool: dict[str, DovecotInstance]) -> DovecotInstance:
    return _session_instance(_dovecot_session_pool, "plaintext_allowed")


@pytest.fixture(scope="session")
def dovecot_ssl_no(_dovecot_session_pool: dict[str, DovecotInstance]) -> DovecotInstance:
    return _session_instance(_dovecot_session_pool, "ssl_no")


@pytest.fixture(scope="session")
def dovecot_ssl_required(_dovecot_session_pool: dict[str, DovecotInstance]) -> DovecotInstance:
    return _session_instance(_dovecot_session_pool, "ssl_required")
