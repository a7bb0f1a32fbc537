"""The console and the CLI driven end to end, as a user would, against the fake LLM server."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from tests.fakes.llm_server import FakeLLMServer, answer

ROOT = Path(__file__).resolve().parents[2]


async def threadline(*args, stdin="", env=None, cwd):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "SLACK_", "DISCORD_"))}
    base.update({"HOME": str(cwd), "XDG_DATA_HOME": str(cwd / "xdg"), "PYTHONPATH": str(ROOT)})
    base.pop("DATABASE_URL", None)
    base.update(env or {})
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=base,
        cwd=cwd,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 60)
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture
async def llm():
    async with FakeLLMServer() as server:
        yield server


def llm_env(server, **extra):
    return {"LLM_BASE_URL": server.base_url, "LLM_API_KEY": "test-key", **extra}


async def test_piped_console_streams_an_answer_and_remembers_it(tmp_path, llm):
    code, out, err = await threadline(
        "console", "--channel", "demo", stdin="hello\n", env=llm_env(llm), cwd=tmp_path
    )
    assert (code, out) == (0, "You said: hello\n"), err
    code, out, _ = await threadline(
        "console", "--channel", "demo", stdin="again\n", env=llm_env(llm), cwd=tmp_path
    )
    assert code == 0 and out == "You said: again\n"
    sent = [(m["role"], m["content"]) for m in llm.requests[1].body["messages"][1:]]
    assert sent == [("user", "hello"), ("assistant", "You said: hello"), ("user", "again")]
    assert llm.requests[0].headers["authorization"] == "Bearer test-key"
    assert (tmp_path / "xdg" / "threadline" / "threadline.db").exists()


async def test_channels_are_separate_and_each_line_is_a_message(tmp_path, llm):
    stdin = "one\n\ntwo\n"
    code, out, _ = await threadline(
        "console", "--channel", "a", stdin=stdin, env=llm_env(llm), cwd=tmp_path
    )
    assert code == 0 and out == "You said: one\nYou said: two\n"
    await threadline("console", "--channel", "b", stdin="three\n", env=llm_env(llm), cwd=tmp_path)
    assert [m["content"] for m in llm.requests[2].body["messages"][1:]] == ["three"]


async def test_console_commands_change_settings_and_reset(tmp_path, llm):
    stdin = "/settings set temperature 0.5\nhi\n/reset\nfresh\n/settings set top_p 7\n"
    code, out, _ = await threadline(
        "console", "--channel", "c", stdin=stdin, env=llm_env(llm), cwd=tmp_path
    )
    assert code == 0
    assert "temperature updated" in out
    assert "Not changed: top_p = '7' is not valid: expected a number from 0 to 1" in out
    assert llm.requests[0].body["temperature"] == 0.5
    assert [m["content"] for m in llm.requests[1].body["messages"][1:]] == ["fresh"]


async def test_sampling_defaults_from_environment_reach_the_request(tmp_path, llm):
    env = llm_env(llm, LLM_MODEL="my-model", LLM_MAX_TOKENS="77", LLM_STOP="END")
    llm.enqueue(answer("ok"))
    await threadline("console", stdin="x\n", env=env, cwd=tmp_path)
    body = llm.requests[0].body
    assert (body["model"], body["max_tokens"], body["stop"]) == ("my-model", 77, ["END"])
    assert body["stream"] is True


async def test_missing_api_key_is_one_line_and_writes_nothing(tmp_path):
    code, out, err = await threadline("console", stdin="hi\n", cwd=tmp_path)
    assert code == 2 and out == ""
    assert err.strip().count("\n") == 0 and "LLM_API_KEY is not set" in err
    assert not (tmp_path / "xdg").exists()


async def test_unreachable_endpoint_fails_clearly(tmp_path):
    env = {"LLM_BASE_URL": "http://127.0.0.1:9/v1", "LLM_API_KEY": "k", "LLM_MAX_RETRIES": "0"}
    code, out, err = await threadline("console", stdin="hi\n", env=env, cwd=tmp_path)
    assert (code, out) == (1, "")
    assert "unavailable" in err and "Traceback" not in err


async def test_unknown_model_fails_clearly(tmp_path):
    async with FakeLLMServer(models={"real-model"}) as server:
        env = llm_env(server, LLM_MODEL="no-such-model")
        code, _, err = await threadline("console", stdin="hi\n", env=env, cwd=tmp_path)
    assert code == 1 and "no-such-model" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"LLM_TEMPERATURE": "5"}, "LLM_TEMPERATURE: temperature = '5' is not valid"),
        ({"LLM_TOP_P": "-1"}, "LLM_TOP_P"),
        ({"LLM_BASE_URL": "nonsense"}, "LLM_BASE_URL"),
    ],
)
async def test_out_of_range_settings_are_refused_at_start(tmp_path, env, needle):
    code, _, err = await threadline(
        "console", stdin="hi\n", env={"LLM_API_KEY": "k", **env}, cwd=tmp_path
    )
    assert code == 2 and needle in err and err.count("\n") == 1


async def test_unwritable_database_path_is_one_clear_line(tmp_path, llm):
    env = llm_env(llm, DATABASE_URL="sqlite+aiosqlite:////dev/null/sub/threadline.db")
    code, _, err = await threadline("console", stdin="hi\n", env=env, cwd=tmp_path)
    assert code != 0 and "/dev/null/sub" in err and "Traceback" not in err
    assert llm.requests == []


async def test_corrupt_env_file_names_the_line(tmp_path):
    (tmp_path / ".env").write_text("LLM_API_KEY=k\nthis line is broken\n")
    code, _, err = await threadline("console", stdin="hi\n", cwd=tmp_path)
    assert code == 2 and "line 2" in err


async def test_env_file_configures_the_console(tmp_path, llm):
    (tmp_path / ".env").write_text(f"LLM_BASE_URL={llm.base_url}\nLLM_API_KEY=from-file\n")
    code, out, _ = await threadline("console", stdin="hey\n", cwd=tmp_path)
    assert (code, out) == (0, "You said: hey\n")
    assert llm.requests[0].headers["authorization"] == "Bearer from-file"


async def test_run_without_platforms_says_what_to_set(tmp_path):
    code, _, err = await threadline("run", env={"LLM_API_KEY": "k"}, cwd=tmp_path)
    assert code == 2 and "SLACK_BOT_TOKEN" in err and "DISCORD_TOKEN" in err


async def test_doctor_reports_each_check(tmp_path, llm):
    env = llm_env(llm)
    await threadline("db", "upgrade", env=env, cwd=tmp_path)
    code, out, _ = await threadline("doctor", env=env, cwd=tmp_path)
    assert code == 0, out
    assert [line.split()[:2] for line in out.splitlines()] == [
        ["config", "ok:"],
        ["database", "ok:"],
        ["llm", "ok:"],
    ]
    assert "test-key" not in out


async def test_doctor_names_what_failed(tmp_path):
    async with FakeLLMServer(api_key="right") as server:
        code, out, _ = await threadline("doctor", env=llm_env(server), cwd=tmp_path)
    lines = dict(line.split(None, 1) for line in out.splitlines())
    assert code == 1
    assert lines["llm"].startswith("FAILED") and lines["database"].startswith("FAILED")


async def test_db_upgrade_reports_the_revision(tmp_path):
    code, out, _ = await threadline("db", "upgrade", cwd=tmp_path)
    assert code == 0 and "is at revision" in out and "none" not in out
