"""Redaction: what is taken out of a prompt before it leaves the workspace, and put back after.

Decisions taken:

- Off by default. ``REDACT`` names built-in detectors (``email``, ``phone``, ``card``, ``iban``,
  ``key``, ``ip``, or ``all``); ``REDACT_PATTERNS`` adds the workspace's own regexes
  (``name=regex;name2=regex2``). Both are validated at start with one-line errors.
- Every user and assistant message of the prompt is redacted (the system prompt is the admin's
  own text and is sent as written). A match becomes a typed placeholder, ``[EMAIL_1]``,
  ``[CARD_2]``, numbered per type; the same value gets the same placeholder within one request.
  Only the request is redacted: the stored history keeps what the user wrote.
- Where matches overlap, the detector listed first wins: custom patterns, then keys, e-mail
  addresses, IBANs, cards, IP addresses, phone numbers (the most specific shapes first).
- The model's answer comes back through ``UnredactingModel``: placeholders of the request are
  mapped back to their values in the streamed text, so what the user sees, what is
  checkpointed and what is stored hold the real values. A placeholder split across deltas is
  held back (``Unredactor``) until it closes or can no longer be one; a placeholder the
  request did not contain is left as the model wrote it.
- Validation comes from maintained libraries rather than hand-written checksums:
  ``python-stdnum`` (IBAN mod-97 with each country's format, the Luhn check for cards) and
  ``phonenumbers`` (Google's libphonenumber metadata: only numbers valid for their region
  match, so order numbers and dates are not phones). ``phonenumberslite`` is the same library
  without the geocoding and carrier data, which redaction does not use. Without
  ``REDACT_PHONE_REGION`` only numbers in international form (``+44 …``) are found; with it,
  that country's national form too.
- Cards: 13 to 19 digits, optionally grouped by single spaces or hyphens, passing Luhn. A
  16-digit number that fails Luhn is not a card (one in ten random numbers passes: such a
  number is redacted, the safer mistake).
- Nothing is done when redaction is off: ``redact_request`` returns the request as it is and
  ``unredacting`` the model itself (no wrapper on the streaming path).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from stdnum import iban as stdnum_iban, luhn

from bot.errors import ConfigError
from bot.llm.base import ChatModel, ChoiceFinished, CompletionRequest, StreamEvent, TextDelta

if TYPE_CHECKING:
    from bot.config import EnvReader

PLACEHOLDER = re.compile(r"\[[A-Z][A-Z0-9_]*_\d+\]")
"""The shape of every placeholder: ``[KIND_N]``."""

BUILTIN_NAMES = ("email", "phone", "card", "iban", "key", "ip")
ACCEPTED = f"a comma-separated list of {', '.join(BUILTIN_NAMES)}, or all"
PATTERNS_ACCEPTED = (
    "name=regex pairs separated by ';' (a name is letters, digits and _; the regex must not "
    r"match empty text), e.g. ticket=TICKET-\d+;badge=B\d{6}"
)
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


class Detector(Protocol):
    """Finds one kind of value in text."""

    @property
    def kind(self) -> str:
        """The placeholder's word, upper case (``EMAIL`` gives ``[EMAIL_1]``)."""
        ...

    def find(self, text: str) -> Iterator[tuple[int, int]]:
        """The spans of ``text`` holding such a value."""
        ...


@dataclass(frozen=True, slots=True)
class RegexDetector:
    """Matches of ``pattern`` that ``valid`` accepts (all when None). A named group ``value``,
    when it took part in a match, is the span replaced (``Bearer <value>``)."""

    kind: str
    pattern: re.Pattern[str]
    valid: Callable[[str], bool] | None = None

    def find(self, text: str) -> Iterator[tuple[int, int]]:
        for match in self.pattern.finditer(text):
            start, end = _value_span(match)
            if self.valid is None or self.valid(text[start:end]):
                yield start, end


def _value_span(match: re.Match[str]) -> tuple[int, int]:
    if "value" in match.re.groupindex and match.start("value") >= 0:
        return match.span("value")
    return match.span()


_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}(?![\w-])"
)
_CARD = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")
_IBAN = re.compile(r"(?<![\w-])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?(?![\w-])")
_KEY = re.compile(
    r"(?<![\w-])(?:"
    r"sk-(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{20,}"  # OpenAI-style secret keys (sk-, sk-proj-, …)
    r"|xox[abpr]-(?=[A-Za-z0-9-]*\d)[A-Za-z0-9-]{10,}"  # Slack bot/user/app tokens
    r"|xapp-\d-[A-Za-z0-9-]{10,}"  # Slack app-level tokens
    r"|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}"  # GitHub tokens
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}"  # AWS access key ids
    r"|AIza[0-9A-Za-z_-]{35}"  # Google API keys
    r"|(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"  # Stripe keys
    r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"  # JWTs
    r"|(?i:bearer)\s+(?P<value>(?=[A-Za-z0-9._~+/-]*\d)[A-Za-z0-9._~+/-]{16,}=*)"
    r")(?![\w-])"
)
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\.?\w)")
_IPV6 = re.compile(
    r"(?<![\w:.])(?=[0-9A-Fa-f.]*:[0-9A-Fa-f.]*:)[0-9A-Fa-f:][0-9A-Fa-f:.]*[0-9A-Fa-f](?![\w:])"
)
_SEVEN_DIGITS = re.compile(r"(?:\d\D{0,3}){7}")


def _is_card(text: str) -> bool:
    digits = re.sub(r"[ -]", "", text)
    return 13 <= len(digits) <= 19 and luhn.is_valid(digits)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class IbanDetector:
    """IBANs in print form (groups of four) or compact, valid by ``python-stdnum``; a
    candidate that runs into a following word is shortened group by group until it is valid."""

    kind = "IBAN"

    def find(self, text: str) -> Iterator[tuple[int, int]]:
        for match in _IBAN.finditer(text):
            end = _longest_valid(text, match.start(), match.end())
            if end is not None:
                yield match.start(), end


def _longest_valid(text: str, start: int, end: int) -> int | None:
    while end - start >= 15:
        if stdnum_iban.is_valid(text[start:end]):
            return end
        cut = text.rfind(" ", start, end)
        end = cut if cut > start else end - 1
    return None


class PhoneDetector:
    """Phone numbers valid for their region (``phonenumbers``); see the module doc."""

    kind = "PHONE"

    def __init__(self, region: str | None) -> None:
        import phonenumbers  # loaded only when phone redaction is on

        self._matcher = phonenumbers.PhoneNumberMatcher
        self._region = region

    def find(self, text: str) -> Iterator[tuple[int, int]]:
        if not _SEVEN_DIGITS.search(text):
            return
        for match in self._matcher(text, self._region):
            yield match.start, match.end


def builtin(name: str, phone_region: str | None = None) -> list[Detector]:
    """The detectors of one built-in name (``ip`` is two: IPv4 and IPv6)."""
    if name == "phone":
        return [PhoneDetector(phone_region)]
    if name == "iban":
        return [IbanDetector()]
    found: dict[str, list[Detector]] = {
        "email": [RegexDetector("EMAIL", _EMAIL)],
        "card": [RegexDetector("CARD", _CARD, _is_card)],
        "key": [RegexDetector("KEY", _KEY)],
        "ip": [RegexDetector("IP", _IPV4, _is_ip), RegexDetector("IP", _IPV6, _is_ip)],
    }
    return found[name]


PRIORITY = ("key", "email", "iban", "card", "ip", "phone")
"""The order built-in detectors claim overlapping text in (custom patterns come first)."""


@dataclass(slots=True)
class _Numbering:
    """Placeholders given out within one request: value → placeholder, and back."""

    by_value: dict[tuple[str, str], str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    mapping: dict[str, str] = field(default_factory=dict)

    def placeholder(self, kind: str, value: str) -> str:
        known = self.by_value.get((kind, value))
        if known is None:
            self.counts[kind] = self.counts.get(kind, 0) + 1
            known = f"[{kind}_{self.counts[kind]}]"
            self.by_value[(kind, value)] = known
            self.mapping[known] = value
        return known


class Redactor:
    """Replaces what its detectors find by typed placeholders (see the module doc)."""

    def __init__(self, detectors: Sequence[Detector]) -> None:
        self.detectors = tuple(detectors)

    def redact(
        self, messages: Sequence[Mapping[str, str]]
    ) -> tuple[list[dict[str, str]], dict[str, str]]:
        """The messages with user and assistant contents redacted, and placeholder → value."""
        numbering = _Numbering()
        redacted = [self._message(message, numbering) for message in messages]
        return redacted, numbering.mapping

    def redact_text(self, text: str) -> str:
        """One text redacted on its own (its own numbering)."""
        return self._apply(text, _Numbering())

    def _message(self, message: Mapping[str, str], numbering: _Numbering) -> dict[str, str]:
        out = dict(message)
        if out.get("role") in {"user", "assistant"} and out.get("content"):
            out["content"] = self._apply(out["content"], numbering)
        return out

    def _apply(self, text: str, numbering: _Numbering) -> str:
        pieces: list[str] = []
        done = 0
        for start, end, kind in self._spans(text):
            pieces += [text[done:start], numbering.placeholder(kind, text[start:end])]
            done = end
        return "".join([*pieces, text[done:]]) if pieces else text

    def _spans(self, text: str) -> list[tuple[int, int, str]]:
        taken: list[tuple[int, int, str]] = []
        for detector in self.detectors:
            for start, end in detector.find(text):
                if end > start and not any(s < end and start < e for s, e, _ in taken):
                    taken.append((start, end, detector.kind))
        return sorted(taken)


class Unredactor:
    """Puts a request's values back into an answer that arrives in pieces.

    ``feed`` returns the text that can be shown now: everything except a tail that may still
    become a placeholder of the request (``[EMA`` …), which waits for the next piece.
    ``flush`` returns what is still held (an unfinished placeholder stays as written).
    """

    def __init__(self, mapping: Mapping[str, str]) -> None:
        self._mapping = dict(mapping)
        self._prefixes = frozenset(p[:i] for p in self._mapping for i in range(1, len(p)))
        self._held = ""

    def feed(self, text: str) -> str:
        text = self._held + text
        self._held = ""
        cut = text.rfind("[")
        if cut >= 0 and text[cut:] in self._prefixes:
            text, self._held = text[:cut], text[cut:]
        return self.restore(text)

    def flush(self) -> str:
        held, self._held = self._held, ""
        return held

    def restore(self, text: str) -> str:
        """``text`` with every complete placeholder of the request replaced by its value."""
        if "[" not in text:
            return text
        return PLACEHOLDER.sub(lambda m: self._mapping.get(m.group(0), m.group(0)), text)


@dataclass(frozen=True, slots=True)
class RedactedRequest(CompletionRequest):
    """A request whose prompt was redacted; ``mapping`` takes its placeholders back."""

    mapping: Mapping[str, str] = field(default_factory=dict)


def redact_request(redactor: Redactor | None, request: CompletionRequest) -> CompletionRequest:
    """``request`` with its prompt redacted (as it is when redaction is off or found nothing)."""
    if redactor is None:
        return request
    messages, mapping = redactor.redact(request.messages)
    if not mapping:
        return request
    return RedactedRequest(messages, request.params, request.user, request.images, mapping=mapping)


def unredacting(model: ChatModel, request: CompletionRequest) -> ChatModel:
    """The model to stream ``request`` from: one that maps placeholders back when the request
    was redacted, else ``model`` itself."""
    if isinstance(request, RedactedRequest) and request.mapping:
        return UnredactingModel(model, request.mapping)
    return model


class UnredactingModel:
    """A ``ChatModel`` whose answer text (every choice) has the placeholders mapped back."""

    def __init__(self, inner: ChatModel, mapping: Mapping[str, str]) -> None:
        self._inner = inner
        self._mapping = mapping

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        choices: dict[int, Unredactor] = {}
        async for event in self._inner.stream(request):
            for out in self._restore(event, choices):
                yield out
        for out in self._flush(choices):
            yield out

    async def complete(self, request: CompletionRequest) -> list[StreamEvent]:
        choices: dict[int, Unredactor] = {}
        events = [
            out for e in await self._inner.complete(request) for out in self._restore(e, choices)
        ]
        return events + list(self._flush(choices))

    def _restore(self, event: StreamEvent, choices: dict[int, Unredactor]) -> Iterator[StreamEvent]:
        if isinstance(event, TextDelta):
            unredactor = choices.get(event.index)
            if unredactor is None:
                unredactor = choices[event.index] = Unredactor(self._mapping)
            text = unredactor.feed(event.text)
            if text:
                yield TextDelta(text, event.index)
            return
        if isinstance(event, ChoiceFinished) and event.index in choices:
            tail = choices[event.index].flush()
            if tail:
                yield TextDelta(tail, event.index)
        yield event

    @staticmethod
    def _flush(choices: dict[int, Unredactor]) -> Iterator[StreamEvent]:
        for index, unredactor in choices.items():
            tail = unredactor.flush()
            if tail:
                yield TextDelta(tail, index)


# -- settings -----------------------------------------------------------------------------


def load_redaction(env: EnvReader) -> Redactor | None:
    """``REDACT``, ``REDACT_PATTERNS`` and ``REDACT_PHONE_REGION`` as a ``Redactor`` (None
    when nothing is to be redacted); ``ConfigError`` with one line for a bad value."""
    names: tuple[str, ...] = env.convert("REDACT", (), parse_names, ACCEPTED)
    region = env.convert("REDACT_PHONE_REGION", None, _parse_region, _REGION_ACCEPTED)
    detectors: list[Detector] = list(parse_patterns(env.text("REDACT_PATTERNS")))
    for name in PRIORITY:
        if name in names:
            detectors += builtin(name, region)
    return Redactor(detectors) if detectors else None


def parse_names(text: str) -> tuple[str, ...]:
    """``email,card`` or ``all``; ``ValueError`` for anything else."""
    names = tuple(item.strip().lower() for item in text.split(",") if item.strip())
    if names == ("all",):
        return BUILTIN_NAMES
    if not names or any(name not in BUILTIN_NAMES for name in names):
        raise ValueError(text)
    return names


_REGION_ACCEPTED = "a two-letter country code that phonenumbers knows, e.g. GB, US or DE"


def _parse_region(text: str) -> str:
    import phonenumbers  # only when the variable is set

    region = text.upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(text)
    return region


def parse_patterns(text: str) -> Iterable[Detector]:
    """``name=regex;name2=regex2`` as detectors (kind ``NAME``); ``ConfigError`` naming the
    pair at fault. A ``;`` inside a regex is written ``\\;``."""
    for item in re.split(r"(?<!\\);", text):
        if item.strip():
            yield _pattern(item.strip())


def _pattern(item: str) -> RegexDetector:
    name, sep, source = item.partition("=")
    name = name.strip()
    problem = ""
    if not sep or not _NAME.fullmatch(name):
        problem = "it is not name=regex"
    else:
        try:
            pattern = re.compile(source)
        except re.error as exc:
            problem = f"the regex does not compile ({exc})"
        else:
            if pattern.fullmatch(""):
                problem = "the regex matches empty text"
    if problem:
        shown = item if len(item) <= 80 else item[:77] + "..."
        raise ConfigError(
            f"REDACT_PATTERNS={shown!r} is not valid: {problem}; expected {PATTERNS_ACCEPTED}."
        )
    return RegexDetector(name.upper(), pattern)


__all__ = [
    "BUILTIN_NAMES",
    "Detector",
    "RedactedRequest",
    "Redactor",
    "UnredactingModel",
    "Unredactor",
    "load_redaction",
    "redact_request",
    "unredacting",
]
