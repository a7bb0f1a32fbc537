from __future__ import annotations

import pytest

from bot.channel_settings import apply_change
from bot.errors import SettingError
from bot.params import GenerationParams, check_value, parse_value


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("temperature", "0.7", 0.7),
        ("temperature", "default", None),
        ("top_p", "1", 1.0),
        ("n", "3", 3),
        ("max_tokens", "512", 512),
        ("presence_penalty", "-2", -2.0),
        ("frequency_penalty", "2", 2.0),
        ("stop", "END|STOP", ("END", "STOP")),
        ("stop", '["a", "b"]', ("a", "b")),
        ("logit_bias", "50256:-100 1234:5", (("50256", -100), ("1234", 5))),
        ("logit_bias", '{"42": 10}', (("42", 10),)),
        ("model", " gpt-4o ", "gpt-4o"),
    ],
)
def test_parse_accepts_valid_values(name, text, expected):
    assert parse_value(name, text) == expected


@pytest.mark.parametrize(
    ("name", "text", "accepted"),
    [
        ("temperature", "2.5", "0 to 2"),
        ("temperature", "hot", "0 to 2"),
        ("top_p", "-0.1", "0 to 1"),
        ("n", "0", "1 to 8"),
        ("max_tokens", "0", "≥ 1"),
        ("presence_penalty", "3", "-2 to 2"),
        ("stop", "a|b|c|d|e", "up to 4"),
        ("logit_bias", "abc:5", "-100 to 100"),
        ("logit_bias", "12:101", "-100 to 100"),
        ("model", "  ", "model name"),
    ],
)
def test_parse_rejects_with_a_sentence_naming_value_and_range(name, text, accepted):
    with pytest.raises(SettingError) as caught:
        parse_value(name, text)
    message = caught.value.user_message
    assert name in message
    assert accepted in message


def test_unknown_parameter_lists_the_known_ones():
    with pytest.raises(SettingError, match="known parameters: model, temperature"):
        parse_value("temprature", "1")


def test_to_api_leaves_out_unset_fields_and_sends_set_ones():
    params = GenerationParams(model="m").merged(
        {"temperature": 0.5, "stop": ["x"], "logit_bias": {"1": 2}, "n": 2}
    )
    assert params.to_api() == {
        "model": "m",
        "temperature": 0.5,
        "n": 2,
        "stop": ["x"],
        "logit_bias": {"1": 2},
    }


def test_bool_is_not_a_number():
    with pytest.raises(SettingError):
        check_value("temperature", True)


def test_channel_max_tokens_must_fit_the_effective_model_context():
    defaults = GenerationParams(model="big", max_tokens=1024)
    contexts = {"big": 32768, "small": 1024}.__getitem__
    check = {"defaults": defaults, "context_tokens": contexts}
    assert apply_change({}, "max_tokens", "30873", **check) == {"max_tokens": 30873}
    with pytest.raises(SettingError, match="at most 30873"):
        apply_change({}, "max_tokens", "30874", **check)
    with pytest.raises(SettingError, match="lower max_tokens first"):
        apply_change({}, "model", "small", **check)  # the global 1024 does not fit 2048
    assert apply_change({"max_tokens": 500}, "model", "small", **check)["model"] == "small"
    assert apply_change({}, "temperature", "0.5", **check) == {"temperature": 0.5}
