"""Governance through the real entry point: piped ``threadline console`` and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_console import llm_env, threadline as run_threadline
from tests.fakes.llm_server import DONE, FakeLLMServer, chunk, events, usage_chunk

USER = "alice"


async def threadline(
    cwd: Path, llm: FakeLLMServer, *args: str, stdin: str = "", **env: str
) -> tuple[int, str, str]:
    """``threadline ARGS`` as user ``alice`` (``tests.cli.test_console.threadline``)."""
    who = {"LOGNAME": USER, "USER": USER, **llm_env(llm, LLM_MODEL="fake-model"), **env}
    code, out, err = await run_threadline(*args, stdin=stdin, env=who, cwd=cwd)
    assert code is not None
    return code, out, err


def console(cwd: Path, llm: FakeLLMServer, stdin: str, **env: str):
    return threadline(cwd, llm, "console", "--channel", "demo", stdin=stdin, **env)


def known_usage(text: str, prompt_tokens: int, completion_tokens: int):
    """An answer whose usage chunk says exactly these token counts."""
    return events(
        chunk("", role="assistant"),
        chunk(text),
        chunk(finish_reason="stop"),
        usage_chunk(prompt_tokens, completion_tokens),
        DONE,
    )


@pytest.fixture
async def llm():
    async with FakeLLMServer() as server:
        yield server


async def test_a_blocked_user_is_told_on_stderr_and_nothing_reaches_the_model(
    tmp_path: Path, llm: FakeLLMServer
) -> None:
    code, out, err = await console(tmp_path, llm, "hello\n", BLOCKED_USERS=f"bob,{USER}")
    assert code == 1 and out == ""
    assert "an admin has blocked your access" in err
    assert llm.requests == []
    code, out, _ = await console(tmp_path, llm, "hello\n", ALLOWED_USERS=f"bob,{USER}")
    assert (code, out) == (0, "You said: hello\n")


async def test_channel_rules_and_the_access_switch_with_its_audit_entry(
    tmp_path: Path, llm: FakeLLMServer
) -> None:
    code, out, err = await console(tmp_path, llm, "hi\n", ALLOWED_CHANNELS="other")
    assert code == 1 and "not enabled in this channel" in err and llm.requests == []
    opened = "/access open\nhi\n/audit\n"
    code, out, err = await console(tmp_path, llm, opened, ALLOWED_CHANNELS="other")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "Access for this channel: open."
    assert lines[1] == "You said: hi"
    assert f"{USER} in console:local:demo: settings set access: default → open" in out
    code, out, err = await console(tmp_path, llm, "/access closed\nhi\n")
    assert code == 1 and "turned off in this channel" in err
    code, out, _ = await threadline(tmp_path, llm, "audit", "--platform", "console")
    assert code == 0
    assert out.index("access: open → closed") < out.index("access: default → open")


async def test_quota_reached_is_refused_with_which_quota_and_when_it_resets(
    tmp_path: Path, llm: FakeLLMServer
) -> None:
    llm.enqueue(known_usage("one", 60, 50))
    code, out, err = await console(tmp_path, llm, "one\ntwo\n", QUOTA_USER_DAILY_TOKENS="100")
    assert code == 1 and out == "one\n"
    assert "Your daily quota of 100 tokens is used up (110 used)" in err
    assert "It resets at " in err and " 00:00 UTC (in " in err
    assert len(llm.requests) == 1


async def test_flood_control_refuses_messages_past_the_limit(
    tmp_path: Path, llm: FakeLLMServer
) -> None:
    code, out, err = await console(tmp_path, llm, "a\nb\nc\n", USER_MESSAGES_PER_MINUTE="2")
    assert code == 1
    assert out == "You said: a\nYou said: b\n"
    assert "at most 2 questions a minute" in err and "not queued" in err
    assert len(llm.requests) == 2


async def test_usage_shows_tokens_and_cost_by_user_channel_and_model(
    tmp_path: Path, llm: FakeLLMServer
) -> None:
    llm.enqueue(known_usage("priced", 1_000_000, 500_000), known_usage("again", 500_000, 0))
    prices = "fake-model=2.00/10.00,gpt-4o=2.50/10.00"
    code, out, err = await console(tmp_path, llm, "a\nb\n/usage\n", MODEL_PRICES=prices)
    assert code == 0, err
    report = out.split("again\n", 1)[1]
    line = "2 requests, 1,500,000 in + 500,000 out tokens, $8.00"
    assert f"By user:\n  {USER}: {line}" in report
    assert f"By channel:\n  demo: {line}" in report
    assert f"By model:\n  fake-model: {line}" in report


async def test_forget_asks_first_then_erases_and_export_writes_a_file(
    tmp_path: Path, llm: FakeLLMServer
) -> None:
    code, out, err = await console(tmp_path, llm, "remember me\n/export mine.jsonl\n/forget\n")
    assert code == 0, err
    exported = [json.loads(line) for line in (tmp_path / "mine.jsonl").read_text().splitlines()]
    assert [(m["role"], m["content"]) for m in exported] == [
        ("user", "remember me"),
        ("assistant", "You said: remember me"),
    ]
    assert "This erases all 2 stored message(s)" in out and "forget confirm" in out
    code, out, _ = await console(tmp_path, llm, "/forget confirm\n/export after.jsonl\n/usage\n")
    assert "Done: 2 stored message(s) erased" in out
    assert (tmp_path / "after.jsonl").read_text() == ""
    assert "1 requests" in out  # usage figures stay
    code, out, _ = await console(tmp_path, llm, "fresh\n")
    assert [m["content"] for m in llm.requests[-1].body["messages"][1:]] == ["fresh"]


async def test_cli_forget_needs_yes(tmp_path: Path, llm: FakeLLMServer) -> None:
    await console(tmp_path, llm, "hello\n")
    forget = ("forget", "--user", USER, "--platform", "console")
    code, out, _ = await threadline(tmp_path, llm, *forget)
    assert code == 1 and "This erases all 2 stored message(s)" in out and "--yes" in out
    code, out, _ = await threadline(tmp_path, llm, *forget, "--yes")
    assert code == 0 and "2 stored message(s) erased" in out
    code, out, _ = await threadline(tmp_path, llm, "export", "--channel", "demo")
    assert out == ""
