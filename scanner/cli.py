"""Command line: the only place that parses arguments. Each subcommand lives in its own module, which exposes
``register(subparsers)``; the parser it adds sets ``func`` (args -> exit code)."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from scanner import __version__
from scanner.errors import InterruptedAndSaid, MailprobeError

# Modules that add a subcommand, each named after its command. Append one line per new command.
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


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of ``command`` alone when it names one: a run imports only the module of the
    command it runs (start-up before a scan's first connect does not pay for the reports and the others)."""
    parser = Parser(
        prog="mailprobe",
        description="Check from the client side whether POP3/IMAP really refuse plaintext logins.",
    )
    parser.add_argument("--version", action="version", version=f"mailprobe {__version__}")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = [name for name in COMMANDS if name.rpartition(".")[2] == command]
    for module_name in chosen or COMMANDS:  # an unknown word: all of them, for the error that lists them
        importlib.import_module(module_name).register(subparsers)
    for name in PROBING:  # after the command too; SUPPRESS keeps a --debug given before it
        if name in subparsers.choices:
            subparsers.choices[name].add_argument(
                "--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP
            )
    return parser


PROBING = ("scan", "check", "demo")  # the commands that probe endpoints: they take --debug after their name too
DEBUG_HELP = (
    "log each endpoint's steps with their timings to stderr (connect, greeting, capabilities, login, STARTTLS, "
    "handshake, close); shows the table instead of the TUI"
)


def debug_to_stderr() -> logging.Handler:
    """The ``mailprobe`` loggers at DEBUG, written to stderr with the wall-clock time; returns the handler so that
    the caller can remove it again."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s.%(msecs)03d %(name)s: %(message)s", "%H:%M:%S"))
    logger = logging.getLogger("mailprobe")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    return handler


def command_word(argv: Sequence[str]) -> str | None:
    """The first word that is not an option: the command (mailprobe's own options before it take no value)."""
    return next((word for word in argv if not word.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(command_word(sys.argv[1:] if argv is None else argv))
    args, extra = parser.parse_known_args(argv)
    if extra:
        message = f"unrecognized arguments: {' '.join(extra)}"
        answer = getattr(args, "usage_error", None)  # a command may report bad usage its own way (check: UNKNOWN)
        if answer is not None:
            answer(message)
        prog = f"{parser.prog} {args.command}"  # the hint names the command's own --help
        parser.exit(2, f"{prog}: error: {message} (see '{prog} --help')\n")
    handler = debug_to_stderr() if args.debug else None
    try:
        return int(args.func(args))
    except MailprobeError as exc:
        print(f"mailprobe: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        if not isinstance(exc, InterruptedAndSaid):  # the scan's own line already says what was kept
            print("mailprobe: interrupted", file=sys.stderr)
        return 130
    finally:
        if handler is not None:
            logger = logging.getLogger("mailprobe")
            logger.removeHandler(handler)
            logger.setLevel(logging.NOTSET)
