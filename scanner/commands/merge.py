"""`mailprobe merge A.jsonl B.jsonl ... -o all.jsonl`: join the results of shards (or several scans) into one file.

One line per endpoint (address, port): when an endpoint appears more than once, the later line wins (a re-probe
in the TUI, or a later file on the command line), in the position where the endpoint first appeared.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from scanner.errors import UsageError
from scanner.model import EndpointResult, ScanInfo
from scanner.results_file import JsonlWriter, new_scan, read_result_file


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "merge",
        help="join JSON Lines results (e.g. of --shard runs) into one file",
        description="Join mailprobe JSON Lines files; an endpoint found in several keeps its last line.",
        epilog="example: mailprobe merge shard1.jsonl shard2.jsonl -o all.jsonl",
    )
    parser.add_argument("inputs", nargs="+", metavar="FILE", help="JSON Lines results of mailprobe scan")
    parser.add_argument("-o", "--output", required=True, metavar="FILE", help="file to write (replaced)")
    parser.add_argument(
        "--shards",
        type=int,
        metavar="N",
        help="the inputs are the N shards of one scan (--shard K/N or auto): refuse to merge when one is missing",
    )
    parser.set_defaults(func=run)


def merge(inputs: list[str]) -> tuple[ScanInfo, list[EndpointResult]]:
    """The scan line of the merged file (the inputs' targets, the ids it was merged from) and its results."""
    merged: dict[tuple[str, int], EndpointResult] = {}
    targets: dict[str, None] = {}
    sources: list[str] = []
    seen: dict[str, list[object]] = {}  # option -> its distinct values, in input order
    for path in inputs:
        file = read_result_file(path)
        for result in file.results:
            merged[result.key] = result  # dict keeps the first position, takes the latest value
        for scan in file.scans:
            targets.update(dict.fromkeys(scan.targets))
            sources.append(scan.scan_id)
            for key, value in scan.options.items():
                values = seen.setdefault(key, [])
                if value not in values:
                    values.append(value)
    # Shards share their options; scans run differently keep every value, so no report describes them by one.
    options = {key: values[0] if len(values) == 1 else values for key, values in seen.items()}
    info = new_scan(targets, {**options, "merged_from": sources})
    return info, list(merged.values())


def check_shards(info: ScanInfo, count: int) -> None:
    """Every shard K/count recorded in the inputs' scan lines, and no other: a missing pod's part is not merged
    silently into what looks like the whole scan."""
    if count < 1:
        raise UsageError(f"--shards {count}: must be at least 1")
    recorded = info.options.get("shard")
    found = set(recorded if isinstance(recorded, list) else [recorded])
    expected = {f"{k}/{count}" for k in range(1, count + 1)}
    missing = sorted(expected - found, key=lambda text: int(text.split("/")[0]))
    others = sorted(str(value) for value in found - expected)
    if missing or others:
        said = [f"shard{'s' if len(missing) > 1 else ''} {', '.join(missing)} missing"] if missing else []
        said += [f"not a shard of {count}: {', '.join(others)}"] if others else []
        raise UsageError(f"--shards {count}: {'; '.join(said)}")


def run(args: argparse.Namespace) -> int:
    for path in args.inputs:
        if not os.path.isfile(path):
            raise UsageError(f"{path}: no such file")
    info, results = merge(args.inputs)
    if args.shards is not None:
        check_shards(info, args.shards)
    target = Path(args.output)
    # write beside the target and rename, so an input may also be the output and a crash leaves the old file
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent if str(target.parent) else ".")
    os.close(fd)
    try:
        with JsonlWriter(temp, info) as writer:
            for result in results:
                writer.write(result)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    print(f"mailprobe: merged {len(results):,} endpoints from {len(args.inputs)} files into {target}", file=sys.stderr)
    return 0
