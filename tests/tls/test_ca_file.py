"""A bad --ca-file is one readable line and exit 2, before any packet: checked with a listener that counts visitors."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from scanner.certgen import make_ca
from scanner.tls.trust import TrustStoreError, check_ca_file

ROOT = Path(__file__).resolve().parents[2]


def _bad_files(directory: Path) -> dict[str, tuple[Path, str]]:
    ca = make_ca("mailprobe test CA")
    pem = ca.write(directory, "good")
    der = directory / "ca.der"
    der.write_bytes(ca.cert.public_bytes(Encoding.DER))
    empty = directory / "empty.pem"
    empty.write_bytes(b"")
    text = directory / "notes.txt"
    text.write_text("this is not a certificate\n")
    garbled = directory / "garbled.pem"
    garbled.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    unreadable = directory / "secret.pem"
    unreadable.write_bytes(pem.read_bytes())
    unreadable.chmod(0)
    folder = directory / "certs"
    folder.mkdir()
    return {
        "missing": (directory / "nope.pem", "No such file"),
        "directory": (folder, "is a directory"),
        "empty": (empty, "empty"),
        "der": (der, "DER"),
        "text": (text, "no PEM certificate"),
        "garbled": (garbled, "none of which can be parsed"),
        "unreadable": (unreadable, "Permission denied"),
    }


@pytest.fixture
def bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    return _bad_files(tmp_path)


def test_a_good_ca_file_passes(tmp_path: Path) -> None:
    assert check_ca_file(make_ca("mailprobe test CA").write(tmp_path, "ca")) == 1


@pytest.mark.parametrize("kind", ["missing", "directory", "empty", "der", "text", "garbled", "unreadable"])
def test_bad_ca_file_is_refused_with_its_reason(bad_files: dict[str, tuple[Path, str]], kind: str) -> None:
    path, words = bad_files[kind]
    if kind == "unreadable" and os.geteuid() == 0:
        pytest.skip("root reads any file")
    with pytest.raises(TrustStoreError, match=words):
        check_ca_file(path)


@pytest.mark.parametrize("kind", ["directory", "empty", "der", "garbled"])
def test_bad_ca_file_exits_2_before_any_packet(bad_files: dict[str, tuple[Path, str]], kind: str) -> None:
    path, words = bad_files[kind]
    with socket.socket() as listener:
        listener.bind(("127.0.0.2", 0))
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "scanner",
                "scan",
                "127.0.0.2",
                "-p",
                f"imap:{port}",
                "--no-tui",
                "--source-address",
                "127.0.0.1",
                "--ca-file",
                str(path),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
        )
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected: the file was judged before the scan began
    assert done.returncode == 2, done
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--ca-file" in lines[0] and words in lines[0], done.stderr
    assert "Traceback" not in done.stderr
