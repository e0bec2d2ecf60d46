"""Run `mailprobe logs` as the CLI does, with only the logs subcommand registered.

Keeps these tests about log analysis independent of other subcommands' imports; test_logs_cli.py checks the real
wiring through scanner.cli.main once.
"""

from __future__ import annotations

import argparse
import sys

from scanner.commands import logs
from scanner.errors import UsageError


def logs_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mailprobe")
    logs.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["logs", *argv])
    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"mailprobe: error: {exc}", file=sys.stderr)
        return 2
