"""Full TLS enumerations shared between the processes of one scan (``--workers``), so that a pool behind one
certificate is enumerated in full once per scan rather than once per process.

Within a process, scanner.scan.tls_share lets the first server presenting a chain enumerate it and the others
confirm against it. Across the forked workers of a scan that is done through a directory the parent makes before
the fork: the first process to need a chain claims it (a file created with O_EXCL, which only one process can),
enumerates, and publishes the configuration (written to a temporary name, then renamed: a reader sees all of it or
nothing); the other processes wait for it and confirm their servers against it. An enumeration that stopped early
is published as such, and then every process enumerates for itself, as it would alone. A process that waits longer
than an enumeration may last (its claimant killed, say) stops waiting and enumerates too: the board saves work, it
never holds a scan up.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import time
from pathlib import Path

from scanner.model import TlsConfiguration, configuration_from_dict, configuration_to_dict

ChainKey = tuple[bytes, str | None, str | None]  # chain digest, version, cipher (as scanner.scan.tls_share's)
Known = tuple[TlsConfiguration, str]  # the configuration and where it was enumerated ("address:port")

WAIT_LIMIT = 60.0  # seconds: longer than an enumeration may last (45 s, plus the backoff of refused connects)
POLL = 0.02


class ChainBoard:
    def __init__(self, directory: Path, *, wait_limit: float = WAIT_LIMIT, poll: float = POLL) -> None:
        self.directory = directory
        self._wait_limit = wait_limit
        self._poll = poll

    def claim(self, chain: ChainKey) -> bool:
        """True for the one process that is to enumerate ``chain`` (the first to ask)."""
        try:
            os.close(os.open(self._path(chain, ".claim"), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            return False
        except OSError:
            return True  # the directory is gone or unwritable: enumerate here, as a process alone would
        return True

    def publish(self, chain: ChainKey, known: Known | None) -> None:
        """What the claimant got: the configuration and where, or None (nothing worth confirming against)."""
        document = {"where": known[1], "configuration": configuration_to_dict(known[0])} if known else {}
        final = self._path(chain, ".json")
        temporary = final.with_suffix(f".{os.getpid()}.tmp")
        with contextlib.suppress(OSError):
            temporary.write_text(json.dumps(document))
            temporary.replace(final)

    async def wait(self, chain: ChainKey) -> Known | None:
        """What the claimant of ``chain`` published, once it has; None when it found nothing worth sharing or did
        not publish within the wait limit."""
        path = self._path(chain, ".json")
        deadline = time.monotonic() + self._wait_limit
        while time.monotonic() < deadline:
            try:
                document = json.loads(path.read_text())
            except FileNotFoundError:
                await asyncio.sleep(self._poll)
                continue
            except (OSError, ValueError):
                return None
            if not document:
                return None
            return configuration_from_dict(document["configuration"]), str(document["where"])
        return None

    def _path(self, chain: ChainKey, suffix: str) -> Path:
        digest, version, cipher = chain
        name = hashlib.sha256(digest + f"|{version}|{cipher}".encode()).hexdigest()
        return self.directory / f"{name}{suffix}"
