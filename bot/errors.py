"""Errors raised by the core, drawn as a tree.

    BotError                      base; ``user_message`` is safe to show in chat
    ├── ConfigError               bad configuration (environment, .env, command line)
    ├── SettingError              a bad value for a generation parameter or channel setting
    ├── Refused                   governance said no: access, quota or flood (private notice)
    ├── StoreError                the database could not be opened, migrated or written
    ├── ReplyClosedError          append/finish/fail on a reply that is already closed
    ├── SinkError                 a platform refused a post or edit
    │   ├── SinkRateLimited       the platform said 429 / ratelimited (carries ``retry_after``)
    │   └── SinkMessageGone       the message to edit no longer exists or can't be edited
    └── LLMError                  the completions endpoint failed
        ├── LLMAuthError          401/403: the key is wrong or lacks access
        ├── LLMRateLimited        429 (carries ``retry_after``)
        ├── LLMUnavailable        connection failures and 5xx
        ├── LLMTimeout            connect, first-token or idle timeout
        ├── LLMBadRequest         400/404/422: bad parameters or unknown model
        │   └── LLMContextTooLong the prompt does not fit the model's context
        └── LLMProtocolError      the server's answer is not valid chat-completions output
            └── LLMEmptyAnswer    a 200 answer with nothing in it (no choice at all)

Every class has a default ``user_message``: one sentence a user can act on. Internal details
go into the exception's ``str()`` (for logs), never into chat.
"""

from __future__ import annotations


class BotError(Exception):
    """Base of every error the core raises on purpose."""

    user_message = "Something went wrong while answering. Please try again."

    def __init__(self, detail: str = "", *, user_message: str | None = None) -> None:
        super().__init__(detail or self.user_message)
        if user_message is not None:
            self.user_message = user_message


class ConfigError(BotError):
    """Configuration is missing or invalid; the message names the variable and what is accepted."""

    user_message = "Threadline is misconfigured; ask an administrator to check its settings."


class SettingError(BotError):
    """A setting value was rejected; ``str(err)`` is the user-facing explanation."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, user_message=detail)


class Refused(BotError):
    """Governance refused a question (access rules, a quota, flood control) before anything
    was stored or sent to the model; ``user_message`` is the private sentence for the asker."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, user_message=detail)


class StoreError(BotError):
    """The conversation database failed."""

    user_message = "The conversation database is unavailable right now. Please try again."


class ShuttingDown(StoreError):
    """The process is shutting down and takes no new questions (another replica, or the next
    start, will)."""

    user_message = "Threadline is restarting; please ask again in a moment."


class ReplyClosedError(BotError):
    """A reply was used after it was finished, failed or stopped."""


class SinkError(BotError):
    """A platform post or edit failed; ``code`` is the platform's error code ("" if none):
    Slack's ``error`` string (``ratelimited``, ``invalid_blocks``), Discord's JSON code."""

    def __init__(self, detail: str = "", *, code: str = "") -> None:
        super().__init__(detail)
        self.code = code


class SinkRateLimited(SinkError):
    """The platform rate-limited a post or edit."""

    def __init__(self, retry_after: float, detail: str = "rate limited", *, code: str = "") -> None:
        super().__init__(detail, code=code)
        self.retry_after = max(0.0, retry_after)


class SinkMessageGone(SinkError):
    """The message can no longer be edited (deleted, archived, expired token)."""


class LLMError(BotError):
    """The completions endpoint failed."""

    user_message = "The language model failed to answer. Please try again."
    retryable = False


class LLMAuthError(LLMError):
    """The API key was refused."""

    user_message = (
        "The language model refused Threadline's API key. "
        "An administrator should check LLM_API_KEY."
    )


class LLMRateLimited(LLMError):
    """The endpoint is rate-limiting us."""

    user_message = "The language model is busy (rate limited). Please try again in a minute."
    retryable = True

    def __init__(self, detail: str = "", *, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class LLMUnavailable(LLMError):
    """The endpoint could not be reached or answered with a server error."""

    user_message = "The language model is unavailable right now. Please try again shortly."
    retryable = True

    def __init__(self, detail: str = "", *, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class LLMTimeout(LLMError):
    """The endpoint took too long to connect, to start answering, or between deltas."""

    user_message = "The language model took too long to answer. Please try again."
    retryable = True


class LLMBadRequest(LLMError):
    """The endpoint rejected the request (bad parameter, unknown model); ``param`` is the
    request field the endpoint named (``"temperature"``, ``"stream_options"``), if any, so the
    client can retry without it."""

    user_message = (
        "The language model rejected the request; check the model name and sampling settings."
    )

    def __init__(
        self, detail: str = "", *, user_message: str | None = None, param: str | None = None
    ) -> None:
        super().__init__(detail, user_message=user_message)
        self.param = param


class LLMContextTooLong(LLMBadRequest):
    """The prompt is larger than the model's context window."""

    user_message = (
        "This conversation is too long for the model. Reset it, or lower max_tokens, and retry."
    )


class LLMProtocolError(LLMError):
    """The endpoint's answer could not be understood."""

    user_message = "The language model sent an answer Threadline could not understand."


class LLMEmptyAnswer(LLMProtocolError):
    """The endpoint answered 200 but sent no choice at all (llama.cpp does this when the
    prompt is longer than its context window)."""

    user_message = (
        "The model returned nothing — the conversation may be too long for it; try `reset`."
    )
