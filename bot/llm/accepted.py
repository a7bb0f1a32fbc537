"""Which request parameters each model accepts, as configured and as endpoints have said.

Endpoints differ in what they take. OpenAI's reasoning models (o1, o3, o4-mini, gpt-5 …)
refuse ``max_tokens`` and want the cap as ``max_completion_tokens``; vLLM and some proxies
refuse ``stream_options``; llama.cpp refuses ``n > 1``; reasoning models refuse
``temperature``. ``AcceptedParams`` shapes each request body for its model, and learns from a
400 that names a parameter (``LLMBadRequest.param``, filled by ``bot.llm.failures``):

- The token cap goes out as ``max_completion_tokens`` to models ``LLM_MAX_COMPLETION_TOKENS_MODELS``
  names (globs), from the first request. Any other model that rejects ``max_tokens`` with a
  message naming ``max_completion_tokens`` is switched over; a model that rejects
  ``max_completion_tokens`` is switched back to ``max_tokens`` (a vLLM too old to know it).
- Any other optional parameter (``DROPPABLE``) a 400 names is left out of the retry and of
  every later request to that model. Dropping ``n`` means one choice; dropping
  ``stream_options`` means no usage chunk, so the engine estimates the usage.

What is learned lives in memory for the life of the process (a restart asks again) and is
logged once per (model, parameter): a switch of the cap field at INFO, a dropped parameter at
WARNING, since the answer is then made without something an administrator or a channel set.
Each parameter is changed at most once per request (the caller's ``changed`` set), so a
request is retried at most once per parameter and never loops.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Iterable
from typing import Any

from bot.errors import LLMBadRequest, LLMContextTooLong, LLMError

logger = logging.getLogger(__name__)

DEFAULT_COMPLETION_TOKEN_MODELS = ("o1*", "o3*", "o4*", "gpt-5*")
MAX_TOKENS = "max_tokens"
MAX_COMPLETION_TOKENS = "max_completion_tokens"
DROPPABLE = frozenset(
    {
        "stream_options",
        "logit_bias",
        "n",
        "presence_penalty",
        "frequency_penalty",
        "top_p",
        "temperature",
        "stop",
        "user",
        MAX_TOKENS,
        MAX_COMPLETION_TOKENS,
    }
)
"""The optional parameters a request may go without; ``model`` and ``messages`` never are."""


class AcceptedParams:
    """Per-model memory of the token-cap field and of rejected parameters (module doc)."""

    def __init__(self, completion_token_models: Iterable[str] = DEFAULT_COMPLETION_TOKEN_MODELS):
        self._globs = tuple(completion_token_models)
        self._cap: dict[str, str] = {}
        self._rejected: dict[str, set[str]] = {}

    def cap_field(self, model: str) -> str:
        """``max_completion_tokens`` or ``max_tokens``: the field ``model`` takes its cap in."""
        learned = self._cap.get(model)
        if learned is not None:
            return learned
        configured = any(fnmatch.fnmatchcase(model, glob) for glob in self._globs)
        return MAX_COMPLETION_TOKENS if configured else MAX_TOKENS

    def rejected(self, model: str) -> frozenset[str]:
        """The parameters ``model`` is no longer sent."""
        return frozenset(self._rejected.get(model, ()))

    def shape(self, model: str, body: dict[str, Any]) -> dict[str, Any]:
        """``body`` as ``model`` takes it: the cap in its field, rejected parameters left out."""
        out = _renamed(body, MAX_TOKENS, self.cap_field(model))
        gone = self._rejected.get(model)
        return {k: v for k, v in out.items() if k not in gone} if gone else out

    def retry_body(
        self, model: str, body: dict[str, Any], err: LLMError, changed: set[str]
    ) -> dict[str, Any] | None:
        """The body to send again after ``err``, or ``None`` when ``err`` is not about an
        optional parameter of ``body`` (or that parameter was already changed: ``changed``)."""
        param = _rejected_param(err)
        if param is None or param not in body or param in changed:
            return None
        changed.add(param)
        other = _other_cap(param)
        if other and other not in changed and _should_switch(param, err):
            self._learn_cap(model, other, str(err))
            return _renamed(body, param, other)
        self._learn_rejected(model, param, str(err))
        return {k: v for k, v in body.items() if k != param}

    def _learn_cap(self, model: str, field: str, detail: str) -> None:
        if self._cap.get(model) == field:
            return
        self._cap[model] = field
        logger.info(
            "model %s takes its token cap as %s (%s); sending it that way from now on",
            model,
            field,
            detail,
        )

    def _learn_rejected(self, model: str, param: str, detail: str) -> None:
        rejected = self._rejected.setdefault(model, set())
        if param in rejected:
            return
        rejected.add(param)
        logger.warning(
            "model %s rejected the %s parameter (%s); it is left out of requests to this model "
            "until restart",
            model,
            param,
            detail,
        )


def _rejected_param(err: LLMError) -> str | None:
    if not isinstance(err, LLMBadRequest) or isinstance(err, LLMContextTooLong):
        return None
    return err.param if err.param in DROPPABLE else None


def _other_cap(param: str) -> str | None:
    return {MAX_TOKENS: MAX_COMPLETION_TOKENS, MAX_COMPLETION_TOKENS: MAX_TOKENS}.get(param)


def _should_switch(param: str, err: LLMError) -> bool:
    """``max_tokens`` is switched when the endpoint names its replacement (OpenAI's "Use
    'max_completion_tokens' instead"); ``max_completion_tokens`` always falls back to it."""
    return param == MAX_COMPLETION_TOKENS or MAX_COMPLETION_TOKENS in str(err)


def _renamed(body: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    if old == new or old not in body:
        return body
    return {(new if key == old else key): value for key, value in body.items()}
