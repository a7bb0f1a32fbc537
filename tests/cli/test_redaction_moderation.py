"""What leaves the workspace, end to end through ``threadline console`` piped: redaction
(placeholders out, real values back in what is printed and stored) and moderation (a flagged
question, a flagged answer, the endpoint down in both fail modes) against the fake endpoint."""

from __future__ import annotations

import json

import pytest

from tests.cli.test_console import llm_env, threadline
from tests.fakes.llm_server import FakeLLMServer, answer, completion, error
from tests.fakes.outage import sqlite_rows

SECRET_LINE = "mail a@x.io, card 4111 1111 1111 1111, key sk-abc123DEF456ghi789JKL0"


@pytest.fixture
async def llm():
    async with FakeLLMServer(chunk_chars=3) as server:  # placeholders split across deltas
        yield server


def rows(tmp_path):
    db = tmp_path / "xdg" / "threadline" / "threadline.db"
    found = sqlite_rows(db, "SELECT role, content, status, extra FROM messages ORDER BY id")
    return [
        (role, content, status, json.loads(extra or "{}")) for role, content, status, extra in found
    ]


def chats(llm):
    return [r for r in llm.requests if r.path.endswith("/chat/completions")]


def sent(request):
    return [(m["role"], m["content"]) for m in request.body["messages"][1:]]


async def test_prompt_carries_placeholders_and_the_user_sees_and_keeps_real_values(tmp_path, llm):
    env = llm_env(llm, REDACT="all")
    code, out, err = await threadline(
        "console", "--channel", "r", stdin=SECRET_LINE + "\nagain a@x.io\n", env=env, cwd=tmp_path
    )
    assert code == 0, err
    assert out == f"You said: {SECRET_LINE}\nYou said: again a@x.io\n"
    first, second = chats(llm)
    assert sent(first) == [("user", "mail [EMAIL_1], card [CARD_1], key [KEY_1]")]
    assert sent(second) == [
        ("user", "mail [EMAIL_1], card [CARD_1], key [KEY_1]"),
        ("assistant", "You said: mail [EMAIL_1], card [CARD_1], key [KEY_1]"),
        ("user", "again [EMAIL_1]"),
    ]
    assert "a@x.io" not in json.dumps([r.body for r in llm.requests])
    stored = [(role, content, status) for role, content, status, _ in rows(tmp_path)]
    assert stored == [
        ("user", SECRET_LINE, "complete"),
        ("assistant", f"You said: {SECRET_LINE}", "complete"),
        ("user", "again a@x.io", "complete"),
        ("assistant", "You said: again a@x.io", "complete"),
    ]


async def test_custom_patterns_are_redacted_too(tmp_path, llm):
    env = llm_env(llm, REDACT_PATTERNS=r"ticket=TICKET-\d+")
    code, out, _ = await threadline("console", stdin="see TICKET-981\n", env=env, cwd=tmp_path)
    assert (code, out) == (0, "You said: see TICKET-981\n")
    assert sent(chats(llm)[0]) == [("user", "see [TICKET_1]")]


def moderated_env(llm, **extra):
    return llm_env(llm, MODERATION_URL=llm.base_url, **extra)


async def test_flagged_question_gets_a_notice_and_never_reaches_the_model(tmp_path, llm):
    llm.flag("bomb")
    env = moderated_env(llm, REDACT="email", MODERATION_MODEL="omni-moderation-latest")
    stdin = "a bomb for a@x.io\nhello\n"
    code, out, err = await threadline(
        "console", "--channel", "m", stdin=stdin, env=env, cwd=tmp_path
    )
    assert code == 1
    notice = "Your message was not sent to the model: the content check flagged it (violence)."
    assert f"threadline: {notice}" in err
    assert out.endswith("You said: hello\n")
    (chat,) = chats(llm)  # only the second question went to the model, without the first
    assert sent(chat) == [("user", "hello")]
    checked = llm.moderations[0]
    assert checked.body == {"input": "a bomb for [EMAIL_1]", "model": "omni-moderation-latest"}
    assert checked.headers["authorization"] == "Bearer test-key"
    stored = [(role, content, status) for role, content, status, _ in rows(tmp_path)]
    assert stored[:2] == [("user", "a bomb for a@x.io", "failed"), ("assistant", notice, "failed")]


async def test_flagged_answer_is_replaced_by_a_notice_and_kept_for_admins(tmp_path, llm):
    llm.flag("bomb", category="harassment")
    llm.enqueue(answer("Here is a bomb recipe"))
    env = moderated_env(llm)
    stdin = "tell me a story\nnext\n"
    code, _, err = await threadline("console", "--channel", "a", stdin=stdin, env=env, cwd=tmp_path)
    assert code == 1
    notice = "The answer was withheld: the content check flagged it (harassment)."
    assert f"threadline: {notice}" in err
    inputs = [m.body["input"] for m in llm.moderations]
    assert inputs == ["tell me a story", "Here is a bomb recipe", "next", "You said: next"]
    assert sent(chats(llm)[1]) == [("user", "tell me a story"), ("user", "next")]
    answer_row = rows(tmp_path)[1]
    assert answer_row[:3] == ("assistant", notice, "failed")
    assert answer_row[3]["moderated_text"] == "Here is a bomb recipe"


async def test_moderation_down_fails_open_with_a_warning(tmp_path, llm):
    llm.enqueue_moderation(error(503), completion({"results": []}, delay=30))
    env = moderated_env(llm, MODERATION_TIMEOUT="0.5")
    code, out, err = await threadline("console", stdin="hi\n", env=env, cwd=tmp_path)
    assert (code, out) == (0, "You said: hi\n"), err
    assert "moderation unavailable (HTTP 503): the question goes on unchecked" in err
    assert "moderation unavailable (no answer within 0.5s): the answer goes on unchecked" in err


async def test_moderation_down_fails_closed_when_asked(tmp_path, llm):
    llm.enqueue_moderation(error(503))
    env = moderated_env(llm, MODERATION_FAIL_CLOSED="true")
    code, out, err = await threadline("console", stdin="hi\n", env=env, cwd=tmp_path)
    assert (code, out) == (1, "")
    assert "the content check is unavailable right now" in err
    assert chats(llm) == []
    assert rows(tmp_path)[1][1:3] == (
        "Your message was not sent to the model: the content check is unavailable right now. "
        "Please try again later.",
        "failed",
    )


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"REDACT": "cards"}, "REDACT='cards' is not valid"),
        ({"REDACT_PATTERNS": "x=("}, "REDACT_PATTERNS='x=(' is not valid"),
        ({"MODERATION_FAIL_CLOSED": "true"}, "MODERATION_FAIL_CLOSED is set but MODERATION_URL"),
        ({"MODERATION_URL": "mod.example"}, "MODERATION_URL='mod.example' is not valid"),
        ({"MODERATION_URL": "http://m:1", "MODERATION_TIMEOUT": "0"}, "MODERATION_TIMEOUT='0'"),
    ],
)
async def test_bad_settings_stop_the_start_with_one_line(tmp_path, llm, env, needle):
    code, out, err = await threadline(
        "console", stdin="hi\n", env=llm_env(llm, **env), cwd=tmp_path
    )
    assert (code, out) == (2, "")
    assert needle in err and err.strip().count("\n") == 0
    assert chats(llm) == []
