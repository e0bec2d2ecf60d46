"""Subcommands of the mailprobe CLI, one module each."""
