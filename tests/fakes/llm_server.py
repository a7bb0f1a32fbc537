"""A loopback OpenAI-compatible chat-completions server, scripted by tests and benchmarks.

Start it (aiohttp, in-process, 127.0.0.1, a free port)::

    from tests.fakes.llm_server import FakeLLMServer, answer, error, events, chunk, Pause

    async with FakeLLMServer() as server:
        http = build_http_client(server.base_url, 5.0)    # base_url is "http://127.0.0.1:P/v1"
        server.enqueue(error(429, retry_after=1), answer("Hello", " world"))
        ...
        server.requests[0].body["messages"]                # every request, parsed, in order
        server.requests[0].headers["authorization"]        # header names are lower-case

Standalone, for trying things by hand: ``python -m tests.fakes.llm_server --port 8000``.

**Default behaviour** (queue empty): answers "You said: <last user message>", streamed in
``chunk_chars``-character chunks with ``chunk_delay`` seconds between them (a token rate for
benchmarks), role chunk first, a usage chunk only if ``stream_options.include_usage`` was asked
for, then ``[DONE]``. ``n > 1`` gives interleaved choices; choice *i > 0* ends with
`` [i+1]``. ``max_tokens`` (or ``max_completion_tokens``) cuts the answer at that many chunks
with ``finish_reason: "length"``. ``stream: false`` gets a ``chat.completion`` JSON body.

**Server options**: ``FakeLLMServer(models={"a", "b"})`` answers other models with OpenAI's
404 ``model_not_found``; ``api_key="k"`` answers a missing or wrong bearer token with 401;
``chunk_chars`` / ``chunk_delay`` shape the default answer. ``GET /v1/models`` lists models.

**Scripts** (``server.enqueue(*scripts)``; each request takes the next one):

- ``answer(*texts, chunk_chars=4, chunk_delay=0, reasoning="", finish_reason="stop",
  usage=True, done=True, delay=0)``: one text per choice (several = ``n > 1``, interleaved);
  ``reasoning`` is streamed first as ``delta.reasoning_content`` (put ``<think>…</think>`` in a
  text to test inline reasoning; chunking splits the tags). ``finish_reason=None`` omits the
  finish chunks, ``done=False`` omits ``[DONE]``, ``usage=False`` omits the usage chunk. For a
  ``stream: false`` request the same script answers with a ``chat.completion`` body.
- ``error(status, message="", *, code=None, retry_after=None, headers=None, delay=0)``: an
  OpenAI-style JSON error (``{"error": {"message", "type", "code"}}``); ``retry_after`` sets
  the ``Retry-After`` header (a number or an HTTP date string).
- ``completion(body, status=200)``: any JSON body, whatever the request's ``stream`` flag
  (non-stream answers, or a server that ignores ``stream: true``).
- ``events(*steps, status=200, headers=None, delay=0)``: a hand-made event stream. Steps, in
  order: a ``dict`` is sent as ``data: <json>\\n\\n`` (build chunks with ``chunk(...)`` /
  ``usage_chunk(...)``, or ``{"error": {...}}`` for a mid-stream error); a ``str`` is written
  verbatim (``DONE``, ``": keep-alive\\n\\n"``, ``"data: {broken\\n\\n"``, CRLF framing…);
  ``Pause(seconds)`` waits (a stall, or a slow first byte when first); ``DISCONNECT`` drops the
  connection at once.

- ``html_page(html=LOGIN_PAGE, status=200)``: an HTML page (``text/html``) whatever the request
  asked for, as a proxy's login or error page would be. ``events()`` with no steps is an empty
  200 event stream (what llama.cpp sends when the prompt exceeds its context).

**Images**: ``FakeLLMServer(blind_models={"m"})`` answers a request to ``m`` whose messages hold
an ``image_url`` part with OpenAI's 400 ("Invalid content: image_url is only supported by
certain models."); ``server.image_parts(i)`` lists the image URLs of request ``i``.

**Rejected parameters**: ``FakeLLMServer(rejects={"m": ["stream_options", "n"]})`` answers a
request to ``m`` (``"*"``: any model) that carries one of those fields with a 400 naming the first
one present, worded as ``reject_style`` says: ``"openai"`` (``param`` set, "Unsupported
parameter: 'x' …"; for ``max_tokens`` OpenAI's exact "Use 'max_completion_tokens' instead"),
``"azure"`` ("Unrecognized request argument supplied: x"), ``"vllm"`` (pydantic
``extra_forbidden`` list, ``param: null``) or ``"llamacpp"`` ("Unsupported param: x"; for ``n``
"Only one completion choice is allowed"). ``param_error(name, style=...)`` is that response as
a script. Every request, refused or not, is in ``server.requests``.

**Moderations** (``POST /v1/moderations``, OpenAI's shape): ``server.flag("bomb",
category="violence")`` flags every input containing that word (case-insensitive) with that
category; other inputs pass. ``server.enqueue_moderation(*scripts)`` scripts the next
moderation responses instead (``error(503)``, ``completion(body, delay=5)``, ...). Moderation
requests are recorded in ``server.moderations`` (not in ``server.requests``).

``delay`` (all scripts) waits before any response byte: a slow first byte. Pauses end early when
the server closes, and a handler stops when its client goes away, so a stalled script never
holds a test up.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

MODEL = "fake-model"
DONE = "data: [DONE]\n\n"


@dataclass(frozen=True)
class Pause:
    """Wait ``seconds`` before the next step."""

    seconds: float


class _Disconnect:
    def __repr__(self) -> str:
        return "DISCONNECT"


DISCONNECT = _Disconnect()
Step = dict[str, Any] | str | Pause | _Disconnect


@dataclass
class Script:
    """One scripted response: ``steps`` for a streaming request, or a JSON ``body``.

    A JSON ``body`` is sent when the request has ``stream: false`` or when there are no
    ``steps``; otherwise the steps are streamed as ``text/event-stream``.
    """

    steps: list[Step] = field(default_factory=list)
    body: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class RecordedRequest:
    """A request the server received: method, path, lower-cased headers, parsed JSON body
    (``None`` if it was not JSON), the client's ``host:port`` (same peer = reused connection) and
    ``received_at``, the ``time.perf_counter()`` when the request's headers arrived (benchmarks).
    """

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    peer: str = ""
    received_at: float = 0.0


def chunk(
    content: str | None = None,
    *,
    index: int = 0,
    role: str | None = None,
    reasoning: str | None = None,
    finish_reason: str | None = None,
    model: str = MODEL,
) -> dict[str, Any]:
    """A ``chat.completion.chunk`` with one choice."""
    delta: dict[str, Any] = {}
    if role is not None:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    if reasoning is not None:
        delta["reasoning_content"] = reasoning
    choice = {"index": index, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
    return _envelope([choice], None, model)


def usage_chunk(prompt_tokens: int, completion_tokens: int, model: str = MODEL) -> dict[str, Any]:
    """The ``include_usage`` chunk: no choices, usage filled in."""
    return _envelope([], _usage(prompt_tokens, completion_tokens), model)


def answer(
    *texts: str,
    chunk_chars: int = 4,
    chunk_delay: float = 0.0,
    reasoning: str = "",
    finish_reason: str | None = "stop",
    usage: bool = True,
    done: bool = True,
    delay: float = 0.0,
    prompt_tokens: int = 10,
    model: str = MODEL,
) -> Script:
    """A complete answer, one text per choice (see the module doc)."""
    texts = texts or ("",)
    pieces = [_pieces(text, chunk_chars) for text in texts]
    steps: list[Step] = [
        chunk("", index=i, role="assistant", model=model) for i in range(len(texts))
    ]
    for piece in _pieces(reasoning, chunk_chars):
        steps += [chunk(index=i, reasoning=piece, model=model) for i in range(len(texts))]
    for round_ in range(max(map(len, pieces))):
        steps += [
            chunk(p[round_], index=i, model=model) for i, p in enumerate(pieces) if round_ < len(p)
        ]
        steps += [Pause(chunk_delay)] if chunk_delay else []
    if finish_reason is not None:
        steps += [
            chunk(index=i, finish_reason=finish_reason, model=model) for i in range(len(texts))
        ]
    completion_tokens = sum(map(len, pieces))
    if usage:
        steps.append(usage_chunk(prompt_tokens, completion_tokens, model))
    if done:
        steps.append(DONE)
    body = _completion_body(
        texts, reasoning, finish_reason, prompt_tokens, completion_tokens, model
    )
    return Script(steps=steps, body=body, delay=delay)


def error(
    status: int,
    message: str = "",
    *,
    code: str | None = None,
    retry_after: float | str | None = None,
    headers: dict[str, str] | None = None,
    delay: float = 0.0,
) -> Script:
    """An OpenAI-style JSON error response."""
    kind, default_code, default_message = _ERRORS.get(status, ("api_error", None, "Error."))
    all_headers = dict(headers or {})
    if retry_after is not None:
        all_headers["Retry-After"] = str(retry_after)
    payload = {"message": message or default_message, "type": kind, "code": code or default_code}
    return Script(body={"error": payload}, status=status, headers=all_headers, delay=delay)


def param_error(name: str, *, style: str = "openai", value: Any = None) -> Script:
    """The 400 an endpoint of ``style`` sends for a request field ``name`` it does not take."""
    if style == "vllm":
        detail = [
            {"type": "extra_forbidden", "loc": ("body", name), "msg": _FORBIDDEN, "input": value}
        ]
        vllm = {"object": "error", "message": str(detail), "type": "BadRequestError"}
        return Script(body={**vllm, "param": None, "code": 400}, status=400)
    if style == "llamacpp":
        message = _ONE_CHOICE if name == "n" else f"Unsupported param: {name}"
        llama = {"error": {"code": 400, "message": message, "type": _INVALID}}
        return Script(body=llama, status=400)
    if style == "azure":
        message = f"Unrecognized request argument supplied: {name}"
        return Script(body={"error": _openai_error(message, None, None)}, status=400)
    message = f"Unsupported parameter: '{name}' is not supported with this model."
    if name == "max_tokens":
        message += " Use 'max_completion_tokens' instead."
    return Script(body={"error": _openai_error(message, name, "unsupported_parameter")}, status=400)


_FORBIDDEN = "Extra inputs are not permitted"
_ONE_CHOICE = "Only one completion choice is allowed"
_INVALID = "invalid_request_error"


def _openai_error(message: str, param: str | None, code: str | None) -> dict[str, Any]:
    return {"message": message, "type": _INVALID, "param": param, "code": code}


def completion(body: Any, status: int = 200, *, delay: float = 0.0) -> Script:
    """Answer with this JSON body whatever the request asked for."""
    return Script(body=body, status=status, delay=delay)


def events(
    *steps: Step, status: int = 200, headers: dict[str, str] | None = None, delay: float = 0.0
) -> Script:
    """A hand-made event stream (see the module doc for the kinds of step)."""
    return Script(steps=list(steps), status=status, headers=dict(headers or {}), delay=delay)


def reasoned(reasoning: str, text: str = "Three.", pause: float = 0.5) -> Script:
    """Reasoning in one chunk, a pause (a placeholder can show it), then the answer ``text``."""
    return events(
        chunk("", role="assistant"),
        chunk(reasoning=reasoning),
        Pause(pause),
        chunk(text),
        chunk(finish_reason="stop"),
        DONE,
    )


LOGIN_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>Sign in</title></head>"
    "<body><form action='/login'>Please sign in.</form></body></html>\n"
)


def html_page(html: str = LOGIN_PAGE, status: int = 200, *, delay: float = 0.0) -> Script:
    """An HTML page instead of an API answer (a proxy's login page), for any request."""
    headers = {"Content-Type": "text/html; charset=utf-8"}
    return Script(steps=[html], status=status, headers=headers, delay=delay)


_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Forbidden."),
    404: ("invalid_request_error", None, "Not found."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests."),
    500: ("server_error", None, "The server had an error while processing your request."),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


class FakeLLMServer:
    """The fake endpoint; use as ``async with FakeLLMServer() as server`` (see the module doc)."""

    def __init__(
        self,
        *,
        models: Iterable[str] | None = None,
        api_key: str | None = None,
        chunk_chars: int = 4,
        chunk_delay: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        blind_models: Iterable[str] = (),
        rejects: dict[str, Sequence[str]] | None = None,
        reject_style: str = "openai",
    ) -> None:
        self.models = set(models) if models is not None else None
        self.blind_models = set(blind_models)
        self.rejects = {model: list(names) for model, names in (rejects or {}).items()}
        self.reject_style = reject_style
        self.api_key = api_key
        self.chunk_chars = chunk_chars
        self.chunk_delay = chunk_delay
        self.requests: list[RecordedRequest] = []
        self._queue: collections.deque[Script] = collections.deque()
        self.moderations: list[RecordedRequest] = []
        self.flagged_words: dict[str, str] = {}
        self._moderation_queue: collections.deque[Script] = collections.deque()
        self._host, self._port = host, port
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def enqueue(self, *scripts: Script) -> None:
        """Script the next responses, in order; the default behaviour resumes when they run out."""
        self._queue.extend(scripts)

    def flag(self, word: str, *, category: str = "violence") -> None:
        """Moderation flags every input containing ``word`` (case-insensitive) as ``category``."""
        self.flagged_words[word.lower()] = category

    def enqueue_moderation(self, *scripts: Script) -> None:
        """Script the next moderation responses, in order (then word flags apply again)."""
        self._moderation_queue.extend(scripts)

    def image_parts(self, index: int) -> list[str]:
        """The ``image_url`` URLs in request ``index``'s messages, in order."""
        return _image_urls(self.requests[index].body.get("messages"))

    @property
    def queued(self) -> int:
        """How many scripted responses have not been used yet."""
        return len(self._queue)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/moderations", self._moderate)
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://{self._host}:{port}/v1"

    async def close(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeLLMServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _models(self, request: web.Request) -> web.Response:
        names = sorted(self.models or {MODEL})
        data = [{"id": name, "object": "model", "owned_by": "fake"} for name in names]
        return web.json_response({"object": "list", "data": data})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        refusal = self._refusal(request, body)
        if refusal is not None:
            return await self._play(request, refusal, False)
        script = self._queue.popleft() if self._queue else self._echo(body)
        return await self._play(request, script, bool(body.get("stream")))

    async def _moderate(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request, self.moderations)
        if self._moderation_queue:
            return await self._play(request, self._moderation_queue.popleft(), False)
        if not isinstance(body, dict):
            return await self._play(request, error(400, "We could not parse the JSON body."), False)
        raw = body.get("input")
        inputs = raw if isinstance(raw, list) else [raw]
        results = [self._moderation_result(str(item)) for item in inputs]
        model = str(body.get("model") or "omni-moderation-latest")
        return web.json_response({"id": "modr-fake", "model": model, "results": results})

    def _moderation_result(self, text: str) -> dict[str, Any]:
        lowered = text.lower()
        hits = {cat for word, cat in self.flagged_words.items() if word in lowered}
        names = sorted({"violence", "harassment", "hate", "self-harm", "sexual", *hits})
        return {
            "flagged": bool(hits),
            "categories": {name: name in hits for name in names},
            "category_scores": {name: 0.99 if name in hits else 0.001 for name in names},
        }

    async def _record(self, request: web.Request, into: list[RecordedRequest] | None = None) -> Any:
        received_at = time.perf_counter()
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        headers = {name.lower(): value for name, value in request.headers.items()}
        peer = request.transport.get_extra_info("peername") if request.transport else None
        where = f"{peer[0]}:{peer[1]}" if peer else ""
        (self.requests if into is None else into).append(
            RecordedRequest(request.method, request.path, headers, body, where, received_at)
        )
        return body

    def _refusal(self, request: web.Request, body: Any) -> Script | None:
        if not isinstance(body, dict):
            return error(400, "We could not parse the JSON body of your request.")
        token = request.headers.get("Authorization")
        if self.api_key is not None and token != f"Bearer {self.api_key}":
            return error(401)
        model = body.get("model")
        if self.models is not None and model not in self.models:
            message = f"The model `{model}` does not exist or you do not have access to it."
            return error(404, message, code="model_not_found")
        if model in self.blind_models and _image_urls(body.get("messages")):
            message = "Invalid content type. image_url is only supported by certain models."
            return error(400, message, code="invalid_request_error")
        names = self.rejects.get(str(model), self.rejects.get("*", []))
        present = [name for name in names if name in body]
        if present:
            return param_error(present[0], style=self.reject_style, value=body[present[0]])
        return None

    def _echo(self, body: dict[str, Any]) -> Script:
        said = _last_user_text(body.get("messages"))
        n = body.get("n")
        count = n if isinstance(n, int) and 1 <= n <= 128 else 1
        texts = [f"You said: {said}" + (f" [{i + 1}]" if i else "") for i in range(count)]
        finish = "stop"
        limit = body.get("max_tokens", body.get("max_completion_tokens"))
        if isinstance(limit, int) and limit > 0:
            cut = [text[: limit * self.chunk_chars] for text in texts]
            finish = "length" if cut != texts else finish
            texts = cut
        options = body.get("stream_options")
        wants_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        messages = body.get("messages")
        messages = messages if isinstance(messages, list) else []
        prompt = sum(len(str(m.get("content", ""))) for m in messages if isinstance(m, dict)) // 4
        return answer(
            *texts,
            chunk_chars=self.chunk_chars,
            chunk_delay=self.chunk_delay,
            finish_reason=finish,
            usage=wants_usage,
            prompt_tokens=prompt + 1,
            model=str(body.get("model") or MODEL),
        )

    async def _play(self, request: web.Request, script: Script, stream: bool) -> web.StreamResponse:
        if script.delay and not await self._pause(script.delay):
            return _drop(request)
        if script.body is not None and (not stream or not script.steps):
            return web.json_response(script.body, status=script.status, headers=script.headers)
        headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        response = web.StreamResponse(status=script.status, headers={**headers, **script.headers})
        await response.prepare(request)
        try:
            for step in script.steps:
                if not await self._step(request, response, step):
                    return _drop(request, response)
            await response.write_eof()
        except ConnectionError:
            pass  # the client went away
        return response

    async def _step(self, request: web.Request, response: web.StreamResponse, step: Step) -> bool:
        """Perform one step; ``False`` means drop the connection now."""
        if isinstance(step, Pause):
            return await self._pause(step.seconds)
        if isinstance(step, _Disconnect):
            return False
        if isinstance(step, dict):
            await response.write(b"data: " + json.dumps(step).encode() + b"\n\n")
        else:
            await response.write(step.encode())
        return True

    async def _pause(self, seconds: float) -> bool:
        """Sleep; ``False`` if the server started closing meanwhile."""
        try:
            async with asyncio.timeout(seconds):
                await self._closing.wait()
        except TimeoutError:
            return True
        return False


def _drop(request: web.Request, response: web.StreamResponse | None = None) -> web.StreamResponse:
    if request.transport is not None:
        request.transport.abort()
    return response if response is not None else web.StreamResponse(status=500)


def _pieces(text: str, size: int) -> list[str]:
    size = max(1, size)
    return [text[i : i + size] for i in range(0, len(text), size)]


def _envelope(choices: list[Any], usage: Any, model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": model,
        "choices": choices,
        "usage": usage,
    }


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _completion_body(
    texts: Sequence[str],
    reasoning: str,
    finish_reason: str | None,
    prompt_tokens: int,
    completion_tokens: int,
    model: str,
) -> dict[str, Any]:
    choices = []
    for index, text in enumerate(texts):
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if reasoning:
            message["reasoning_content"] = reasoning
        choices.append({"index": index, "message": message, "finish_reason": finish_reason})
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": choices,
        "usage": _usage(prompt_tokens, completion_tokens),
    }


def _image_urls(messages: Any) -> list[str]:
    urls: list[str] = []
    for message in messages if isinstance(messages, list) else []:
        content = message.get("content") if isinstance(message, dict) else None
        for part in content if isinstance(content, list) else []:
            if isinstance(part, dict) and part.get("type") == "image_url":
                urls.append(str((part.get("image_url") or {}).get("url", "")))
    return urls


def _last_user_text(messages: Any) -> str:
    for message in reversed(messages if isinstance(messages, list) else []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            return str(content or "")
    return "nothing"


async def _serve(args: argparse.Namespace) -> None:
    models = [m for m in args.models.split(",") if m] if args.models else None
    server = FakeLLMServer(
        models=models,
        api_key=args.api_key,
        chunk_chars=args.chunk_chars,
        chunk_delay=args.chunk_delay,
        host=args.host,
        port=args.port,
    )
    async with server:
        print(f"fake LLM server at {server.base_url} (Ctrl-C to stop)", flush=True)
        await asyncio.Event().wait()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the fake chat-completions server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--models", default="", help="comma-separated allowlist (default: any)")
    parser.add_argument("--api-key", default=None, help="require this bearer token")
    parser.add_argument("--chunk-chars", type=int, default=4)
    parser.add_argument("--chunk-delay", type=float, default=0.02, help="seconds between chunks")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
