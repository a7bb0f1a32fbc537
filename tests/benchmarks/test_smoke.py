"""Smoke test: ``python -m benchmarks --quick`` runs every measure and prints a complete table.

No timing is asserted (the figures depend on the machine); what must hold is that every row of
design §8 is there, measured (a number, not an error), with its goal and a pass/fail mark.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from benchmarks.__main__ import MEASURES
from benchmarks.report import GOALS, Row, percentile, render_table

ROOT = Path(__file__).resolve().parents[2]


def _table_rows(output: str) -> dict[str, list[str]]:
    rows = {}
    for line in output.splitlines():
        if line.startswith("| ") and not line.startswith(("| measure ", "| ---")):
            cells = [cell.strip() for cell in line.strip("|").split(" | ")]
            rows[cells[0]] = cells
    return rows


def test_quick_run_prints_every_row_measured(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--cache-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode in (0, 1), done.stderr[-3000:]
    assert done.stdout.startswith("Environment: "), done.stdout[:500]
    assert "SQLite " in done.stdout.splitlines()[0]
    rows = _table_rows(done.stdout)
    assert set(rows) == {measure for measure, _goal in GOALS.values()}, done.stdout
    for measure, goal in GOALS.values():
        _name, shown_goal, measured, result, conditions = rows[measure]
        assert shown_goal == goal
        assert not measured.startswith("error"), f"{measure}: {measured}\n{done.stderr[-3000:]}"
        assert re.search(r"\d", measured), f"{measure}: no number in {measured!r}"
        assert "nan" not in measured, f"{measure}: {measured!r}"
        assert result in ("✅ pass", "❌ FAIL", "n/a")
        assert conditions


def test_every_measure_has_a_goal_and_a_module() -> None:
    assert set(MEASURES) == {name.removesuffix("_core") for name in GOALS}
    for name in MEASURES:
        module = __import__(f"benchmarks.{name}", fromlist=["measure"])
        assert name == module.NAME
        assert callable(module.measure)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([3.0], 99) == 3.0
    assert percentile([], 50) != percentile([], 50)  # NaN for no samples


def test_table_escapes_pipes_and_marks_results() -> None:
    row = Row("cpu", "a|b", "< 1", "2", False, "x")
    table = render_table([row, Row("cpu", "m", "g", "v", True, "c")])
    assert "a\\|b" in table
    assert "❌ FAIL" in table and "✅ pass" in table
