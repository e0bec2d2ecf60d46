"""Screens of the mailprobe TUI: endpoint details, export, quit confirmation."""
