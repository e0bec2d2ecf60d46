"""Command line: the only place that parses arguments. Each subcommand lives in its own module, which exposes
``register(subparsers)``; the parser it adds sets ``func`` (args -> exit code)."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from scanner import __version__
from scanner.errors import MailprobeError

# Modules that add a subcommand. Append one line per new command.
COMMANDS: tuple[str, ...] = (
    "scanner.commands.scan",
    "scanner.commands.merge",
    "scanner.commands.logs",
    "scanner.commands.demo",
    "scanner.commands.diff",
    "scanner.commands.report",
    "scanner.commands.check",
)


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: the problem and where to read more, not the whole usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="mailprobe",
        description="Check from the client side whether POP3/IMAP really refuse plaintext logins.",
    )
    parser.add_argument("--version", action="version", version=f"mailprobe {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMANDS:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        message = f"unrecognized arguments: {' '.join(extra)}"
        answer = getattr(args, "usage_error", None)  # a command may report bad usage its own way (check: UNKNOWN)
        if answer is not None:
            answer(message)
        prog = f"{parser.prog} {args.command}"  # the hint names the command's own --help
        parser.exit(2, f"{prog}: error: {message} (see '{prog} --help')\n")
    try:
        return int(args.func(args))
    except MailprobeError as exc:
        print(f"mailprobe: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("mailprobe: interrupted", file=sys.stderr)
        return 130
