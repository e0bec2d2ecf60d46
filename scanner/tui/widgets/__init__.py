"""Widgets of the mailprobe TUI."""
