"""Chat-completions payloads → ``StreamEvent``s (pure; no I/O).

``ChunkDecoder`` reads the data of each server-sent event of a streamed answer;
``parse_completion`` reads a whole non-streamed ``chat.completion`` body. Both produce the same
events: ``ReasoningDelta`` (``reasoning_content`` / ``reasoning`` fields and ``<think>`` blocks),
``TextDelta``, ``ChoiceFinished`` and one ``UsageReport``, each keeping its choice index.

What the decoder tolerates: a role-only first chunk, chunks without ``choices`` (the usage
chunk) and ``usage: null``, empty deltas, content given as a list of text parts, anything after
``[DONE]``, content for a choice that already finished (dropped), empty data, and several JSON
chunks in one event when a server forgets the blank line between events.

What it refuses (``LLMProtocolError``): data that is not JSON, a chunk that is not an object,
``choices`` or a choice of the wrong shape, and a stream that ends too early; a stream that
ends (or sends ``[DONE]``) before any choice is ``LLMEmptyAnswer``, "the model returned
nothing". An ``error``
object raises the matching ``LLMError`` (see ``failures``).

Completeness, decided:

- ``[DONE]`` is the server saying the answer is complete. Choices it left without a
  ``finish_reason`` are finished as ``"stop"`` (some proxies drop the field); a ``[DONE]``
  before any choice at all is a protocol error.
- Without ``[DONE]`` (connection closed), the answer is complete only if every choice
  ``0..n-1`` got a ``finish_reason``; otherwise "the stream ended early".
- Usage is reported once, when the stream completes (the last usage seen wins); a stream that
  was cut short reports none, as the API itself sends none.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from bot.errors import LLMProtocolError
from bot.llm.base import ChoiceFinished, ReasoningDelta, StreamEvent, UsageReport
from bot.llm.failures import empty_answer, error_from_payload
from bot.llm.reasoning import ThinkSplitter, split_think
from bot.model import Usage

logger = logging.getLogger(__name__)

DONE = "[DONE]"


class ChunkDecoder:
    """Decode one streamed answer, event by event, for a request that asked for ``n`` choices."""

    __slots__ = ("_expected", "_finished", "_model", "_splitters", "_usage", "done")

    def __init__(self, n: int = 1, *, model: str = "") -> None:
        self._expected = max(1, n)
        self._model = model
        self._splitters: dict[int, ThinkSplitter] = {}
        self._finished: set[int] = set()
        self._usage: Usage | None = None
        self.done = False

    def feed(self, data: str) -> list[StreamEvent]:
        """Events carried by the data of one server-sent event."""
        if self.done or not data.strip():
            return []
        if data.strip() == DONE:
            self.done = True
            return self._complete_on_done()
        try:
            chunk = json.loads(data)
        except ValueError:
            return self._feed_lines(data)
        return self._chunk(chunk)

    def finish(self) -> list[StreamEvent]:
        """The connection closed: final events, or ``LLMProtocolError`` if the answer is cut."""
        if self.done:
            return []
        if not self._splitters:
            raise empty_answer("the stream ended before any chunk arrived")
        missing = sorted((set(range(self._expected)) | self._splitters.keys()) - self._finished)
        if missing:
            raise LLMProtocolError(
                f"the stream ended early: choice(s) {missing} never finished and no [DONE] came"
            )
        self.done = True
        return self._usage_events()

    def _feed_lines(self, data: str) -> list[StreamEvent]:
        lines = [line for line in data.split("\n") if line.strip()]
        if len(lines) < 2:
            raise LLMProtocolError(f"a stream chunk is not valid JSON: {data[:200]!r}")
        return [event for line in lines for event in self.feed(line)]

    def _chunk(self, chunk: Any) -> list[StreamEvent]:
        if not isinstance(chunk, dict):
            raise LLMProtocolError(f"a stream chunk is not a JSON object: {str(chunk)[:200]!r}")
        if chunk.get("error"):
            raise error_from_payload(chunk["error"], model=self._model)
        events: list[StreamEvent] = []
        for position, choice in enumerate(_choices(chunk)):
            events.extend(self._choice(choice, position))
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self._usage = parse_usage(usage)
        return events

    def _choice(self, choice: Any, position: int) -> list[StreamEvent]:
        index = _index(choice, position)
        if index in self._finished:
            return []
        splitter = self._splitters.get(index)
        if splitter is None:
            splitter = self._splitters[index] = ThinkSplitter(index)
        delta = choice.get("delta") or {}
        if not isinstance(delta, dict):
            raise LLMProtocolError(f"choice {index} has a delta that is not an object")
        events: list[StreamEvent] = []
        reasoning = _reasoning(delta)
        if reasoning:
            events.append(ReasoningDelta(reasoning, index))
        content = _text(delta.get("content"), index)
        if content:
            events.extend(splitter.feed(content))
        finish_reason = choice.get("finish_reason")
        if finish_reason:
            events.extend(self._finish_choice(index, str(finish_reason)))
        return events

    def _finish_choice(self, index: int, reason: str) -> list[StreamEvent]:
        self._finished.add(index)
        splitter = self._splitters.get(index)
        tail: list[StreamEvent] = list(splitter.flush()) if splitter else []
        return [*tail, ChoiceFinished(reason, index)]

    def _complete_on_done(self) -> list[StreamEvent]:
        if not self._splitters:
            raise empty_answer("the stream sent [DONE] without any choice")
        events: list[StreamEvent] = []
        for index in sorted(self._splitters.keys() - self._finished):
            logger.info("choice %d got [DONE] without a finish_reason; assuming stop", index)
            events.extend(self._finish_choice(index, "stop"))
        return events + self._usage_events()

    def _usage_events(self) -> list[StreamEvent]:
        return [UsageReport(self._usage)] if self._usage is not None else []


def parse_completion(body: Any, *, model: str = "") -> list[StreamEvent]:
    """Events of a whole (non-streamed) ``chat.completion`` response body."""
    if not isinstance(body, dict):
        raise LLMProtocolError(f"the completion is not a JSON object: {str(body)[:200]!r}")
    if body.get("error"):
        raise error_from_payload(body["error"], model=model)
    choices = sorted(
        ((_index(choice, position), choice) for position, choice in enumerate(_choices(body))),
        key=lambda pair: pair[0],
    )
    if not choices:
        raise LLMProtocolError("the completion has no choices")
    events: list[StreamEvent] = []
    for index, choice in choices:
        events.extend(_message_events(choice, index))
    usage = body.get("usage")
    if isinstance(usage, dict):
        events.append(UsageReport(parse_usage(usage)))
    return events


def _message_events(choice: dict[str, Any], index: int) -> list[StreamEvent]:
    message = choice.get("message") or {}
    if not isinstance(message, dict):
        raise LLMProtocolError(f"choice {index} has a message that is not an object")
    events: list[StreamEvent] = []
    reasoning = _reasoning(message)
    if reasoning:
        events.append(ReasoningDelta(reasoning, index))
    content = _text(message.get("content"), index)
    if content:
        events.extend(split_think(content, index))
    events.append(ChoiceFinished(str(choice.get("finish_reason") or "stop"), index))
    return events


def parse_usage(raw: dict[str, Any]) -> Usage:
    """``Usage`` from an API ``usage`` object; missing or odd counts become 0."""
    return Usage(_count(raw.get("prompt_tokens")), _count(raw.get("completion_tokens")))


def _choices(chunk: dict[str, Any]) -> list[dict[str, Any]]:
    choices = chunk.get("choices") or []
    if not isinstance(choices, list) or not all(isinstance(c, dict) for c in choices):
        raise LLMProtocolError(f"'choices' is not a list of objects: {str(choices)[:200]!r}")
    return choices


def _index(choice: dict[str, Any], position: int) -> int:
    index = choice.get("index", position)
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise LLMProtocolError(f"a choice has an invalid index: {index!r}")
    return int(index)


def _reasoning(delta: dict[str, Any]) -> str:
    for key in ("reasoning_content", "reasoning"):
        value = delta.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def _text(content: Any, index: int) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):  # content parts: [{"type": "text", "text": "..."}]
        return "".join(
            str(part.get("text") or "")
            for part in content
            if isinstance(part, dict) and part.get("type", "text") == "text"
        )
    raise LLMProtocolError(f"choice {index} has content that is not text: {str(content)[:100]!r}")


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return max(0, int(value))
