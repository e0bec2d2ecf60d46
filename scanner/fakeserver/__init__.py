"""Scripted POP3/IMAP servers that replay real-server behaviour from TOML profiles (tests and ``mailprobe demo``)."""

from scanner.fakeserver.profile import (
    Answer,
    Hostile,
    Profile,
    ProfileError,
    bundled_profile,
    bundled_profile_names,
    load_profile,
    parse_profile,
)
from scanner.fakeserver.server import FakeServer, serve_all
from scanner.fakeserver.session import Credential, Received, Session

__all__ = [
    "Answer",
    "Credential",
    "FakeServer",
    "Hostile",
    "Profile",
    "ProfileError",
    "Received",
    "Session",
    "bundled_profile",
    "bundled_profile_names",
    "load_profile",
    "parse_profile",
    "serve_all",
]
