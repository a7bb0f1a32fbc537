"""``/attach PATH`` in the console, through ``threadline console`` (issue 13.1)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.cli.test_console import llm_env, threadline
from tests.fakes.llm_server import FakeLLMServer
from tests.files.samples import BINARY_AS_TEXT, pdf, png


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer() as server:
        yield server


async def test_attach_sends_a_file_with_the_next_message_only_and_keeps_it(
    tmp_path: Path, llm: FakeLLMServer
) -> None:
    (tmp_path / "todo.txt").write_text("buy milk\n")
    (tmp_path / "memo.pdf").write_bytes(pdf("Budget approved"))
    stdin = (
        f"/attach {tmp_path / 'todo.txt'}\n/attach {tmp_path / 'memo.pdf'}\n"
        "what is on my list?\nand the memo?\n"
    )
    code, out, err = await threadline(
        "console", "--channel", "files", stdin=stdin, env=llm_env(llm), cwd=tmp_path
    )
    assert code == 0, err
    assert "Attached todo.txt (9 bytes) to your next message." in out
    first = llm.requests[0].body["messages"][-1]["content"]
    assert first == (
        "what is on my list?\n\n[File: todo.txt]\nbuy milk\n\n[End of todo.txt]\n\n"
        "[File: memo.pdf]\nBudget approved\n[End of memo.pdf]"
    )
    second = llm.requests[1].body["messages"]
    assert second[-1]["content"] == "and the memo?"
    assert "Budget approved" in second[1]["content"], "history keeps the extracted text"


async def test_attach_refuses_what_it_cannot_read_and_an_image_reaches_a_vision_model(
    tmp_path: Path, llm: FakeLLMServer
) -> None:
    (tmp_path / "a.out").write_bytes(BINARY_AS_TEXT)
    (tmp_path / "pic.png").write_bytes(png())
    stdin = (
        f"/attach {tmp_path / 'missing.txt'}\n/attach {tmp_path / 'a.out'}\n"
        f"/attach {tmp_path / 'pic.png'}\nwhat are these?\n"
    )
    env = llm_env(llm, LLM_VISION_MODELS="*")
    code, out, err = await threadline(
        "console", "--channel", "img", stdin=stdin, env=env, cwd=tmp_path
    )
    assert code == 0, err
    assert "Not attached: cannot read" in out and "missing.txt" in out
    assert "_⚠ Not read: a.out (it is not a text file, PDF or image)_" in out
    assert "You said: what are these?" in out
    url = "data:image/png;base64," + base64.b64encode(png()).decode()
    assert llm.image_parts(0) == [url]
