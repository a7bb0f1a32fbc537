"""Server-sent-events framing: lines from bytes, events from lines."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from bot.errors import LLMProtocolError
from bot.llm import sse
from bot.llm.sse import LineSplitter, SSEDecoder, decode_body


def feed_all(lines: list[str]) -> list[str]:
    decoder = SSEDecoder()
    out = [data for line in lines if (data := decoder.feed(line)) is not None]
    tail = decoder.flush()
    return [*out, tail] if tail is not None else out


def test_data_lines_are_dispatched_on_blank_line() -> None:
    assert feed_all(['data: {"a": 1}', "", "data: [DONE]", ""]) == ['{"a": 1}', "[DONE]"]


def test_multi_line_data_is_joined_with_newlines() -> None:
    assert feed_all(["data: first", "data: second", "data:third", ""]) == ["first\nsecond\nthird"]


def test_only_one_space_after_the_colon_is_removed() -> None:
    assert feed_all(["data:  two spaces", ""]) == [" two spaces"]


def test_comments_event_id_retry_and_unknown_fields_are_ignored() -> None:
    lines = [": keep-alive", "event: message", "id: 7", "retry: 1000", "foo: bar", "data: x", ""]
    assert feed_all(lines) == ["x"]


def test_comment_only_event_dispatches_nothing() -> None:
    assert feed_all([": ping", "", ": ping", ""]) == []


def test_pending_data_is_flushed_at_the_end() -> None:
    assert feed_all(["data: last"]) == ["last"]


def test_feed_strips_stray_line_terminators() -> None:
    decoder = SSEDecoder()
    assert decoder.feed("data: x\r\n") is None
    assert decoder.feed("\r\n") == "x"


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_line_splitter_accepts_every_line_ending(newline: bytes) -> None:
    body = newline.join([b"data: a", b"", b": c", b"data: b", b"", b""])
    assert decode_body(body) == ["a", "b"]


def test_crlf_split_between_reads_is_one_line_ending() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"data: a\r") == []
    assert splitter.feed(b"\n\r") == ["data: a"]
    assert splitter.feed(b"\n") == [""]


def test_unicode_line_separators_inside_json_do_not_split_lines() -> None:
    text = 'data: {"c": "a\u2028b\u0085c\x0cd"}\n\n'
    assert decode_body(text.encode()) == ['{"c": "a\u2028b\u0085c\x0cd"}']


def test_multibyte_character_split_across_reads_is_kept_whole() -> None:
    raw = "data: héllo ✓\n".encode()
    splitter = LineSplitter()
    lines = [line for i in range(len(raw)) for line in splitter.feed(raw[i : i + 1])]
    assert lines == ["data: héllo ✓"]


def test_flush_returns_the_unterminated_last_line() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"data: a\n\ndata: [DONE]") == ["data: a", ""]
    assert splitter.flush() == ["data: [DONE]"]
    assert splitter.flush() == []


def test_a_line_without_end_beyond_the_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sse, "MAX_LINE_BYTES", 16)
    splitter = LineSplitter()
    splitter.feed(b"data: 0123456789")
    with pytest.raises(LLMProtocolError, match="exceeds"):
        splitter.feed(b"abc")


EVENTS = st.lists(
    st.text(alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=["Cs"])),
    max_size=6,
)


@given(EVENTS, st.sampled_from([b"\n", b"\r\n", b"\r"]), st.data())
def test_any_split_of_the_bytes_gives_the_same_events(
    payloads: list[str], newline: bytes, data: st.DataObject
) -> None:
    body = b"".join(b"data: " + p.encode() + newline + newline for p in payloads)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=8)))
    splitter, decoder, out = LineSplitter(), SSEDecoder(), []
    for start, end in zip([0, *cuts], [*cuts, len(body)], strict=True):
        for line in splitter.feed(body[start:end]):
            if (event := decoder.feed(line)) is not None:
                out.append(event)
    for line in splitter.flush():
        if (event := decoder.feed(line)) is not None:
            out.append(event)
    if (tail := decoder.flush()) is not None:
        out.append(tail)
    assert out == payloads  # one space after "data:" is the separator; the rest is data
