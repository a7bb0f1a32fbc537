"""``threadline usage`` through the CLI: reported and estimated tokens, grouped, table or JSON.

Two console conversations: in ``billed`` the endpoint reports usage; in ``counted`` it reports
none (llama.cpp, older vLLM), so the engine records an estimate marked as one.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from bot.cli import USAGE_GROUPINGS
from bot.config import DEFAULT_MODEL
from bot.store.usage import GROUPINGS
from tests.cli.test_console import llm_env, threadline
from tests.fakes.llm_server import FakeLLMServer, answer


async def _two_conversations(tmp_path: Path, llm: FakeLLMServer) -> None:
    llm.enqueue(answer("Billed answer.", prompt_tokens=50), answer("Counted answer.", usage=False))
    for channel in ("billed", "counted"):
        code, _, err = await threadline(
            "console", "--channel", channel, stdin="hello\n", env=llm_env(llm), cwd=tmp_path
        )
        assert code == 0, err


async def _usage(tmp_path: Path, llm: FakeLLMServer, *args: str) -> tuple[int, str, str]:
    result: tuple[int, str, str] = await threadline("usage", *args, env=llm_env(llm), cwd=tmp_path)
    return result


async def test_usage_by_channel_keeps_estimates_apart(tmp_path: Path, llm: FakeLLMServer) -> None:
    await _two_conversations(tmp_path, llm)
    code, out, err = await _usage(tmp_path, llm, "--by", "channel", "--json")
    assert code == 0, err
    rows = {row["group"]: row for row in json.loads(out)}
    assert set(rows) == {"billed", "counted"}
    billed, counted = rows["billed"], rows["counted"]
    assert (billed["prompt_tokens"], billed["estimated_tokens"]) == (50, 0)
    assert billed["completion_tokens"] > 0 and billed["reported_tokens"] == billed["total_tokens"]
    assert (counted["requests"], counted["estimated_requests"]) == (1, 1)
    assert counted["prompt_tokens"] > 0 and counted["completion_tokens"] > 0
    assert counted["estimated_tokens"] == counted["total_tokens"]
    assert counted["reported_tokens"] == 0
    assert counted["platform"] == "console" and counted["workspace"] == "local"


async def test_usage_table_marks_estimated_figures(tmp_path: Path, llm: FakeLLMServer) -> None:
    await _two_conversations(tmp_path, llm)
    code, out, err = await _usage(tmp_path, llm, "--by", "channel")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == [
        "CHANNEL", "PLATFORM", "WORKSPACE", "REQUESTS", "PROMPT", "COMPLETION", "TOTAL", "ESTIMATED"
    ]  # fmt: skip
    billed = next(line for line in lines if line.startswith("billed"))
    counted = next(line for line in lines if line.startswith("counted"))
    assert "*" not in billed and billed.split()[4] == "50"
    assert counted.split()[4].endswith("*") and counted.split()[-1] != "0"
    assert lines[-2].startswith("total") and lines[-2].split()[1] == "2"
    assert "ESTIMATED" in lines[-1] and "reported no usage" in lines[-1]


async def test_usage_by_model_and_by_day(tmp_path: Path, llm: FakeLLMServer) -> None:
    await _two_conversations(tmp_path, llm)
    _, out, _ = await _usage(tmp_path, llm, "--by", "model", "--json")
    [model] = json.loads(out)
    assert (model["group"], model["requests"], model["estimated_requests"]) == (
        DEFAULT_MODEL,
        2,
        1,
    )
    _, out, _ = await _usage(tmp_path, llm, "--by", "day", "--json")
    [day] = json.loads(out)
    assert day["group"] == datetime.now(UTC).date().isoformat() and day["requests"] == 2


async def test_usage_filters_and_bad_options(tmp_path: Path, llm: FakeLLMServer) -> None:
    await _two_conversations(tmp_path, llm)
    code, out, _ = await _usage(tmp_path, llm, "--platform", "slack")
    assert (code, out.strip()) == (0, "no usage recorded in the last 30 days")
    code, out, _ = await _usage(tmp_path, llm, "--workspace", "local", "--by", "user", "--json")
    assert [row["requests"] for row in json.loads(out)] == [2]
    code, _, err = await _usage(tmp_path, llm, "--days", "0")
    assert code == 2 and "--days" in err
    assert USAGE_GROUPINGS == GROUPINGS
