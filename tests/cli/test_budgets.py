"""max_tokens against the model's context window, and prompts that do not fit (issue 9, item 12),
through `threadline console`."""

from __future__ import annotations

from tests.cli.test_console import llm_env, threadline


async def test_settings_refuse_a_max_tokens_the_context_cannot_hold(tmp_path, llm):
    stdin = "/settings set max_tokens 1000000000000000000000\n/settings set max_tokens 30874\nhi\n"
    code, out, err = await threadline("console", stdin=stdin, env=llm_env(llm), cwd=tmp_path)
    assert code == 0, err
    refusals = [line for line in out.splitlines() if line.startswith("Not changed:")]
    assert len(refusals) == 2
    assert "32768-token context window" in refusals[0] and "at most 30873" in refusals[0]
    assert llm.requests[0].body["max_tokens"] == 1024


async def test_a_model_change_is_checked_against_the_channel_max_tokens(tmp_path, llm):
    env = llm_env(llm, LLM_MODEL_CONTEXT="small=8192")
    stdin = (
        "/settings set max_tokens 20000\n"
        "/settings set model small\n"  # refused: 20000 does not fit 8192
        "/settings set max_tokens 4000\n"
        "/settings set model small\n"  # fine now
        "/settings set max_tokens 9000\n"  # refused: checked against small
        "hi\n"
    )
    code, out, err = await threadline("console", stdin=stdin, env=env, cwd=tmp_path)
    assert code == 0, err
    refusals = [line for line in out.splitlines() if line.startswith("Not changed:")]
    assert len(refusals) == 2, out
    assert "8192-token context window of small" in refusals[0]
    assert "lower max_tokens first" in refusals[0]
    assert "8192-token context window of small" in refusals[1]
    body = llm.requests[0].body
    assert (body["model"], body["max_tokens"]) == ("small", 4000)


async def test_a_system_prompt_too_long_for_the_context_is_named(tmp_path, llm):
    env = llm_env(llm, LLM_CONTEXT_TOKENS="2048", LLM_SYSTEM_PROMPT="be brief. " * 600)
    code, out, err = await threadline("console", stdin="hi\n", env=env, cwd=tmp_path)
    assert (code, out) == (1, "")
    assert "system prompt" in err and "shorten it" not in err
    assert llm.requests == []


async def test_a_message_too_long_alone_says_so_with_its_size(tmp_path, llm):
    code, _, err = await threadline(
        "console", stdin="x" * 200_000 + "\n", env=llm_env(llm), cwd=tmp_path
    )
    assert code == 1 and "That message is too long" in err and "about 60004 tokens" in err
    assert llm.requests == []
