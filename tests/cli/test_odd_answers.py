"""200 answers that are not answers (issue 9, item 14): an empty event stream (llama.cpp with a
prompt longer than its context) and an HTML page (a proxy's login page), through `threadline
console` (streaming) and `threadline doctor` (non-streaming)."""

from __future__ import annotations

from tests.cli.test_console import llm_env, threadline
from tests.fakes.llm_server import LOGIN_PAGE, answer, events, html_page


async def test_an_empty_event_stream_says_the_model_returned_nothing(tmp_path, llm):
    llm.enqueue(events())
    code, out, err = await threadline("console", stdin="hi\n", env=llm_env(llm), cwd=tmp_path)
    assert (code, out) == (1, "")
    assert "The model returned nothing" in err and "try `reset`" in err
    assert "could not understand" not in err and "Traceback" not in err


async def test_done_without_any_choice_says_the_model_returned_nothing(tmp_path, llm):
    llm.enqueue(events("data: [DONE]\n\n"))
    code, _, err = await threadline("console", stdin="hi\n", env=llm_env(llm), cwd=tmp_path)
    assert code == 1 and "The model returned nothing" in err


async def test_an_html_page_is_named_as_html(tmp_path, llm):
    llm.enqueue(html_page())
    code, out, err = await threadline("console", stdin="hi\n", env=llm_env(llm), cwd=tmp_path)
    assert (code, out) == (1, "")
    assert "returned an HTML page, not an event stream" in err and "LLM_BASE_URL" in err
    assert "Sign in" not in err


async def test_an_html_page_labelled_as_an_event_stream_is_named_as_html(tmp_path, llm):
    llm.enqueue(events(LOGIN_PAGE))
    code, _, err = await threadline("console", stdin="hi\n", env=llm_env(llm), cwd=tmp_path)
    assert code == 1 and "returned an HTML page" in err


async def test_the_conversation_still_works_after_an_empty_answer(tmp_path, llm):
    llm.enqueue(events(), answer("fine"))
    code, out, _ = await threadline("console", stdin="hi\nagain\n", env=llm_env(llm), cwd=tmp_path)
    assert (code, out) == (1, "fine\n")
    sent = [(m["role"], m["content"]) for m in llm.requests[1].body["messages"][1:]]
    assert sent == [("user", "hi"), ("user", "again")]


async def test_doctor_names_an_html_page_in_non_streaming_mode(tmp_path, llm):
    llm.enqueue(html_page())
    await threadline("db", "upgrade", cwd=tmp_path)
    code, out, _ = await threadline("doctor", env=llm_env(llm), cwd=tmp_path)
    llm_line = next(line for line in out.splitlines() if line.startswith("llm"))
    assert code == 1 and "returned an HTML page, not JSON" in llm_line
    assert llm.requests[0].body["stream"] is False


async def test_doctor_names_an_empty_answer_in_non_streaming_mode(tmp_path, llm):
    llm.enqueue(events())
    code, out, _ = await threadline("doctor", env=llm_env(llm), cwd=tmp_path)
    llm_line = next(line for line in out.splitlines() if line.startswith("llm"))
    assert code == 1 and "empty" in llm_line
