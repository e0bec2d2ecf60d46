"""`mailprobe scan` as a user runs it, against hostile servers: a row for each, and stdout and stderr carry only
mailprobe's own words (no raw escape sequence, no traceback, no library warning)."""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import sys
from contextlib import AsyncExitStack
from pathlib import Path

from .channels import PAYLOAD, RAW_LEAKS
from .servers import Handler, line, reset, say, serve
from .test_hostile_probe import banner, hostile_chain, imap, imap_over_tls, pop3, sasl_forever, upgrade_then


async def reset_after_greeting(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    await say(w, b"* OK ready")
    await line(r)
    reset(w)


EVIL = PAYLOAD.encode()[:80]
SERVERS: list[tuple[str, Handler]] = [
    ("imap", imap(greeting=b"* OK [CAPABILITY IMAP4rev1 STARTTLS] " + PAYLOAD.replace("\r", "").replace("\n", "")
                  .encode(), login=b"OK =HYPERLINK(\"http://evil.example/\") \x1b]0;owned\x07")),
    ("imap", sasl_forever(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] " + EVIL, b"NO " + EVIL)),
    ("imap", reset_after_greeting),
    ("imap", banner(b"HTTP/1.1 400 Bad Request\r\n\x1b[2J\r\n")),
    ("imap", banner(bytes(range(1, 256)))),
    ("pop3", pop3(capa=(b"+OK",))),
]  # fmt: skip


async def run_cli(*args: str) -> tuple[int, str, str]:
    env = {**os.environ, "NO_COLOR": "1", "PYTHONWARNINGS": "default"}  # any warning would be printed
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "scanner", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=env,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def negative_serial_server(tmp_path: Path) -> Handler:
    """STARTTLS to a certificate with a negative serial (a library warning, were it parsed carelessly)."""
    chain, key_pem = hostile_chain("negative serial")
    cert_path, key_path = tmp_path / "chain.pem", tmp_path / "key.pem"
    cert_path.write_text("".join(ssl.DER_cert_to_PEM_cert(der) for der in chain))
    key_path.write_bytes(key_pem)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_path, key_path)
    return imap(greeting=b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready", caps=b"IMAP4rev1 STARTTLS",
                on_starttls=upgrade_then(ctx, imap_over_tls(b"NO [AUTHENTICATIONFAILED] no")))  # fmt: skip


async def test_scan_of_hostile_servers_prints_only_its_own_words(tmp_path: Path) -> None:
    servers = [*SERVERS, ("imap", negative_serial_server(tmp_path))]
    async with AsyncExitStack() as stack:
        targets = []
        for protocol, handler in servers:
            srv = await stack.enter_async_context(serve(handler))
            targets.append(f"{protocol}://127.0.0.1:{srv.port}")
        table = await run_cli("scan", *targets, "--no-tui", "--timeout", "1", "--no-legacy-tls")
        as_json = await run_cli("scan", *targets, "--no-tui", "--timeout", "1", "--no-legacy-tls", "--format", "json")
    for code, out, err in (table, as_json):
        assert code in (0, 1), err
        for text in (out, err):
            assert not RAW_LEAKS.search(text.replace("\n", "")), text
            assert "Traceback" not in text and "Warning" not in text and "Error:" not in text, text
    rows = json.loads(as_json[1])["results"]
    assert len(rows) == len(servers)  # a row for every hostile server
    assert all("internal error" not in (r.get("error") or "") for r in rows)
    assert sum(1 for line_ in table[1].splitlines() if "127.0.0.1" in line_) >= len(servers)
    assert any(r["tls"] and r["tls"]["certificate"] for r in rows)  # the odd certificate was judged
