"""Generation parameters of the chat-completions API: parsing, validation and merging.

One table (``SPECS``) describes every parameter users may set, globally from the environment or
per channel from chat. Values come in as text (environment, slash commands) and are parsed and
range-checked here, so every entry point rejects bad input with the same clear sentence.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from bot.errors import SettingError

MAX_STOP_SEQUENCES = 4
MAX_N = 8
DEFAULT_MAX_TOKENS = 1024
CONTEXT_SAFETY_MARGIN = 0.05
MIN_PROMPT_TOKENS = 256


@dataclass(frozen=True, slots=True)
class GenerationParams:
    """Everything sent to the API besides ``messages``, ``stream`` and ``user``.

    ``None`` means "not sent": the endpoint's own default applies.
    """

    model: str
    temperature: float | None = None
    top_p: float | None = None
    n: int = 1
    stop: tuple[str, ...] = ()
    max_tokens: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: tuple[tuple[str, int], ...] = ()

    def merged(self, overrides: Mapping[str, Any]) -> GenerationParams:
        """A copy with validated ``overrides`` applied (unknown names are refused)."""
        clean = {name: check_value(name, value) for name, value in overrides.items()}
        return replace(self, **clean)

    def to_api(self) -> dict[str, Any]:
        """The request-body fields, leaving out what is unset."""
        body: dict[str, Any] = {"model": self.model}
        for name in ("temperature", "top_p", "max_tokens", "presence_penalty", "frequency_penalty"):
            value = getattr(self, name)
            if value is not None:
                body[name] = value
        if self.n != 1:
            body["n"] = self.n
        if self.stop:
            body["stop"] = list(self.stop)
        if self.logit_bias:
            body["logit_bias"] = dict(self.logit_bias)
        return body

    def as_dict(self) -> dict[str, Any]:
        """Every field with its value, for display."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """How one parameter is parsed from text, checked, and explained."""

    parse: Callable[[str], Any]
    check: Callable[[Any], Any]
    accepted: str


def _float_in(low: float, high: float) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError
        if not low <= float(value) <= high:
            raise ValueError
        return float(value)

    return check


def _int_in(low: int, high: int | None) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError
        if value < low or (high is not None and value > high):
            raise ValueError
        return int(value)

    return check


def _check_model(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise ValueError
    return value.strip()


def _check_stop(value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else list(value)
    if len(items) > MAX_STOP_SEQUENCES or not all(isinstance(s, str) and s for s in items):
        raise ValueError
    return tuple(items)


def _check_logit_bias(value: Any) -> tuple[tuple[str, int], ...]:
    pairs = value.items() if isinstance(value, Mapping) else value
    out: list[tuple[str, int]] = []
    for token, bias in pairs:
        if not str(token).isdigit() or isinstance(bias, bool) or not isinstance(bias, int | float):
            raise ValueError
        if not -100 <= bias <= 100:
            raise ValueError
        out.append((str(token), int(bias)))
    return tuple(out)


def _parse_optional(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def run(text: str) -> Any:
        return None if text.strip().lower() in {"", "default", "none"} else parse(text.strip())

    return run


def _parse_stop(text: str) -> Any:
    text = text.strip()
    if text.startswith("["):
        return json.loads(text)
    return [part for part in text.split("|") if part] if text else []


def _parse_logit_bias(text: str) -> Any:
    text = text.strip()
    if text.startswith("{"):
        return json.loads(text)
    pairs = [p.split(":", 1) for p in text.replace(",", " ").split() if p]
    return {token.strip(): int(bias) for token, bias in pairs}


def _optional(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else check(value)


SPECS: dict[str, ParamSpec] = {
    "model": ParamSpec(str.strip, _check_model, "a model name, e.g. llama-3.1-nemotron"),
    "temperature": ParamSpec(
        _parse_optional(float), _optional(_float_in(0, 2)), "a number from 0 to 2, or 'default'"
    ),
    "top_p": ParamSpec(
        _parse_optional(float), _optional(_float_in(0, 1)), "a number from 0 to 1, or 'default'"
    ),
    "n": ParamSpec(int, _int_in(1, MAX_N), f"a whole number from 1 to {MAX_N}"),
    "stop": ParamSpec(
        _parse_stop,
        _check_stop,
        f"up to {MAX_STOP_SEQUENCES} non-empty strings separated by '|' (or a JSON list)",
    ),
    "max_tokens": ParamSpec(
        _parse_optional(int), _optional(_int_in(1, None)), "a whole number ≥ 1, or 'default'"
    ),
    "presence_penalty": ParamSpec(
        _parse_optional(float), _optional(_float_in(-2, 2)), "a number from -2 to 2, or 'default'"
    ),
    "frequency_penalty": ParamSpec(
        _parse_optional(float), _optional(_float_in(-2, 2)), "a number from -2 to 2, or 'default'"
    ),
    "logit_bias": ParamSpec(
        _parse_logit_bias,
        _check_logit_bias,
        "token ids with biases from -100 to 100, e.g. '50256:-100 1234:5' (or a JSON object)",
    ),
}


def check_value(name: str, value: Any) -> Any:
    """Validate an already-typed ``value`` for parameter ``name``; raise ``SettingError``."""
    spec = _spec(name)
    try:
        return spec.check(value)
    except (ValueError, TypeError):
        raise SettingError(f"{name} = {value!r} is not valid: expected {spec.accepted}.") from None


def parse_value(name: str, text: str) -> Any:
    """Parse and validate a parameter given as text; raise ``SettingError`` naming the problem."""
    spec = _spec(name)
    try:
        return spec.check(spec.parse(text))
    except (ValueError, TypeError):
        raise SettingError(f"{name} = {text!r} is not valid: expected {spec.accepted}.") from None


def _spec(name: str) -> ParamSpec:
    try:
        return SPECS[name]
    except KeyError:
        known = ", ".join(SPECS)
        raise SettingError(f"Unknown parameter {name!r}; known parameters: {known}.") from None


def usable_context(context_tokens: int) -> int:
    """The part of a context window Threadline plans with: 5 % is kept back for estimate errors."""
    return int(context_tokens * (1 - CONTEXT_SAFETY_MARGIN))


def largest_max_tokens(context_tokens: int) -> int:
    """The largest ``max_tokens`` that leaves ``MIN_PROMPT_TOKENS`` for the prompt (may be < 1)."""
    return usable_context(context_tokens) - MIN_PROMPT_TOKENS


def max_tokens_problem(params: GenerationParams, context_tokens: int) -> str:
    """Why ``params.max_tokens`` cannot fit the model's context window, or ``""`` if it fits.

    Decided: the answer may take at most the usable context (95 %) minus ``MIN_PROMPT_TOKENS``,
    so every request keeps room for at least a system prompt and a short message.
    ``None`` (the endpoint's default) is planned as ``DEFAULT_MAX_TOKENS``.
    """
    wanted = params.max_tokens or DEFAULT_MAX_TOKENS
    largest = largest_max_tokens(context_tokens)
    if wanted <= largest:
        return ""
    room = f"at most {largest}" if largest >= 1 else "none (the context window is too small)"
    return (
        f"max_tokens {wanted} does not fit the {context_tokens}-token context window of "
        f"{params.model}: it must leave at least {MIN_PROMPT_TOKENS} tokens for the prompt, "
        f"so max_tokens can be {room}"
    )
