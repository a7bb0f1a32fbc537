"""The fake endpoint itself: defaults, refusals and the standalone runner others rely on."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import httpx
import pytest

from bot.errors import LLMAuthError
from bot.llm.base import ChoiceFinished, UsageReport
from bot.llm.client import ChatCompletionsClient, build_http_client
from bot.llm.sse import decode_body
from tests.fakes.llm_server import FakeLLMServer, answer
from tests.llm.conftest import FAST, ask, collect, text_of

ROOT = Path(__file__).resolve().parents[2]


async def post(server: FakeLLMServer, body: object) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(f"{server.base_url}/chat/completions", json=body)


async def test_default_stream_sends_usage_only_when_asked(server: FakeLLMServer) -> None:
    base = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    plain = decode_body((await post(server, base)).content)
    asked = decode_body(
        (await post(server, {**base, "stream_options": {"include_usage": True}})).content
    )
    assert plain[-1] == asked[-1] == "[DONE]"
    assert '"usage": {' not in "".join(plain)
    assert json.loads(asked[-2])["choices"] == []
    assert json.loads(asked[-2])["usage"]["completion_tokens"] > 0


async def test_default_answer_honours_max_tokens(server: FakeLLMServer) -> None:
    async with build_http_client(server.base_url, 2.0) as http:
        client = ChatCompletionsClient(http, api_key="k", timeouts=FAST)
        got = await collect(client, ask("a long message", max_tokens=2))
    assert text_of(got) == "You said"
    assert ChoiceFinished("length") in got


async def test_chunk_delay_and_queue_count(server: FakeLLMServer) -> None:
    server.enqueue(answer("a"), answer("b", chunk_delay=0.01))
    assert server.queued == 2
    async with build_http_client(server.base_url, 2.0) as http:
        client = ChatCompletionsClient(http, api_key="k", timeouts=FAST)
        assert text_of(await collect(client, ask())) == "a"
        assert text_of(await client.complete(ask())) == "b"
    assert server.queued == 0


async def test_api_key_is_enforced_when_set() -> None:
    async with (
        FakeLLMServer(api_key="right") as server,
        build_http_client(server.base_url, 2.0) as http,
    ):
        good = ChatCompletionsClient(http, api_key="right", timeouts=FAST)
        bad = ChatCompletionsClient(http, api_key="wrong", timeouts=FAST)
        assert isinstance((await collect(good, ask()))[-1], UsageReport)
        with pytest.raises(LLMAuthError) as caught:
            await collect(bad, ask())
    assert "wrong" not in str(caught.value)


async def test_invalid_json_body_is_a_400_and_still_recorded(server: FakeLLMServer) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{server.base_url}/chat/completions", content=b"{nope")
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert server.requests[0].body is None


async def test_models_endpoint_lists_the_allowlist() -> None:
    async with FakeLLMServer(models={"b", "a"}) as server, httpx.AsyncClient() as http:
        listed = (await http.get(f"{server.base_url}/models")).json()
        refused = await http.post(
            f"{server.base_url}/chat/completions", json={"model": "c", "messages": []}
        )
    assert [m["id"] for m in listed["data"]] == ["a", "b"]
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "model_not_found"


async def test_standalone_runner_serves_until_stopped() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakes.llm_server",
        "--port",
        "0",
        "--chunk-delay",
        "0",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(20):
            line = (await process.stdout.readline()).decode()
        base_url = line.split(" at ", 1)[1].split()[0]
        async with httpx.AsyncClient() as http:
            response = await http.post(
                f"{base_url}/chat/completions",
                json={"model": "m", "messages": [{"role": "user", "content": "yo"}]},
            )
        assert response.json()["choices"][0]["message"]["content"] == "You said: yo"
    finally:
        process.terminate()
        await process.wait()
