"""Moderation: an OpenAI-compatible ``/moderations`` endpoint checks each question before it is
sent to the model and each complete answer before it stays on the platform.

Decisions taken:

- ``MODERATION_URL`` is the endpoint itself (``…/v1/moderations``); a base URL (``…/v1``) gets
  ``/moderations`` appended. ``MODERATION_API_KEY`` defaults to ``LLM_API_KEY``;
  ``MODERATION_MODEL`` is sent only when set (the endpoint's default otherwise).
- What is checked is what would leave the workspace: the question as the model would receive
  it (redacted when redaction is on) and the answer redacted the same way.
- A flagged question: nothing is sent to the model; the reply ends with a short notice and the
  answer row is stored ``failed`` with that notice. The question stays in history as the user
  wrote it, marked ``failed``, and is never sent to the model as context afterwards (unless it
  is the question of a later regeneration, when it is checked again).
- A flagged answer: the reply is replaced on the platform by a notice (``retract``; a reply
  that cannot take text back, such as the console's output, ends failed with the notice
  after its text). The stored answer is ``failed`` with the notice as its content (so it is
  never sent back as context) and the original text in ``extra["moderated_text"]`` for admins.
- Only complete answers are checked: a stopped or failed answer's partial text is not.
- The endpoint failing (an error status, an answer that is not a moderation result, or no
  answer within ``MODERATION_TIMEOUT`` seconds): fail-open by default, with a WARNING log,
  since moderation is a safety net and its outage should not stop the bot;
  ``MODERATION_FAIL_CLOSED=true`` instead withholds the question (or the answer) with a notice
  saying the check is unavailable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import httpx

from bot.errors import BotError, ConfigError
from bot.model import ChatMessage, Role, TurnStatus
from bot.reply.base import StreamedReply
from bot.store.base import ConversationStore, MessageUpdate

if TYPE_CHECKING:
    from bot.config import EnvReader, Secret

logger = logging.getLogger(__name__)

PATH = "/moderations"
DEFAULT_TIMEOUT = 10.0
QUESTION_FLAGGED = "Your message was not sent to the model: the content check flagged it{why}."
ANSWER_FLAGGED = "The answer was withheld: the content check flagged it{why}."
QUESTION_UNCHECKED = (
    "Your message was not sent to the model: the content check is unavailable right now. "
    "Please try again later."
)
ANSWER_UNCHECKED = (
    "The answer was withheld: the content check is unavailable right now. Please try again."
)
_SETTINGS = (
    "MODERATION_API_KEY",
    "MODERATION_MODEL",
    "MODERATION_TIMEOUT",
    "MODERATION_FAIL_CLOSED",
)

AnswerCheck = Callable[[str], Awaitable[str | None]]
"""Given a complete answer, the notice to show instead of it, or None to keep it."""


class ModerationError(BotError):
    """The moderation endpoint failed: an error status, a timeout, or an unreadable answer."""


class QuestionFlagged(BotError):
    """The question was not sent to the model; ``user_message`` is the notice."""

    def __init__(self, notice: str) -> None:
        super().__init__(notice, user_message=notice)


@dataclass(frozen=True, slots=True)
class ModerationSettings:
    """The moderation endpoint, as configured."""

    url: str
    api_key: Secret
    model: str = ""
    timeout: float = DEFAULT_TIMEOUT
    fail_closed: bool = False


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the endpoint said about one text."""

    flagged: bool
    categories: tuple[str, ...] = ()


class Moderator:
    """Asks the endpoint over the shared HTTP client and applies the policy above."""

    def __init__(self, http: httpx.AsyncClient, settings: ModerationSettings) -> None:
        self._http = http
        self._settings = settings

    async def classify(self, text: str) -> Verdict:
        """The endpoint's verdict on ``text``; ``ModerationError`` when there is none."""
        try:
            async with asyncio.timeout(self._settings.timeout):
                response = await self._http.post(
                    self._settings.url, json=self._body(text), headers=self._headers()
                )
        except TimeoutError:
            raise ModerationError(f"no answer within {self._settings.timeout:g}s") from None
        except httpx.HTTPError as exc:
            raise ModerationError(f"{type(exc).__name__}: {exc}") from None
        if response.status_code != 200:
            raise ModerationError(f"HTTP {response.status_code}")
        return _verdict(_json(response))

    async def question_notice(self, text: str) -> str | None:
        """The notice that replaces the answer to question ``text``, or None to send it."""
        return await self._notice(text, QUESTION_FLAGGED, QUESTION_UNCHECKED, "question")

    async def answer_notice(self, text: str) -> str | None:
        """The notice that replaces the complete answer ``text``, or None to keep it."""
        return await self._notice(text, ANSWER_FLAGGED, ANSWER_UNCHECKED, "answer")

    async def _notice(self, text: str, flagged: str, unchecked: str, what: str) -> str | None:
        try:
            verdict = await self.classify(text)
        except ModerationError as exc:
            if self._settings.fail_closed:
                logger.warning("moderation unavailable (%s): the %s is withheld", exc, what)
                return unchecked
            logger.warning("moderation unavailable (%s): the %s goes on unchecked", exc, what)
            return None
        if not verdict.flagged:
            return None
        logger.info("moderation flagged a %s (%s)", what, ", ".join(verdict.categories) or "-")
        why = f" ({', '.join(verdict.categories)})" if verdict.categories else ""
        return flagged.format(why=why)

    def _body(self, text: str) -> dict[str, str]:
        body = {"input": text}
        if self._settings.model:
            body["model"] = self._settings.model
        return body

    def _headers(self) -> dict[str, str]:
        key = self._settings.api_key.get()
        return {"Authorization": f"Bearer {key}"} if key else {}


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise ModerationError("the answer is not JSON") from None


def _verdict(body: Any) -> Verdict:
    """Any result flagged flags the text; the categories are those marked true."""
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list) or not results:
        raise ModerationError("the answer has no results")
    flagged = False
    categories: list[str] = []
    for result in results:
        if not isinstance(result, dict) or not isinstance(result.get("flagged"), bool):
            raise ModerationError("a result has no flagged field")
        flagged = flagged or result["flagged"]
        named = result.get("categories")
        if isinstance(named, dict):
            categories += [str(name) for name, on in named.items() if on is True]
    return Verdict(flagged, tuple(dict.fromkeys(categories)))


# -- the engine's side ----------------------------------------------------------------------


async def check_question(
    moderator: Moderator | None,
    store: ConversationStore,
    history: Sequence[ChatMessage],
    messages: Sequence[dict[str, str]],
) -> None:
    """Check the question (the prompt's last user turn, as it would be sent); when it is
    withheld, mark it ``failed`` in history and raise ``QuestionFlagged`` with the notice."""
    if moderator is None:
        return
    question = _last(history, Role.USER)
    sent = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
    notice = await moderator.question_notice(sent) if sent else None
    if question is None or question.id is None:
        pass
    elif notice is not None:
        await store.update_message(question.id, MessageUpdate(status=TurnStatus.FAILED))
    elif question.status is TurnStatus.FAILED:  # flagged before, accepted now (regenerate)
        await store.update_message(question.id, MessageUpdate(status=TurnStatus.COMPLETE))
    if notice is not None:
        raise QuestionFlagged(notice)


def replayable(history: Sequence[ChatMessage]) -> list[ChatMessage]:
    """``history`` without the questions moderation withheld (user turns marked ``failed``),
    except the newest user turn: it is the question being answered, and is checked again."""
    newest = _last(history, Role.USER)
    return [
        m
        for m in history
        if m.role is not Role.USER or m.status is not TurnStatus.FAILED or m is newest
    ]


def _last(history: Sequence[ChatMessage], role: Role) -> ChatMessage | None:
    return next((m for m in reversed(history) if m.role is role), None)


def answer_check(
    moderator: Moderator | None, outbound: Callable[[str], str] | None = None
) -> AnswerCheck | None:
    """The check of complete answers (None without moderation); ``outbound`` turns the answer
    into what may leave the workspace (the redactor's ``redact_text``)."""
    if moderator is None:
        return None

    async def check(text: str) -> str | None:
        if not text.strip():
            return None
        return await moderator.answer_notice(outbound(text) if outbound else text)

    return check


@runtime_checkable
class Retractable(Protocol):
    """A reply that can replace all the text it showed by a notice."""

    async def retract(self, notice: str) -> None: ...


async def retract(reply: StreamedReply, notice: str) -> None:
    """Close ``reply`` showing ``notice`` instead of its text when it can take text back;
    otherwise (text already printed) close it as failed with the notice."""
    if isinstance(reply, Retractable):
        await reply.retract(notice)
    else:
        await reply.fail(notice)


# -- settings -------------------------------------------------------------------------------


def load_moderation(env: EnvReader) -> ModerationSettings | None:
    """The ``MODERATION_*`` variables (None without ``MODERATION_URL``); one-line
    ``ConfigError`` for a bad value, or for a moderation setting given without the URL."""
    if not env.is_set("MODERATION_URL"):
        stray = [name for name in _SETTINGS if env.is_set(name)]
        if stray:
            raise ConfigError(
                f"{stray[0]} is set but MODERATION_URL is not: set MODERATION_URL to an "
                "OpenAI-compatible moderations endpoint, or remove it."
            )
        return None
    url = env.url("MODERATION_URL", "")
    return ModerationSettings(
        url=url if url.endswith(PATH) else url + PATH,
        api_key=env.secret("MODERATION_API_KEY") or env.secret("LLM_API_KEY"),
        model=env.text("MODERATION_MODEL"),
        timeout=env.number("MODERATION_TIMEOUT", DEFAULT_TIMEOUT, low=0.1, high=300.0),
        fail_closed=env.flag("MODERATION_FAIL_CLOSED", False),
    )


def moderation_client(
    http: httpx.AsyncClient, settings: ModerationSettings | None
) -> Moderator | None:
    """The moderator over the shared HTTP client, or None when moderation is off."""
    return None if settings is None else Moderator(http, settings)
