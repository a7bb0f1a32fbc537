"""Redaction: each detector (true and false positives), placeholders, the streaming
unredactor over every split point, and the settings that build it."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, strategies as st

from bot.config import EnvReader, load_settings
from bot.errors import ConfigError
from bot.llm.base import ChoiceFinished, CompletionRequest, TextDelta
from bot.llm.client import ChatCompletionsClient, LLMTimeouts, build_http_client
from bot.params import GenerationParams
from bot.redact import (
    PRIORITY,
    RedactedRequest,
    Redactor,
    Unredactor,
    builtin,
    load_redaction,
    parse_patterns,
    redact_request,
    unredacting,
)
from tests.fakes.llm_server import FakeLLMServer, answer


def only(name: str, region: str | None = None) -> Redactor:
    return Redactor(builtin(name, region))


def everything(region: str | None = None) -> Redactor:
    return Redactor([d for name in PRIORITY for d in builtin(name, region)])


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("email", "write to ann.lee+bot@mail.example.co.uk.", "write to [EMAIL_1]."),
        ("email", "<mailto:a@b.io|a@b.io>", "<mailto:[EMAIL_1]|[EMAIL_1]>"),
        ("card", "card 4111 1111 1111 1111 ok", "card [CARD_1] ok"),
        ("card", "card 4111-1111-1111-1111", "card [CARD_1]"),
        ("card", "amex 378282246310005", "amex [CARD_1]"),
        ("iban", "to DE89 3704 0044 0532 0130 00 OK", "to [IBAN_1] OK"),
        ("iban", "GB82WEST12345698765432.", "[IBAN_1]."),
        ("key", "sk-proj-abc123DEF456ghi789JKL012", "[KEY_1]"),
        ("key", "token xoxb-1234567890-abcdefghijkl here", "token [KEY_1] here"),
        ("key", "ghp_" + "a1" * 18, "[KEY_1]"),
        ("key", "AKIAIOSFODNN7EXAMPLE", "[KEY_1]"),
        (
            "key",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9P",
            "[KEY_1]",
        ),
        ("key", "Authorization: Bearer abcdef1234567890abcd", "Authorization: Bearer [KEY_1]"),
        ("ip", "from 192.168.0.1, then ::1.", "from [IP_1], then [IP_2]."),
        ("ip", "v6 2001:db8::8a2e:370:7334 up", "v6 [IP_1] up"),
        ("phone", "call +44 20 7946 0958 now", "call [PHONE_1] now"),
    ],
)
def test_detectors_find_their_values(name, text, expected):
    assert only(name).redact_text(text) == expected


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("email", "user@localhost and @channel and a@b"),
        ("card", "order 1234567812345678 (16 digits, fails Luhn)"),
        ("card", "4111 1111 1111 1112"),
        ("card", "short 4111 1111 111"),
        ("iban", "DE89 3704 0044 0532 0130 01 (bad checksum)"),
        ("key", "sk-learn-compatible-estimators and a Bearer token of sorts"),
        ("key", "AKIA is a prefix, task-sk-12345"),
        ("ip", "999.1.1.1 1.2.3.4.5 version 10:30:00 std::vector 00:1a:2b:3c:4d:5e"),
        ("phone", "room 020 7946 0958 without a region; date 2024-01-15; 12345"),
    ],
)
def test_detectors_leave_lookalikes_alone(name, text):
    assert only(name).redact_text(text) == text


def test_phone_region_finds_national_numbers():
    assert only("phone", "GB").redact_text("ring 020 7946 0958") == "ring [PHONE_1]"


def test_same_value_same_placeholder_across_messages_and_counted_per_type():
    messages = [
        {"role": "system", "content": "Support is at help@corp.example."},
        {"role": "user", "content": "I am a@x.io, card 4111111111111111"},
        {"role": "assistant", "content": "Hello a@x.io"},
        {"role": "user", "content": "also b@x.io and 192.168.0.1 and a@x.io"},
    ]
    redacted, mapping = everything().redact(messages)
    assert [m["content"] for m in redacted] == [
        "Support is at help@corp.example.",  # the system prompt is sent as written
        "I am [EMAIL_1], card [CARD_1]",
        "Hello [EMAIL_1]",
        "also [EMAIL_2] and [IP_1] and [EMAIL_1]",
    ]
    assert mapping == {
        "[EMAIL_1]": "a@x.io",
        "[CARD_1]": "4111111111111111",
        "[EMAIL_2]": "b@x.io",
        "[IP_1]": "192.168.0.1",
    }
    assert messages[1]["content"] == "I am a@x.io, card 4111111111111111"  # not changed


def test_overlaps_go_to_the_more_specific_detector():
    text = "Bearer sk-abc123DEF456ghi789JKL0 and DE89370400440532013000"
    assert everything("DE").redact_text(text) == "Bearer [KEY_1] and [IBAN_1]"


def test_custom_patterns_come_first_and_are_typed_by_name():
    redactor = Redactor([*parse_patterns(r"ticket=TICKET-\d+;emp=E\d{5}"), *builtin("email")])
    text = "TICKET-42 by E12345 (e@x.io)"
    assert redactor.redact_text(text) == "[TICKET_1] by [EMP_1] ([EMAIL_1])"


def test_escaped_semicolon_stays_in_the_regex():
    (detector,) = parse_patterns(r"pair=a\;b")
    assert Redactor([detector]).redact_text("x a;b y") == "x [PAIR_1] y"


# -- the streaming side ----------------------------------------------------------------------

MAPPING = {"[EMAIL_1]": "a@x.io", "[EMAIL_12]": "z@x.io", "[CARD_1]": "4111111111111111"}
PIECES = st.sampled_from(
    ["[EMAIL_1]", "[EMAIL_12]", "[CARD_1]", "[CARD_9]", "[EMAIL_", "[", "]", "_1]", "a", " ", "["]
)


def _stream(text: str, cuts: list[int]) -> str:
    unredactor = Unredactor(MAPPING)
    bounds = [0, *sorted(set(cuts)), len(text)]
    shown = [unredactor.feed(text[a:b]) for a, b in itertools.pairwise(bounds)]
    return "".join(shown) + unredactor.flush()


@given(st.lists(PIECES | st.text(max_size=3), max_size=12))
def test_unredactor_at_every_split_point_equals_whole_text_restore(parts):
    text = "".join(parts)
    whole = Unredactor(MAPPING).restore(text)
    for cut in range(len(text) + 1):
        assert _stream(text, [cut]) == whole


@given(st.lists(PIECES | st.text(max_size=3), max_size=12), st.data())
def test_unredactor_any_splits_equal_whole_text_restore(parts, data):
    text = "".join(parts)
    cuts = data.draw(st.lists(st.integers(0, len(text)), max_size=len(text)))
    assert _stream(text, cuts) == Unredactor(MAPPING).restore(text)


def test_unredactor_holds_back_only_what_may_still_be_a_placeholder():
    unredactor = Unredactor(MAPPING)
    assert unredactor.feed("Mail [EMA") == "Mail "
    assert unredactor.feed("IL_1") == ""
    assert unredactor.feed("2] or [x") == "z@x.io or [x"
    assert unredactor.feed(" [CARD_") == " "
    assert unredactor.flush() == "[CARD_"


def test_unknown_placeholders_are_left_as_written():
    assert Unredactor(MAPPING).restore("[EMAIL_3] [CARD_1]") == "[EMAIL_3] 4111111111111111"


def _request(text: str) -> CompletionRequest:
    params = GenerationParams(model="fake-model", max_tokens=100)
    return CompletionRequest([{"role": "user", "content": text}], params, "u")


async def test_unredacting_model_streams_real_values_whatever_the_chunking():
    request = redact_request(everything(), _request("I am a@x.io"))
    assert isinstance(request, RedactedRequest)
    assert request.messages[0]["content"] == "I am [EMAIL_1]"
    async with FakeLLMServer() as server, build_http_client(server.base_url, 2.0) as http:
        client = ChatCompletionsClient(http, api_key="k", timeouts=LLMTimeouts(2, 2, 2))
        server.enqueue(answer("Hi [EMAIL_1], bye [EMAIL_1", chunk_chars=3))
        events = [e async for e in unredacting(client, request).stream(request)]
    texts = [e.text for e in events if isinstance(e, TextDelta)]
    assert "".join(texts) == "Hi a@x.io, bye [EMAIL_1"
    assert all("[EMAIL_1]" not in t for t in texts)
    finished = next(i for i, e in enumerate(events) if isinstance(e, ChoiceFinished))
    assert "".join(texts) == "".join(
        e.text for e in events[:finished] if isinstance(e, TextDelta)
    )  # the held-back tail comes out before the choice finishes


def test_nothing_changes_when_redaction_is_off_or_finds_nothing():
    request = _request("nothing to hide")
    assert redact_request(None, request) is request
    assert redact_request(everything(), request) is request
    model = object()
    assert unredacting(model, request) is model  # type: ignore[arg-type]


# -- settings ----------------------------------------------------------------------------------


def test_settings_build_the_redactor():
    assert load_settings(EnvReader({})).redactor is None
    redactor = load_redaction(EnvReader({"REDACT": "email, card"}))
    assert redactor is not None
    assert [d.kind for d in redactor.detectors] == ["EMAIL", "CARD"]
    everything_on = load_redaction(EnvReader({"REDACT": "all", "REDACT_PATTERNS": "t=T\\d+"}))
    assert everything_on is not None
    kinds = [d.kind for d in everything_on.detectors]
    assert kinds == ["T", "KEY", "EMAIL", "IBAN", "CARD", "IP", "IP", "PHONE"]


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"REDACT": "emial"}, "REDACT='emial' is not valid: expected a comma-separated list"),
        ({"REDACT": "all,email"}, "REDACT='all,email' is not valid"),
        ({"REDACT_PATTERNS": "ticket"}, "REDACT_PATTERNS='ticket' is not valid: it is not name"),
        ({"REDACT_PATTERNS": "t=("}, "REDACT_PATTERNS='t=(' is not valid: the regex does not"),
        ({"REDACT_PATTERNS": "t=a*"}, "the regex matches empty text"),
        ({"REDACT_PATTERNS": "9x=a"}, "REDACT_PATTERNS='9x=a' is not valid"),
        ({"REDACT_PHONE_REGION": "XX"}, "REDACT_PHONE_REGION='XX' is not valid: expected a two"),
    ],
)
def test_bad_redaction_settings_are_one_line(env, needle):
    with pytest.raises(ConfigError) as caught:
        load_settings(EnvReader(env))
    assert needle in str(caught.value)
    assert "\n" not in str(caught.value)
