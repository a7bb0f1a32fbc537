"""What stored history becomes, through `threadline console` and `threadline export` (issue 9,
items 15, 16 and 18): the prompt is well-formed whatever is stored, and export keeps the other
choices of an ``n > 1`` answer."""

from __future__ import annotations

import json
import sqlite3
from itertools import pairwise

from tests.cli.test_console import llm_env, threadline
from tests.fakes.llm_server import answer


def sent(request):
    return [(m["role"], m["content"]) for m in request.body["messages"][1:]]


def delete_stored(tmp_path, content):
    """What a platform delete leaves in the store: the row kept, blanked, marked deleted."""
    db = sqlite3.connect(tmp_path / "xdg" / "threadline" / "threadline.db")
    with db:
        changed = db.execute(
            "UPDATE messages SET deleted = 1, content = '' WHERE content = ?", (content,)
        ).rowcount
    db.close()
    assert changed == 1


async def test_an_answer_whose_question_was_deleted_is_not_sent(tmp_path, llm):
    env = llm_env(llm)
    await threadline("console", stdin="q1\nq2\n", env=env, cwd=tmp_path)
    delete_stored(tmp_path, "q2")
    code, out, err = await threadline("console", stdin="q3\n", env=env, cwd=tmp_path)
    assert (code, out) == (0, "You said: q3\n"), err
    assert sent(llm.requests[2]) == [("user", "q1"), ("assistant", "You said: q1"), ("user", "q3")]


async def test_an_answer_whose_first_question_was_deleted_is_not_sent(tmp_path, llm):
    env = llm_env(llm)
    await threadline("console", stdin="q1\n", env=env, cwd=tmp_path)
    delete_stored(tmp_path, "q1")
    await threadline("console", stdin="q2\n", env=env, cwd=tmp_path)
    assert sent(llm.requests[1]) == [("user", "q2")]


async def test_an_answer_that_was_only_reasoning_is_never_sent_back(tmp_path, llm):
    env = llm_env(llm)
    llm.enqueue(answer("<think>still thinking when the tokens ran out", finish_reason="length"))
    await threadline("console", stdin="hi\n", env=env, cwd=tmp_path)
    code, out, err = await threadline("console", stdin="next\n", env=env, cwd=tmp_path)
    assert (code, out) == (0, "You said: next\n"), err
    turns = sent(llm.requests[1])
    assert all(content.strip() for role, content in turns if role == "assistant"), turns
    assert turns[-1] == ("user", "next")
    assert all(a[0] != "assistant" or b[0] != "assistant" for a, b in pairwise(turns))


async def test_export_includes_the_other_choices_of_an_n2_answer(tmp_path, llm):
    env = llm_env(llm, LLM_N="2")
    code, out, err = await threadline("console", stdin="hi\n", env=env, cwd=tmp_path)
    assert (code, out) == (0, "You said: hi\n"), err
    code, out, err = await threadline("export", "--channel", "default", env=env, cwd=tmp_path)
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(m["role"], m["content"]) for m in lines] == [
        ("user", "hi"),
        ("assistant", "You said: hi"),
    ]
    assert lines[1]["alternatives"] == ["You said: hi [2]"]
    assert lines[0]["alternatives"] == []
