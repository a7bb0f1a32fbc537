"""Result rows, statistics and the Markdown table the benchmarks print."""

from __future__ import annotations

import math
import os
import platform
import sqlite3
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

GOALS: dict[str, tuple[str, str]] = {
    "latency": (
        "bot-added latency, event received → completion request sent",
        "p99 < 10 ms with 500 concurrent conversations",
    ),
    "first_edit": (
        "first delta received → first visible edit sent",
        "p99 < 50 ms (first delta is never throttled)",
    ),
    "cpu_core": ("CPU per streamed delta through engine + reply + sink", "< 20 µs"),
    "cpu": (
        "CPU per streamed delta, also counting the httpx client reading SSE over loopback",
        "≤ 50 µs (issue 10)",
    ),
    "sse_readers": (
        "CPU per delta reading SSE: httpx, httpx over aiohttp, aiohttp, a raw protocol; "
        "asyncio and uvloop",
        "the bot's reader ≤ 50 µs (SSE read and parse)",
    ),
    "rate_limits": (
        "platform 429s under fair scheduling, 200 streams in one Slack workspace",
        "0, and every final message exact",
    ),
    "throughput": (
        "answers finished per minute in one Slack workspace (10 channels, documented budgets)",
        "≥ 150/min, 0 × 429, every answer exact",
    ),
    "finals": (
        "3 simultaneous Slack mentions, 7,078-char answers streamed in ~3.2 s, chat.update "
        "10/10 s: last write after the first request",
        "≤ 5 s, 0 × 429",
    ),
    "discord_final": (
        "Discord mention, the same answer, 5 edits / 5 s per route: final after the request",
        "≤ 3.5 s",
    ),
    "memory": ("memory per active stream", "≤ 32 KB (issue 10; design §8: < 50 KB)"),
    "context_load": (
        "load context for one conversation from a 1,000,000-message SQLite store",
        "p99 < 5 ms",
    ),
    "context_load_pg": (
        "load context for one conversation from a 1,000,000-message PostgreSQL store",
        "p99 < 5 ms",
    ),
    "replicas": (
        "answers per second, two `threadline run` replicas on one PostgreSQL, fast fake model",
        "every answer delivered exactly once; throughput reported",
    ),
}
"""Design §8, row by row: measure name → (what is measured, the goal)."""


@dataclass(frozen=True, slots=True)
class Options:
    """What every measure is given: small sizes or full ones, and where to cache big files."""

    quick: bool
    cache_dir: Path


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table: a goal of design §8 and what was measured for it."""

    key: str
    measure: str
    goal: str
    measured: str
    ok: bool | None
    conditions: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Row:
        return cls(**data)


def make_row(key: str, measured: str, ok: bool | None, conditions: str) -> Row:
    """The row for design §8 measure ``key``."""
    measure, goal = GOALS[key]
    return Row(key, measure, goal, measured, ok, conditions)


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (0 < q <= 100) of ``values``; NaN if empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    """Seconds as milliseconds with a sensible number of digits."""
    value = seconds * 1000
    return (
        f"{value:.2f} ms" if value < 10 else f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms"
    )


def count(n: float) -> str:
    """A count with thousands separators."""
    return f"{n:,.0f}"


def mark(ok: bool | None) -> str:
    return "n/a" if ok is None else "✅ pass" if ok else "❌ FAIL"


def render_table(rows: Sequence[Row]) -> str:
    """The Markdown table: measure, goal, measured value, pass/fail, conditions."""
    lines = [
        "| measure | goal | measured | result | conditions |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        cells = [row.measure, row.goal, row.measured, mark(row.ok), row.conditions]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)


def environment_line() -> str:
    """CPU, core count, OS, Python, SQLite and the main library versions."""
    versions = ", ".join(
        f"{name} {_version(name)}" for name in ("httpx", "SQLAlchemy", "aiosqlite")
    )
    return (
        f"Environment: {_cpu_model()} ({os.cpu_count()} cores), {platform.system()} "
        f"{platform.release()}, Python {sys.version.split()[0]} "
        f"({platform.python_implementation()}), SQLite {sqlite3.sqlite_version}, {versions}"
    )


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or platform.machine() or "unknown CPU"
