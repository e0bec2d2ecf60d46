"""Errors every layer may raise and only the command line turns into a message and an exit code.

This module imports nothing (least of all argparse or scanner.cli), so the engine, reports and configuration can raise
these without depending on the layer above them. ``scanner.cli.main`` prints ``mailprobe: error: <message>`` on one
line and exits with the error's ``exit_code``.
"""

from __future__ import annotations


class MailprobeError(Exception):
    """Base of the errors the command line reports as one readable line; ``exit_code`` is what the process returns."""

    exit_code: int = 2


class UsageError(MailprobeError):
    """A bad target, flag or file named by the user: one readable line, exit code 2."""

    exit_code = 2


class InputFileError(UsageError):
    """A file the user named (configuration, policy, results) is missing, unreadable or malformed."""


class InterruptedAndSaid(KeyboardInterrupt):
    """Ctrl-C after the command has already told the user what was kept and how to go on: exit 130, nothing more."""
