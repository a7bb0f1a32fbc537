"""``ChatCompletionsClient`` against the fake endpoint over real loopback HTTP."""

from __future__ import annotations

import httpx
import pytest

from bot.errors import (
    LLMAuthError,
    LLMBadRequest,
    LLMContextTooLong,
    LLMProtocolError,
    LLMRateLimited,
    LLMTimeout,
    LLMUnavailable,
)
from bot.llm.base import ChoiceFinished, ReasoningDelta, StreamEvent, TextDelta, UsageReport
from bot.llm.client import ChatCompletionsClient, LLMTimeouts, build_http_client
from bot.llm.userhash import user_hash
from bot.model import Usage
from tests.fakes.llm_server import (
    DISCONNECT,
    DONE,
    FakeLLMServer,
    Pause,
    answer,
    chunk,
    completion,
    error,
    events,
    usage_chunk,
)
from tests.llm.conftest import API_KEY, ClientFactory, RecordingSleep, ask, collect, text_of

SHORT = LLMTimeouts(connect=2.0, first_token=0.3, idle=0.3)


# --- what is sent -------------------------------------------------------------------------


async def test_body_carries_every_parameter_and_the_hashed_user(
    client: ChatCompletionsClient, server: FakeLLMServer
) -> None:
    hashed = user_hash("slack", "U1", "salt")
    request = ask(
        "hi",
        model="llama-3.1-nemotron",
        temperature=0.7,
        top_p=0.9,
        n=2,
        stop=("END", "STOP"),
        max_tokens=64,
        presence_penalty=0.5,
        frequency_penalty=-0.5,
        logit_bias=(("50256", -100),),
        user=hashed,
    )
    await collect(client, request)
    sent = server.requests[0]
    assert sent.body == {
        "model": "llama-3.1-nemotron",
        "temperature": 0.7,
        "top_p": 0.9,
        "n": 2,
        "stop": ["END", "STOP"],
        "max_tokens": 64,
        "presence_penalty": 0.5,
        "frequency_penalty": -0.5,
        "logit_bias": {"50256": -100},
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "user": hashed,
    }
    assert sent.method == "POST"
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert sent.headers["accept"] == "text/event-stream"


async def test_non_stream_body_and_unset_parameters_are_left_out(
    client: ChatCompletionsClient, server: FakeLLMServer
) -> None:
    await client.complete(ask("hi"))
    assert server.requests[0].body == {
        "model": "fake-model",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": False,
    }


@pytest.mark.parametrize("suffix", ["", "/", "/chat/completions", "/chat/completions/"])
async def test_base_url_keeps_its_v1_prefix(server: FakeLLMServer, suffix: str) -> None:
    async with build_http_client(server.base_url + suffix, 2.0) as http:
        client = ChatCompletionsClient(http, api_key="k", timeouts=SHORT)
        assert text_of(await collect(client, ask("x"))) == "You said: x"
    assert server.requests[0].path == "/v1/chat/completions"
    assert str(http.base_url).endswith("/v1/")


def test_repr_does_not_show_the_key(client: ChatCompletionsClient) -> None:
    assert API_KEY not in repr(client)


# --- streaming shapes ---------------------------------------------------------------------


async def test_default_answer_streams_text_finish_and_usage(client: ChatCompletionsClient) -> None:
    got = await collect(client, ask("hello there"))
    assert text_of(got) == "You said: hello there"
    assert len([e for e in got if isinstance(e, TextDelta)]) > 1
    assert got[-2:] == [ChoiceFinished("stop"), UsageReport(Usage(3, 6))]


async def test_keep_alives_event_fields_and_crlf_are_tolerated(
    client: ChatCompletionsClient, server: FakeLLMServer
) -> None:
    server.enqueue(
        events(
            ": keep-alive\r\n\r\n",
            "event: message\r\nid: 1\r\n",
            'data: {"choices": [{"index": 0, "delta": {"role": "assistant"}}]}\r\n\r\n',
            ": ping\n\n",
            'data: {"choices": [{"index": 0, "delta": {"content": "Hi"}}],\r\n',
            'data:  "usage": null}\r\n\r\n',
            chunk(finish_reason="stop"),
            {"id": "x", "choices": [], "usage": {"prompt_tokens": 2, "completion_tokens": 1}},
            "data: [DONE]\r\n\r\n",
        )
    )
    got = await collect(client, ask())
    assert got == [TextDelta("Hi"), ChoiceFinished("stop"), UsageReport(Usage(2, 1))]


async def test_n2_interleaved_choices_keep_their_index(
    client: ChatCompletionsClient, server: FakeLLMServer
) -> None:
    server.enqueue(answer("first answer", "second one", chunk_chars=3))
    got = await collect(client, ask(n=2))
    assert text_of(got, 0) == "first answer"
    assert text_of(got, 1) == "second one"
    indexes = [e.index for e in got if isinstance(e, TextDelta)]
    assert indexes[:4] == [0, 1, 0, 1]
    finished = {e.index: e.finish_reason for e in got if isinstance(e, ChoiceFinished)}
    assert finished == {0: "stop", 1: "stop"}


async def test_reasoning_content_is_separate_from_the_answer(
    client: ChatCompletionsClient, server: FakeLLMServer
) -> None:
    server.enqueue(answer("The answer.", reasoning="Think first."))
    got = await collect(client, ask())
    thought = "".join(e.text for e in got if isinstance(e, ReasoningDelta))
    assert (thought, text_of(got)) == ("Think first.", "The answer.")
    assert got.index(next(e for e in got if isinstance(e, TextDelta))) > 0


@pytest.mark.parametrize("chunk_chars", [1, 2, 3, 5, 8])
async def test_think_tags_split_across_chunks_stay_out_of_the_text(
    client: ChatCompletionsClient, server: FakeLLMServer, chunk_chars: int
) -> None:
    server.enqueue(answer("<think>Hmm, 2+2.</think>\n\nIt is 4.", chunk_chars=chunk_chars))
    got = await collect(client, ask())
    assert text_of(got) == "It is 4."
    assert "".join(e.text for e in got if isinstance(e, ReasoningDelta)) == "Hmm, 2+2."


async def test_usage_is_reported_once(client: ChatCompletionsClient, server: FakeLLMServer) -> None:
    server.enqueue(answer("abcdefgh", chunk_chars=4, prompt_tokens=42))
    got = await collect(client, ask())
    assert [e for e in got if isinstance(e, UsageReport)] == [UsageReport(Usage(42, 2))]


async def test_finished_stream_without_done_is_complete(
    client: ChatCompletionsClient, server: FakeLLMServer
) -> None:
    server.enqueue(answer("ok", done=False))
    got = await collect(client, ask())
    assert text_of(got) == "ok"
    assert isinstance(got[-1], UsageReport)


async def test_stream_ending_without_finish_or_done_fails_keeping_the_partial_text(
    client: ChatCompletionsClient, server: FakeLLMServer, sleep: RecordingSleep
) -> None:
    server.enqueue(answer("partial answer", finish_reason=None, usage=False, done=False))
    got: list[StreamEvent] = []
    with pytest.raises(LLMProtocolError, match="ended early"):
        await collect(client, ask(), into=got)
    assert text_of(got) == "partial answer"
    assert len(server.requests) == 1
    assert sleep.delays == []


async def test_done_without_finish_reason_is_accepted(
    client: ChatCompletionsClient, server: FakeLLMServer
) -> None:
    server.enqueue(answer("ok", finish_reason=None))
    got = await collect(client, ask())
    assert ChoiceFinished("stop") in got


async def test_malformed_chunk_is_a_protocol_error(
    client: ChatCompletionsClient, server: FakeLLMServer
) -> None:
    server.enqueue(events(chunk("fine"), 'data: {"choices": [{"delta": \n\n', DONE))
    got: list[StreamEvent] = []
    with pytest.raises(LLMProtocolError, match="not valid JSON"):
        await collect(client, ask(), into=got)
    assert text_of(got) == "fine"


async def test_error_object_mid_stream_raises_with_the_server_message(
    client: ChatCompletionsClient, server: FakeLLMServer, sleep: RecordingSleep
) -> None:
    message = "This model's maximum context length is 4096 tokens."
    server.enqueue(
        events(chunk("Hel"), {"error": {"message": message, "code": "context_length_exceeded"}})
    )
    got: list[StreamEvent] = []
    with pytest.raises(LLMContextTooLong) as caught:
        await collect(client, ask(), into=got)
    assert message in str(caught.value)
    assert text_of(got) == "Hel"
    assert (len(server.requests), sleep.delays) == (1, [])


async def test_retryable_error_object_before_any_event_is_retried(
    client: ChatCompletionsClient, server: FakeLLMServer, sleep: RecordingSleep
) -> None:
    server.enqueue(
        events(chunk("", role="assistant"), {"error": {"message": "overloaded"}}),
        answer("second try"),
    )
    assert text_of(await collect(client, ask())) == "second try"
    assert len(sleep.delays) == 1


async def test_disconnect_mid_stream_fails_without_retry(
    client: ChatCompletionsClient, server: FakeLLMServer, sleep: RecordingSleep
) -> None:
    server.enqueue(events(chunk("Hello"), chunk(" wor"), DISCONNECT), answer("never used"))
    got: list[StreamEvent] = []
    with pytest.raises(LLMUnavailable):
        await collect(client, ask(), into=got)
    assert text_of(got) == "Hello wor"
    assert (len(server.requests), sleep.delays, server.queued) == (1, [], 1)


async def test_disconnect_before_any_event_is_retried(
    client: ChatCompletionsClient, server: FakeLLMServer, sleep: RecordingSleep
) -> None:
    server.enqueue(events(chunk("", role="assistant"), DISCONNECT), answer("ok"))
    assert text_of(await collect(client, ask())) == "ok"
    assert len(server.requests) == 2
    assert len(sleep.delays) == 1


async def test_consumer_stopping_early_leaves_the_client_usable(
    client: ChatCompletionsClient, server: FakeLLMServer
) -> None:
    server.enqueue(answer("a long answer " * 20, chunk_delay=0.01))
    stream = client.stream(ask())
    first = await anext(stream)
    await stream.aclose()  # type: ignore[attr-defined]
    assert isinstance(first, TextDelta)
    assert text_of(await collect(client, ask("again"))) == "You said: again"


async def test_connection_is_reused_after_a_complete_stream(
    client: ChatCompletionsClient, server: FakeLLMServer
) -> None:
    for text in ("one", "two", "three"):
        await collect(client, ask(text))
    await client.complete(ask("four"))
    assert len({r.peer for r in server.requests}) == 1
    assert server.requests[0].peer.startswith("127.0.0.1:")


# --- HTTP errors and retries --------------------------------------------------------------


async def test_401_is_an_auth_error_without_retry_or_key(
    client: ChatCompletionsClient, server: FakeLLMServer, sleep: RecordingSleep
) -> None:
    server.enqueue(error(401, f"Incorrect API key provided: {API_KEY}."))
    with pytest.raises(LLMAuthError) as caught:
        await collect(client, ask())
    assert API_KEY not in str(caught.value)
    assert "Incorrect API key provided" in str(caught.value)
    assert (len(server.requests), sleep.delays) == (1, [])


async def test_429_retry_after_is_honoured(
    client: ChatCompletionsClient, server: FakeLLMServer, sleep: RecordingSleep
) -> None:
    server.enqueue(error(429, retry_after=3), error(429, retry_after="1.5"), answer("ok"))
    assert text_of(await collect(client, ask())) == "ok"
    assert sleep.delays == [3.0, 1.5]


async def test_retry_after_ms_is_honoured(
    client: ChatCompletionsClient, server: FakeLLMServer, sleep: RecordingSleep
) -> None:
    server.enqueue(error(429, headers={"retry-after-ms": "250"}), answer("ok"))
    await collect(client, ask())
    assert sleep.delays == [0.25]


async def test_retry_after_beyond_the_cap_fails_at_once(
    client: ChatCompletionsClient, server: FakeLLMServer, sleep: RecordingSleep
) -> None:
    server.enqueue(error(429, retry_after=3600), answer("never"))
    with pytest.raises(LLMRateLimited) as caught:
        await collect(client, ask())
    assert caught.value.retry_after == 3600
    assert (len(server.requests), sleep.delays) == (1, [])


async def test_server_errors_back_off_exponentially_then_fail(
    client: ChatCompletionsClient, server: FakeLLMServer, sleep: RecordingSleep
) -> None:
    server.enqueue(error(500), error(502), error(503, "still down"))
    with pytest.raises(LLMUnavailable, match="still down"):
        await collect(client, ask())
    assert len(server.requests) == 3
    first, second = sleep.delays
    assert 0.375 <= first <= 0.5
    assert 0.75 <= second <= 1.0


async def test_max_retries_zero_never_retries(
    make_client: ClientFactory, server: FakeLLMServer, sleep: RecordingSleep
) -> None:
    server.enqueue(error(500))
    with pytest.raises(LLMUnavailable):
        await collect(make_client(max_retries=0), ask())
    assert sleep.delays == []


async def test_context_too_long_is_not_retried(
    client: ChatCompletionsClient, server: FakeLLMServer, sleep: RecordingSleep
) -> None:
    server.enqueue(error(400, "This model's maximum context length is 8192 tokens."))
    with pytest.raises(LLMContextTooLong, match="8192"):
        await collect(client, ask())
    assert sleep.delays == []


async def test_unknown_model_is_a_bad_request_naming_the_model(sleep: RecordingSleep) -> None:
    async with (
        FakeLLMServer(models={"fake-model"}) as server,
        build_http_client(server.base_url, 2.0) as http,
    ):
        client = ChatCompletionsClient(http, api_key="k", timeouts=SHORT, sleep=sleep)
        with pytest.raises(LLMBadRequest) as caught:
            await collect(client, ask(model="no-such-model"))
        assert text_of(await collect(client, ask("x"))) == "You said: x"
    assert "'no-such-model'" in caught.value.user_message
    assert "model_not_found" in str(caught.value)
    assert sleep.delays == []


async def test_connection_refused_is_unavailable_after_retries(
    closed_port: int, sleep: RecordingSleep
) -> None:
    async with build_http_client(f"http://127.0.0.1:{closed_port}/v1", 2.0) as http:
        client = ChatCompletionsClient(http, api_key="k", timeouts=SHORT, sleep=sleep)
        with pytest.raises(LLMUnavailable, match="ConnectError"):
            await collect(client, ask())
    assert len(sleep.delays) == 2


async def test_connect_timeout_is_named_and_retried(
    unresponsive_port: int, sleep: RecordingSleep
) -> None:
    timeouts = LLMTimeouts(connect=0.2, first_token=5.0, idle=5.0)
    async with build_http_client(f"http://127.0.0.1:{unresponsive_port}/v1", 0.2) as http:
        client = ChatCompletionsClient(
            http, api_key="k", timeouts=timeouts, max_retries=1, sleep=sleep
        )
        with pytest.raises(LLMTimeout, match="connect timeout"):
            await collect(client, ask())
    assert len(sleep.delays) == 1


# --- timeouts -----------------------------------------------------------------------------


async def test_slow_first_byte_is_a_first_token_timeout_then_retried(
    make_client: ClientFactory, server: FakeLLMServer, sleep: RecordingSleep
) -> None:
    server.enqueue(answer("too late", delay=30), answer("in time"))
    got = await collect(make_client(timeouts=SHORT), ask())
    assert text_of(got) == "in time"
    assert len(sleep.delays) == 1


async def test_first_token_timeout_when_retries_run_out(
    make_client: ClientFactory, server: FakeLLMServer
) -> None:
    server.enqueue(answer("late", delay=30))
    with pytest.raises(LLMTimeout, match="first-token timeout"):
        await collect(make_client(timeouts=SHORT, max_retries=0), ask())


async def test_role_chunk_and_keep_alives_do_not_count_as_a_first_token(
    make_client: ClientFactory, server: FakeLLMServer
) -> None:
    pings = [step for _ in range(10) for step in (": ping\n\n", Pause(0.05))]
    server.enqueue(events(chunk("", role="assistant"), *pings, Pause(30)))
    with pytest.raises(LLMTimeout, match="first-token"):
        await collect(make_client(timeouts=SHORT, max_retries=0), ask())


async def test_stall_mid_stream_is_an_idle_timeout_keeping_the_partial_text(
    make_client: ClientFactory, server: FakeLLMServer, sleep: RecordingSleep
) -> None:
    pings = [step for _ in range(10) for step in (": ping\n\n", Pause(0.05))]
    server.enqueue(events(chunk("Partial"), chunk(" text"), *pings, Pause(30)))
    got: list[StreamEvent] = []
    with pytest.raises(LLMTimeout, match="idle timeout"):
        await collect(make_client(timeouts=SHORT), ask(), into=got)
    assert text_of(got) == "Partial text"
    assert (len(server.requests), sleep.delays) == (1, [])


async def test_steady_slow_chunks_within_the_idle_timeout_complete(
    make_client: ClientFactory, server: FakeLLMServer
) -> None:
    server.enqueue(answer("slow but steady", chunk_chars=3, chunk_delay=0.05))
    got = await collect(make_client(timeouts=SHORT), ask())
    assert text_of(got) == "slow but steady"


# --- non-stream mode ----------------------------------------------------------------------


async def test_complete_returns_the_same_events(
    client: ChatCompletionsClient, server: FakeLLMServer
) -> None:
    got = await client.complete(ask("hello", n=2))
    assert text_of(got, 0) == "You said: hello"
    assert text_of(got, 1) == "You said: hello [2]"
    assert [e for e in got if isinstance(e, ChoiceFinished)] == [
        ChoiceFinished("stop", 0),
        ChoiceFinished("stop", 1),
    ]
    assert isinstance(got[-1], UsageReport)
    assert server.requests[0].headers["accept"] == "application/json"


async def test_complete_splits_reasoning(
    client: ChatCompletionsClient, server: FakeLLMServer
) -> None:
    server.enqueue(answer("<think>inline</think>Answer", reasoning="field"))
    got = await client.complete(ask())
    assert [e.text for e in got if isinstance(e, ReasoningDelta)] == ["field", "inline"]
    assert text_of(got) == "Answer"


async def test_complete_retries_before_answering(
    client: ChatCompletionsClient, server: FakeLLMServer, sleep: RecordingSleep
) -> None:
    server.enqueue(error(429, retry_after=2), answer("ok"))
    assert text_of(await client.complete(ask())) == "ok"
    assert sleep.delays == [2.0]


async def test_complete_times_out_on_a_slow_answer(
    make_client: ClientFactory, server: FakeLLMServer
) -> None:
    server.enqueue(answer("late", delay=30))
    with pytest.raises(LLMTimeout, match="first-token"):
        await make_client(timeouts=SHORT, max_retries=0).complete(ask())


async def test_complete_refuses_invalid_json(
    client: ChatCompletionsClient, server: FakeLLMServer
) -> None:
    server.enqueue(events('{"choices": [', headers={"Content-Type": "application/json"}))
    with pytest.raises(LLMProtocolError, match="not valid JSON"):
        await client.complete(ask())


async def test_stream_request_answered_with_json_is_read_as_a_completion(
    client: ChatCompletionsClient, server: FakeLLMServer
) -> None:
    body = {"choices": [{"index": 0, "message": {"content": "whole"}, "finish_reason": "stop"}]}
    server.enqueue(completion(body))
    got = await collect(client, ask())
    assert got == [TextDelta("whole"), ChoiceFinished("stop")]


async def test_http_error_with_html_body_is_still_typed(
    client: ChatCompletionsClient, server: FakeLLMServer
) -> None:
    server.enqueue(
        events("<html>Bad Gateway</html>", status=502, headers={"Content-Type": "text/html"})
    )
    server.enqueue(error(502), error(502))
    with pytest.raises(LLMUnavailable, match="502"):
        await collect(client, ask())


async def test_empty_event_stream_is_a_protocol_error(
    client: ChatCompletionsClient, server: FakeLLMServer
) -> None:
    server.enqueue(events())
    with pytest.raises(LLMProtocolError, match="before any chunk"):
        await collect(client, ask())


async def test_usage_chunk_alone_then_done_is_a_protocol_error(
    client: ChatCompletionsClient, server: FakeLLMServer
) -> None:
    server.enqueue(events(usage_chunk(1, 0), DONE))
    with pytest.raises(LLMProtocolError, match="without any choice"):
        await collect(client, ask())


async def test_httpx_client_without_base_url_is_refused() -> None:
    async with httpx.AsyncClient() as http:
        with pytest.raises(ValueError, match="base_url"):
            ChatCompletionsClient(http, api_key="k", timeouts=SHORT)
