"""Parameters a model does not take: reading the 400 that names one, and the client's retry.

Error bodies below are the shapes real endpoints send (OpenAI, Azure OpenAI, vLLM, Mistral,
Fireworks, llama.cpp, Google's OpenAI-compatible endpoint); the client tests run against the
fake endpoint over loopback, which answers with the same bodies (``rejects=``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from bot.app import completions_client
from bot.config import EnvReader, load_settings
from bot.errors import LLMBadRequest, LLMContextTooLong, LLMError
from bot.llm.accepted import AcceptedParams
from bot.llm.base import ChoiceFinished, TextDelta, UsageReport
from bot.llm.client import ChatCompletionsClient, build_http_client
from bot.llm.failures import error_from_payload, error_from_status
from tests.cli.test_console import llm_env, threadline
from tests.fakes.llm_server import (
    FakeLLMServer,
    answer,
    chunk,
    error,
    events,
    param_error,
)
from tests.llm.conftest import API_KEY, FAST, RecordingSleep, ask, collect, text_of

OPENAI_MAX_TOKENS = {
    "error": {
        "message": "Unsupported parameter: 'max_tokens' is not supported with this model. "
        "Use 'max_completion_tokens' instead.",
        "type": "invalid_request_error",
        "param": "max_tokens",
        "code": "unsupported_parameter",
    }
}
VLLM_STREAM_OPTIONS = {
    "object": "error",
    "message": "[{'type': 'extra_forbidden', 'loc': ('body', 'stream_options'), 'msg': "
    "'Extra inputs are not permitted', 'input': {'include_usage': True}}]",
    "type": "BadRequestError",
    "param": None,
    "code": 400,
}


_INVALID = "invalid_request_error"
_FORBIDDEN = "Extra inputs are not permitted"


def _openai(message: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": _INVALID, "param": param, "code": code}}


def _extra(loc: Any, value: Any) -> dict[str, Any]:
    return {"type": "extra_forbidden", "loc": loc, "msg": _FORBIDDEN, "input": value}


def _vllm(field: str, value: Any) -> dict[str, Any]:
    return {**VLLM_STREAM_OPTIONS, "message": str([_extra(("body", field), value)])}


def _mistral(field: str, value: Any) -> dict[str, Any]:
    detail = [_extra(["body", field], value)]
    return {"object": "Error", "detail": detail, "message": detail, "type": _INVALID, "code": 3001}


def _llama(status: int, message: str, kind: str = _INVALID) -> dict[str, Any]:
    return {"error": {"code": status, "message": message, "type": kind}}


def _google(name: str, where: str = "") -> list[dict[str, Any]]:
    text = f'Invalid JSON payload received. Unknown name "{name}"{where}: Cannot find field.'
    violation = {
        "@type": "type.googleapis.com/google.rpc.BadRequest",
        "fieldViolations": [{"description": text}],
    }
    error = {"code": 400, "message": text, "status": "INVALID_ARGUMENT", "details": [violation]}
    return [{"error": error}]


NAMED = [
    pytest.param(400, OPENAI_MAX_TOKENS, "max_tokens", id="openai-max-tokens"),
    pytest.param(
        400,
        _openai(
            "Unsupported parameter: 'temperature' is not supported with this model.",
            "temperature",
            "unsupported_parameter",
        ),
        "temperature",
        id="openai-temperature",
    ),
    pytest.param(
        400,
        _openai(
            "Unsupported value: 'temperature' does not support 0.7 with this model. "
            "Only the default (1) value is supported.",
            "temperature",
            "unsupported_value",
        ),
        "temperature",
        id="openai-temperature-value",
    ),
    pytest.param(
        400,
        _openai("Unknown parameter: 'stream_options'.", "stream_options", "unknown_parameter"),
        "stream_options",
        id="proxy-unknown-parameter",
    ),
    pytest.param(
        400,
        _openai("Unrecognized request argument supplied: stream_options"),
        "stream_options",
        id="azure-unrecognized-argument",
    ),
    pytest.param(400, VLLM_STREAM_OPTIONS, "stream_options", id="vllm-extra-forbidden"),
    pytest.param(400, _vllm("max_completion_tokens", 800), "max_completion_tokens", id="vllm-mct"),
    pytest.param(
        400,
        {
            "error": {
                "message": "1 validation error for ChatCompletionRequest\nstream_options\n  Extra "
                "inputs are not permitted [type=extra_forbidden, input_value={'include_usage': "
                "True}, input_type=dict]",
                "type": "BadRequestError",
                "param": None,
                "code": 400,
            }
        },
        "stream_options",
        id="vllm-pydantic-text",
    ),
    pytest.param(422, _mistral("logit_bias", {"50256": -100}), "logit_bias", id="mistral-loc"),
    pytest.param(
        400,
        {"error": {"type": _INVALID, "message": f"{_FORBIDDEN}, field: 'stream_options'"}},
        "stream_options",
        id="fireworks",
    ),
    pytest.param(400, _llama(400, "Only one completion choice is allowed"), "n", id="llamacpp-n"),
    pytest.param(
        500,
        _llama(500, "Only one completion choice is allowed", "server_error"),
        "n",
        id="old-llamacpp-500",
    ),
    pytest.param(
        400, _llama(400, "Unsupported param: logit_bias"), "logit_bias", id="llamacpp-param"
    ),
    pytest.param(400, _google("stream_options"), "stream_options", id="google"),
    pytest.param(
        400,
        _openai("'presence_penalty' is not supported by this endpoint"),
        "presence_penalty",
        id="is-not-supported",
    ),
]


@pytest.mark.parametrize(("status", "body", "param"), NAMED)
def test_error_bodies_that_name_a_parameter(status: int, body: Any, param: str) -> None:
    err = error_from_status(status, {}, json.dumps(body).encode(), model="m")
    assert type(err) is LLMBadRequest
    assert err.param == param


NOTHING = [
    pytest.param(_openai("Invalid request."), id="plain"),
    pytest.param(_openai("temperature must be <= 2"), id="value-words"),
    pytest.param(_openai("The model `gpt-9` is not supported."), id="model-words"),
    pytest.param(_google("role", " at 'contents[0].parts'"), id="google-nested-field"),
    pytest.param(
        {
            "error": {
                "message": "1 validation error for ChatCompletionRequest\nmessages.0.user.name\n  "
                "Extra inputs are not permitted [type=extra_forbidden, input_value='bob']",
                "type": "BadRequestError",
                "param": "400",
                "code": 400,
            }
        },
        id="vllm-nested-field",
    ),
    pytest.param(_openai("Unsupported parameter: 'best_of' is not supported."), id="not-a-field"),
]


@pytest.mark.parametrize("body", NOTHING)
def test_error_bodies_that_name_no_parameter(body: Any) -> None:
    err = error_from_status(400, {}, json.dumps(body).encode(), model="m")
    assert isinstance(err, LLMBadRequest)
    assert err.param is None


def test_a_named_parameter_is_told_to_the_user_as_a_setting() -> None:
    err = error_from_status(400, {}, json.dumps(OPENAI_MAX_TOKENS).encode(), model="o3")
    assert "'o3' does not accept the max_tokens setting" in err.user_message


def test_a_mid_stream_error_object_carries_the_parameter_too() -> None:
    err = error_from_payload(OPENAI_MAX_TOKENS["error"], model="m")
    assert isinstance(err, LLMBadRequest) and err.param == "max_tokens"


def test_context_too_long_is_never_a_rejected_parameter() -> None:
    body = _openai(
        "This model's maximum context length is 8192 tokens. However, you requested 9000 tokens "
        "(1000 in the messages, 8000 in the completion).",
        "max_tokens",
        "context_length_exceeded",
    )
    err = error_from_status(400, {}, json.dumps(body).encode(), model="m")
    assert isinstance(err, LLMContextTooLong)
    assert AcceptedParams().retry_body("m", {"max_tokens": 8000}, err, set()) is None


# --- the client against the fake endpoint --------------------------------------------------


@asynccontextmanager
async def endpoint(
    accepted: AcceptedParams | None = None, *, max_retries: int = 2, **server: Any
) -> AsyncIterator[tuple[FakeLLMServer, ChatCompletionsClient, RecordingSleep]]:
    sleep = RecordingSleep()
    async with FakeLLMServer(**server) as fake, build_http_client(fake.base_url, 2.0) as http:
        client = ChatCompletionsClient(
            http,
            api_key=API_KEY,
            timeouts=FAST,
            max_retries=max_retries,
            sleep=sleep,
            accepted=accepted,
        )
        yield fake, client, sleep


def _lines(caplog: pytest.LogCaptureFixture, needle: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if needle in r.getMessage()]


async def test_rejected_stream_options_is_dropped_and_remembered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot.llm")
    async with endpoint(rejects={"m": ["stream_options"]}, reject_style="vllm") as (
        server,
        client,
        _,
    ):
        first = await collect(client, ask("one", model="m"))
        second = await collect(client, ask("two", model="m"))
    assert (text_of(first), text_of(second)) == ("You said: one", "You said: two")
    sent = [r.body for r in server.requests]
    assert len(sent) == 3
    assert sent[0]["stream_options"] == {"include_usage": True}
    assert "stream_options" not in sent[1] and "stream_options" not in sent[2]
    assert not any(isinstance(e, UsageReport) for e in first + second)  # the engine estimates
    assert len(_lines(caplog, "rejected the stream_options parameter")) == 1


async def test_memory_is_per_model() -> None:
    async with endpoint(rejects={"m": ["stream_options"]}) as (server, client, _):
        await collect(client, ask("one", model="m"))
        await collect(client, ask("two", model="other"))
    assert "stream_options" in server.requests[2].body


async def test_max_tokens_is_switched_to_max_completion_tokens(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot.llm")
    async with endpoint(rejects={"gpt-4.1-x": ["max_tokens"]}) as (server, client, _):
        got = await collect(client, ask("a long enough question", model="gpt-4.1-x", max_tokens=2))
        await collect(client, ask("again", model="gpt-4.1-x", max_tokens=2))
    sent = [r.body for r in server.requests]
    assert len(sent) == 3
    assert sent[0]["max_tokens"] == 2
    assert "max_tokens" not in sent[1] and sent[1]["max_completion_tokens"] == 2
    assert "max_tokens" not in sent[2] and sent[2]["max_completion_tokens"] == 2
    assert text_of(got) == "You said" and ChoiceFinished("length") in got  # the cap held
    switched = _lines(caplog, "takes its token cap as max_completion_tokens")
    assert len(switched) == 1
    assert not _lines(caplog, "rejected the max_tokens parameter")


async def test_a_configured_model_gets_max_completion_tokens_from_the_first_request() -> None:
    accepted = AcceptedParams(("o4*", "gpt-5*"))
    async with endpoint(accepted, rejects={"*": ["max_tokens"]}) as (server, client, _):
        await collect(client, ask("hi", model="o4-mini", max_tokens=64))
        await client.complete(ask("hi", model="gpt-5-mini", max_tokens=64))
    assert len(server.requests) == 2
    assert all("max_tokens" not in r.body for r in server.requests)
    assert [r.body["max_completion_tokens"] for r in server.requests] == [64, 64]


async def test_the_default_models_are_openai_reasoning_models() -> None:
    async with endpoint(rejects={"*": ["max_tokens"]}) as (server, client, _):
        await collect(client, ask("hi", model="o3-mini", max_tokens=64))
        await collect(client, ask("hi", model="llama", max_tokens=64))
    assert server.requests[0].body["max_completion_tokens"] == 64
    assert server.requests[1].body["max_tokens"] == 64  # then switched
    assert server.requests[2].body["max_completion_tokens"] == 64


async def test_a_model_that_rejects_max_completion_tokens_goes_back_to_max_tokens() -> None:
    accepted = AcceptedParams(("local*",))
    rejects = {"local-qwen": ["max_completion_tokens"]}
    async with endpoint(accepted, rejects=rejects, reject_style="vllm") as (server, client, _):
        await collect(client, ask("one", model="local-qwen", max_tokens=64))
        await collect(client, ask("two", model="local-qwen", max_tokens=64))
    sent = [r.body for r in server.requests]
    assert [("max_tokens" in b, "max_completion_tokens" in b) for b in sent] == [
        (False, True),
        (True, False),
        (True, False),
    ]


async def test_a_second_rejected_parameter_is_handled_once_too() -> None:
    rejects = {"llama": ["stream_options", "n"]}
    async with endpoint(rejects=rejects, reject_style="llamacpp") as (server, client, _):
        server.enqueue(answer("Only one.", done=False))  # complete with 1 choice, not with 3
        got = await collect(client, ask("hi", model="llama", n=3))
        await collect(client, ask("hi", model="llama", n=3))
    sent = [r.body for r in server.requests]
    assert len(sent) == 4
    assert ("stream_options" in sent[0], sent[0]["n"]) == (True, 3)
    assert ("stream_options" in sent[1], sent[1]["n"]) == (False, 3)
    assert "stream_options" not in sent[2] and "n" not in sent[2]
    assert "stream_options" not in sent[3] and "n" not in sent[3]
    assert {e.index for e in got if isinstance(e, TextDelta)} == {0}  # one choice expected
    assert text_of(got) == "Only one."


async def test_each_parameter_is_dropped_at_most_once_per_request() -> None:
    async with endpoint() as (server, client, _):
        server.enqueue(param_error("temperature"), param_error("temperature"))
        with pytest.raises(LLMBadRequest) as caught:
            await collect(client, ask("hi", temperature=0.5))
    assert len(server.requests) == 2
    assert caught.value.param == "temperature"
    assert "does not accept the temperature setting" in caught.value.user_message


async def test_a_400_without_a_parameter_is_raised_as_before() -> None:
    async with endpoint() as (server, client, sleep):
        server.enqueue(error(400, "Invalid request."))
        with pytest.raises(LLMBadRequest) as caught:
            await collect(client, ask("hi", temperature=0.5))
    assert caught.value.param is None
    assert len(server.requests) == 1 and sleep.delays == []


async def test_the_retry_does_not_use_the_transient_retry_budget() -> None:
    async with endpoint(max_retries=1) as (server, client, sleep):
        server.enqueue(param_error("user", style="azure"), error(503))
        got = await collect(client, ask("hi", user="hashed-user"))
    assert text_of(got) == "You said: hi"
    assert len(server.requests) == 3 and len(sleep.delays) == 1
    assert "user" in server.requests[0].body
    assert "user" not in server.requests[1].body and "user" not in server.requests[2].body


async def test_a_rejection_with_no_retries_left_still_gets_its_one_retry() -> None:
    async with endpoint(max_retries=0, rejects={"*": ["top_p"]}) as (server, client, sleep):
        got = await collect(client, ask("hi", top_p=0.5))
    assert text_of(got) == "You said: hi" and sleep.delays == []
    assert "top_p" not in server.requests[1].body


async def test_nothing_is_retried_after_the_first_event() -> None:
    async with endpoint() as (server, client, _):
        server.enqueue(
            events(chunk("Hel", role="assistant"), {"error": OPENAI_MAX_TOKENS["error"]}),
        )
        got: list[Any] = []
        with pytest.raises(LLMError):
            await collect(client, ask("hi", max_tokens=5), into=got)
    assert text_of(got) == "Hel"
    assert len(server.requests) == 1


async def test_non_streamed_requests_are_retried_the_same_way() -> None:
    async with endpoint(rejects={"*": ["frequency_penalty"]}, reject_style="azure") as (
        server,
        client,
        _,
    ):
        got = await client.complete(ask("hi", frequency_penalty=0.5))
        await client.complete(ask("hi", frequency_penalty=0.5))
    assert text_of(got) == "You said: hi"
    assert len(server.requests) == 3
    assert "frequency_penalty" not in server.requests[2].body


async def test_a_script_answer_after_a_rejection_is_read_normally() -> None:
    async with endpoint() as (server, client, _):
        server.enqueue(param_error("stop", style="llamacpp"), answer("fine"))
        got = await collect(client, ask("hi", stop=("END",)))
    assert text_of(got) == "fine"
    assert "stop" not in server.requests[1].body


# --- end to end: the console and the real engine -------------------------------------------


async def test_console_answers_and_logs_the_rejection_once(tmp_path: Path) -> None:
    async with FakeLLMServer(rejects={"*": ["stream_options"]}, reject_style="vllm") as llm:
        env = llm_env(llm, LOG_LEVEL="info")
        code, out, err = await threadline(
            "console", "--channel", "e2e", stdin="first\nsecond\n", env=env, cwd=tmp_path
        )
        assert (code, out) == (0, "You said: first\nYou said: second\n"), err
        assert err.count("rejected the stream_options parameter") == 1, err
        assert [("stream_options" in r.body) for r in llm.requests] == [True, False, False]
        code, usage, err = await threadline(
            "usage", "--by", "channel", "--json", env=llm_env(llm), cwd=tmp_path
        )
    assert code == 0, err
    (row,) = json.loads(usage)
    assert (row["requests"], row["estimated_requests"]) == (2, 2)  # no usage chunk: estimated


async def test_the_composition_root_passes_the_setting_to_the_client() -> None:
    env = {"LLM_API_KEY": API_KEY, "LLM_MAX_COMPLETION_TOKENS_MODELS": "my-*"}
    llm = load_settings(EnvReader(env)).llm
    async with FakeLLMServer() as server, build_http_client(server.base_url, 2.0) as http:
        client = completions_client(http, llm)
        await collect(client, ask("hi", model="my-reasoner", max_tokens=64))
        await collect(client, ask("hi", model="o1", max_tokens=64))  # the default is replaced
    assert server.requests[0].body["max_completion_tokens"] == 64
    assert server.requests[1].body["max_tokens"] == 64
