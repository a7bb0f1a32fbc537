"""The core must not depend on any platform SDK or on the adapters."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("slack_bolt", "slack_sdk", "discord", "adapters")
"""aiohttp is a core dependency since the ops server (``bot.ops``) runs on aiohttp.web."""


def _bot_modules() -> list[str]:
    names = []
    for path in sorted((ROOT / "bot").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__main__":
            continue
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_importing_every_core_module_loads_no_platform_sdk():
    code = (
        "import importlib, json, sys\n"
        f"for name in {_bot_modules()!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = json.loads(out.stdout)
    leaked = [m for m in loaded if m.split(".")[0] in FORBIDDEN]
    assert leaked == []


def test_no_core_source_file_imports_a_platform_sdk():
    offenders = []
    for path in (ROOT / "bot").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []


ENGINE_PARTS = ("acceptance", "turns", "takeover", "live", "engine_config")
"""The modules ``bot.engine``'s facade is built from; they sit below it."""


def _imports_engine(node: ast.AST) -> bool:
    if isinstance(node, ast.Import):
        return any(alias.name == "bot.engine" for alias in node.names)
    if isinstance(node, ast.ImportFrom):
        named = node.module == "bot" and any(alias.name == "engine" for alias in node.names)
        return named or node.module == "bot.engine"
    return False


def test_the_engine_parts_never_import_the_engine():
    offenders = []
    for name in ENGINE_PARTS:
        tree = ast.parse((ROOT / "bot" / f"{name}.py").read_text())
        offenders += [name for node in ast.walk(tree) if _imports_engine(node)]
    assert offenders == []


def test_the_check_itself_sees_forbidden_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import discord\nfrom slack_bolt import App\n")
    tree = ast.parse(sample.read_text())
    found = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert found == ["discord"]
