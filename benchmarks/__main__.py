"""``python -m benchmarks [--quick] [--only NAME] [--cache-dir DIR]``: print the §8 table.

Each measure runs in a child process (``--child NAME``), which prints its rows as one JSON line
after ``ROWS_MARKER``; the parent collects them and prints the environment line and the table.
A measure that crashes or overruns still gets a row, saying so.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.report import Options, Row, environment_line, make_row, render_table

ROOT = Path(__file__).resolve().parents[1]
MEASURES = (
    "latency",
    "first_edit",
    "cpu",
    "sse_readers",
    "rate_limits",
    "throughput",
    "finals",
    "discord_final",
    "memory",
    "context_load",
    "context_load_pg",
    "replicas",
)
ROWS_MARKER = "BENCHMARK-ROWS "
CHILD_TIMEOUT = {"quick": 120.0, "full": 900.0}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="Measure the performance goals of design §8."
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run, ~30 s)")
    parser.add_argument(
        "--only",
        action="append",
        choices=MEASURES,
        metavar="NAME",
        help=f"run only this measure (repeatable): {', '.join(MEASURES)}",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=ROOT / ".benchmarks",
        help="where built test databases are kept between runs (default: .benchmarks/)",
    )
    parser.add_argument("--child", choices=MEASURES, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    options = Options(quick=args.quick, cache_dir=args.cache_dir)
    if args.child:
        measured = asyncio.run(_measure(args.child, options))
        print(ROWS_MARKER + json.dumps([row.to_json() for row in measured]), flush=True)
        return 0
    rows: list[Row] = []
    for name in args.only or MEASURES:
        rows.extend(_run_child(name, options))
    print(environment_line())
    print(f"Sizes: {'--quick (smoke run, not the goals’ sizes)' if options.quick else 'full'}")
    print()
    print(render_table(rows))
    return 0 if all(row.ok is not False for row in rows) else 1


async def _measure(name: str, options: Options) -> list[Row]:
    module = importlib.import_module(f"benchmarks.{name}")
    rows: list[Row] = await module.measure(options)
    return rows


def _run_child(name: str, options: Options) -> list[Row]:
    command = [
        sys.executable,
        "-m",
        "benchmarks",
        "--child",
        name,
        "--cache-dir",
        str(options.cache_dir),
    ]
    if options.quick:
        command.append("--quick")
    timeout = CHILD_TIMEOUT["quick" if options.quick else "full"]
    print(f"running {name} …", file=sys.stderr, flush=True)
    started = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return [_broken(name, f"did not finish within {timeout:.0f} s")]
    print(f"  {name} took {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    for line in done.stdout.splitlines():
        if line.startswith(ROWS_MARKER):
            return [Row.from_json(data) for data in json.loads(line[len(ROWS_MARKER) :])]
    tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
    sys.stderr.write(done.stderr)
    return [_broken(name, f"crashed (exit {done.returncode}): {tail}")]


def _broken(name: str, why: str) -> Row:
    return make_row(name, f"error: {why}", False, "the measure did not complete")


if __name__ == "__main__":
    sys.exit(main())
