"""Bad configuration is refused at start with one line naming the variable (issue 9, items 12
and 13), for `run`, `console` and `doctor`, never with a traceback."""

from __future__ import annotations

import pytest

from tests.cli.test_console import llm_env, threadline

BAD_VALUES = [
    ("LLM_BASE_URL", "http://:99999/v1"),
    ("LLM_BASE_URL", "http:///v1/x"),
    ("LLM_BASE_URL", "http://localhost:65536/v1"),
    ("LLM_BASE_URL", "http://localhost:0/v1"),
    ("LLM_BASE_URL", "localhost:8080/v1"),
    ("LLM_BASE_URL", "http://local host/v1"),
    ("LLM_API_KEY", "sk-abc\u00e9def"),
    ("LLM_API_KEY", "sk-abc def"),
    ("DATABASE_URL", "postgresql://user:pw@db:abc/threadline"),
    ("DATABASE_URL", "postgresql://user@db:99999/threadline"),
    ("DATABASE_URL", "mysql://user@db/threadline"),
    ("LLM_FIRST_TOKEN_TIMEOUT", "inf"),
    ("LLM_IDLE_TIMEOUT", "1e400"),
    ("HISTORY_RETENTION_DAYS", "99999999999"),
    ("LLM_MAX_TOKENS", "40000"),
    ("LLM_MAX_TOKENS", "1000000000000000000000"),
    ("LLM_CONTEXT_TOKENS", "1000"),
]


@pytest.mark.parametrize("command", ["console", "doctor", "run"])
@pytest.mark.parametrize(("name", "value"), BAD_VALUES)
async def test_a_bad_value_is_one_line_naming_the_variable(tmp_path, command, name, value):
    env = {
        "LLM_API_KEY": "k",
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_APP_TOKEN": "xapp-1",
        name: value,
    }
    code, out, err = await threadline(command, stdin="hi\n", env=env, cwd=tmp_path)
    assert code == 2, (out, err)
    assert out == "" and err.count("\n") == 1, err
    assert err.startswith("threadline: ") and name in err and "Traceback" not in err
    assert "pw" not in err and "\u00e9" not in err  # secrets are never shown
    assert not (tmp_path / "xdg").exists()


async def test_max_tokens_names_the_context_window_it_must_fit(tmp_path):
    env = {"LLM_API_KEY": "k", "LLM_MAX_TOKENS": "40000"}
    _, _, err = await threadline("console", stdin="hi\n", env=env, cwd=tmp_path)
    assert "32768-token context window" in err and "at most 30873" in err
    assert "LLM_CONTEXT_TOKENS" in err


async def test_a_per_model_context_is_named_when_it_is_the_one_too_small(tmp_path):
    env = {"LLM_API_KEY": "k", "LLM_MODEL": "small", "LLM_MODEL_CONTEXT": "small=1024"}
    code, _, err = await threadline("doctor", env=env, cwd=tmp_path)
    assert code == 2 and "LLM_MODEL_CONTEXT" in err and "1024-token" in err


async def test_values_at_the_limits_still_start(tmp_path, llm):
    env = llm_env(
        llm,
        LLM_MAX_TOKENS="7526",
        LLM_CONTEXT_TOKENS="8192",
        LLM_BASE_URL=llm.base_url.replace("127.0.0.1", "localhost"),
        HISTORY_RETENTION_DAYS="36500",
    )
    code, out, err = await threadline("console", stdin="hi\n", env=env, cwd=tmp_path)
    assert (code, out) == (0, "You said: hi\n"), err
    assert llm.requests[0].body["max_tokens"] == 7526


async def test_purge_refuses_an_impossible_age_in_one_line(tmp_path):
    code, _, err = await threadline("purge", "--older-than", "99999999999", cwd=tmp_path)
    assert code == 2 and err.count("\n") == 1 and "--older-than" in err
