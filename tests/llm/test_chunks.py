"""Chunk decoding: the shapes real endpoints send, and the ones they should not."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.errors import (
    LLMAuthError,
    LLMBadRequest,
    LLMContextTooLong,
    LLMProtocolError,
    LLMRateLimited,
    LLMUnavailable,
)
from bot.llm.base import ChoiceFinished, ReasoningDelta, StreamEvent, TextDelta, UsageReport
from bot.llm.chunks import ChunkDecoder, parse_completion, parse_usage
from bot.model import Usage
from tests.fakes.llm_server import chunk, usage_chunk


def feed(decoder: ChunkDecoder, *payloads: dict[str, Any] | str) -> list[StreamEvent]:
    out: list[StreamEvent] = []
    for payload in payloads:
        out += decoder.feed(payload if isinstance(payload, str) else json.dumps(payload))
    return out


def test_a_typical_stream() -> None:
    decoder = ChunkDecoder()
    events = feed(
        decoder,
        chunk("", role="assistant"),
        chunk("Hel"),
        chunk("lo"),
        chunk(finish_reason="stop"),
        usage_chunk(5, 2),
        "[DONE]",
    )
    assert events == [
        TextDelta("Hel"),
        TextDelta("lo"),
        ChoiceFinished("stop"),
        UsageReport(Usage(5, 2)),
    ]
    assert decoder.done
    assert decoder.finish() == []


def test_role_only_chunk_and_usage_null_give_no_events() -> None:
    decoder = ChunkDecoder()
    role_only = {"choices": [{"index": 0, "delta": {"role": "assistant"}}], "usage": None}
    assert feed(decoder, role_only, chunk("")) == []


def test_chunks_without_choices_are_tolerated() -> None:
    decoder = ChunkDecoder()
    assert feed(decoder, {"id": "x"}, {"choices": None}, {"choices": []}) == []


def test_usage_is_reported_once_at_the_end_and_the_last_one_wins() -> None:
    decoder = ChunkDecoder()
    partial = {**chunk("a", finish_reason="stop"), "usage": {"prompt_tokens": 1}}
    events = feed(decoder, partial, usage_chunk(7, 3), "[DONE]")
    assert [e for e in events if isinstance(e, UsageReport)] == [UsageReport(Usage(7, 3))]


def test_stream_closed_after_every_choice_finished_is_complete_without_done() -> None:
    decoder = ChunkDecoder()
    feed(decoder, chunk("a"), chunk(finish_reason="length"), usage_chunk(1, 1))
    assert decoder.finish() == [UsageReport(Usage(1, 1))]


def test_stream_closed_before_finish_reason_ended_early() -> None:
    decoder = ChunkDecoder()
    feed(decoder, chunk("partial"))
    with pytest.raises(LLMProtocolError, match="ended early"):
        decoder.finish()


def test_stream_closed_with_nothing_at_all_is_a_protocol_error() -> None:
    with pytest.raises(LLMProtocolError, match="before any chunk"):
        ChunkDecoder().finish()


def test_n2_stream_missing_one_choice_finish_ended_early() -> None:
    decoder = ChunkDecoder(2)
    feed(decoder, chunk("a", index=0, finish_reason="stop"))
    with pytest.raises(LLMProtocolError, match=r"\[1\]"):
        decoder.finish()


def test_done_without_finish_reason_finishes_open_choices_as_stop() -> None:
    decoder = ChunkDecoder(2)
    events = feed(decoder, chunk("a", index=0), chunk("b", index=1), "[DONE]")
    assert events[-2:] == [ChoiceFinished("stop", 0), ChoiceFinished("stop", 1)]


def test_done_before_any_choice_is_a_protocol_error() -> None:
    with pytest.raises(LLMProtocolError, match="without any choice"):
        ChunkDecoder().feed("[DONE]")


def test_anything_after_done_is_ignored() -> None:
    decoder = ChunkDecoder()
    feed(decoder, chunk("a", finish_reason="stop"), "[DONE]")
    assert feed(decoder, chunk("late"), "not json") == []


def test_content_for_a_finished_choice_is_dropped() -> None:
    decoder = ChunkDecoder()
    events = feed(decoder, chunk("a", finish_reason="stop"), chunk("again"))
    assert events == [TextDelta("a"), ChoiceFinished("stop")]


def test_content_and_finish_reason_in_one_chunk_keep_their_order() -> None:
    events = feed(ChunkDecoder(), chunk("end", finish_reason="stop"))
    assert events == [TextDelta("end"), ChoiceFinished("stop")]


def test_n2_interleaved_choices_keep_their_index() -> None:
    decoder = ChunkDecoder(2)
    both = {"choices": [{"index": 1, "delta": {"content": "B"}}, {"index": 0, "delta": {}}]}
    events = feed(decoder, chunk("A", index=0), both, chunk(index=1, finish_reason="stop"))
    assert events == [TextDelta("A", 0), TextDelta("B", 1), ChoiceFinished("stop", 1)]


def test_missing_index_falls_back_to_position() -> None:
    events = feed(ChunkDecoder(), {"choices": [{"delta": {"content": "x"}}]})
    assert events == [TextDelta("x", 0)]


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_fields_become_reasoning_deltas(field: str) -> None:
    payload = {"choices": [{"index": 0, "delta": {field: "hmm", "content": "ok"}}]}
    assert feed(ChunkDecoder(), payload) == [ReasoningDelta("hmm"), TextDelta("ok")]


def test_think_tags_split_across_chunks_never_reach_the_text() -> None:
    decoder = ChunkDecoder()
    parts = ["<thi", "nk>why", " not</th", "ink>\n", "Yes", "."]
    events = feed(decoder, *[chunk(p) for p in parts], chunk(finish_reason="stop"))
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    thought = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    assert (text, thought) == ("Yes.", "why not")


def test_think_split_is_per_choice() -> None:
    decoder = ChunkDecoder(2)
    events = feed(decoder, chunk("<thi", index=0), chunk("<thi", index=1), chunk("nk>a", index=0))
    events += feed(decoder, chunk("ng", index=1), chunk("</think>b", index=0))
    assert [e for e in events if isinstance(e, TextDelta)] == [
        TextDelta("<thing", 1),
        TextDelta("b", 0),
    ]


def test_held_back_text_is_released_when_the_choice_finishes() -> None:
    events = feed(ChunkDecoder(), chunk("<th"), chunk(finish_reason="stop"))
    assert events == [TextDelta("<th"), ChoiceFinished("stop")]


def test_content_parts_list_is_read_as_text() -> None:
    payload = {"choices": [{"delta": {"content": [{"type": "text", "text": "hi"}]}}]}
    assert feed(ChunkDecoder(), payload) == [TextDelta("hi")]


def test_two_chunks_in_one_event_are_both_read() -> None:
    data = json.dumps(chunk("a")) + "\n" + json.dumps(chunk("b"))
    assert ChunkDecoder().feed(data) == [TextDelta("a"), TextDelta("b")]


def test_empty_data_is_ignored() -> None:
    assert ChunkDecoder().feed("  ") == []


@pytest.mark.parametrize(
    "data",
    ['{"choices": [', "not json", "[1, 2]", '{"choices": {"0": {}}}', '{"choices": ["x"]}'],
)
def test_malformed_chunks_are_protocol_errors(data: str) -> None:
    with pytest.raises(LLMProtocolError):
        ChunkDecoder().feed(data)


@pytest.mark.parametrize(
    "choice",
    [{"index": -1, "delta": {}}, {"index": "0", "delta": {}}, {"index": 0, "delta": "x"}],
)
def test_bad_choice_shapes_are_protocol_errors(choice: dict[str, Any]) -> None:
    with pytest.raises(LLMProtocolError):
        feed(ChunkDecoder(), {"choices": [choice]})


def test_non_text_content_is_a_protocol_error() -> None:
    with pytest.raises(LLMProtocolError, match="not text"):
        feed(ChunkDecoder(), {"choices": [{"delta": {"content": 42}}]})


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (
            {
                "message": "This model's maximum context length is 8192 tokens.",
                "code": "context_length_exceeded",
            },
            LLMContextTooLong,
        ),
        ({"message": "Rate limit reached", "type": "rate_limit_error"}, LLMRateLimited),
        ({"message": "bad key", "code": "invalid_api_key"}, LLMAuthError),
        ({"message": "temperature too high", "code": 400}, LLMBadRequest),
        ({"message": "Internal error", "type": "server_error"}, LLMUnavailable),
        ("upstream overloaded", LLMUnavailable),
    ],
)
def test_error_object_mid_stream_raises_the_mapped_error(error: Any, kind: type) -> None:
    decoder = ChunkDecoder(model="m")
    feed(decoder, chunk("partial"))
    with pytest.raises(kind) as caught:
        feed(decoder, {"error": error})
    assert type(caught.value) is kind
    message = error["message"] if isinstance(error, dict) else error
    assert message in str(caught.value)


def test_parse_completion_reads_every_choice_with_reasoning_and_usage() -> None:
    body = {
        "choices": [
            {"index": 1, "message": {"content": "B"}, "finish_reason": "length"},
            {
                "index": 0,
                "message": {"content": "<think>t</think>A", "reasoning_content": "r"},
                "finish_reason": "stop",
            },
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }
    assert parse_completion(body) == [
        ReasoningDelta("r", 0),
        ReasoningDelta("t", 0),
        TextDelta("A", 0),
        ChoiceFinished("stop", 0),
        TextDelta("B", 1),
        ChoiceFinished("length", 1),
        UsageReport(Usage(3, 2)),
    ]


def test_parse_completion_null_content_and_finish_reason() -> None:
    body = {"choices": [{"message": {"content": None}, "finish_reason": None}]}
    assert parse_completion(body) == [ChoiceFinished("stop", 0)]


@pytest.mark.parametrize("body", [[], {"choices": []}, {"choices": [{"message": "x"}]}])
def test_parse_completion_refuses_bad_bodies(body: Any) -> None:
    with pytest.raises(LLMProtocolError):
        parse_completion(body)


def test_parse_completion_error_body_raises_the_mapped_error() -> None:
    with pytest.raises(LLMContextTooLong):
        parse_completion({"error": {"message": "prompt is too long: 9000 tokens"}})


def test_parse_usage_tolerates_missing_and_odd_counts() -> None:
    assert parse_usage({"prompt_tokens": True, "completion_tokens": "3"}) == Usage(0, 0)
    assert parse_usage({"prompt_tokens": 4}) == Usage(4, 0)
