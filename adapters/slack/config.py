"""The Slack adapter's settings, validated once at start.

Socket Mode when ``SLACK_APP_TOKEN`` is set (no public URL needed); otherwise HTTP mode, which
needs ``SLACK_SIGNING_SECRET`` and serves ``/slack/events`` on ``HTTP_PORT``. Every problem is
a ``ConfigError`` naming the variable.

``SLACK_ALLOW_MENTIONS`` (default off) lets user mentions the model writes notify people;
off, only the person who asked can be mentioned (see ``adapters.slack.text``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from bot.config import EnvReader, Secret
from bot.errors import ConfigError

DEFAULT_API_URL = "https://slack.com/api/"
DEFAULT_PROMPTS = (
    "Summarise this for me",
    "Explain a concept simply",
    "Help me write a message",
)
MAX_SUGGESTED_PROMPTS = 4


@dataclass(frozen=True, slots=True)
class SlackConfig:
    """Validated Slack settings."""

    bot_token: Secret
    app_token: Secret
    signing_secret: Secret
    api_url: str
    http_host: str
    http_port: int
    thread_followups: bool
    answer_bots: bool
    allow_mentions: bool
    native_streaming: bool
    admin_users: frozenset[str]
    suggested_prompts: tuple[str, ...]
    api_timeout: int

    @property
    def socket_mode(self) -> bool:
        return bool(self.app_token)


def load_config(env: EnvReader) -> SlackConfig:
    """Read and check every ``SLACK_*`` variable (and ``HTTP_PORT``)."""
    bot_token = _token(env, "SLACK_BOT_TOKEN", "xoxb-", "the bot token (OAuth & Permissions)")
    app_token = env.secret("SLACK_APP_TOKEN")
    if app_token:
        _token(env, "SLACK_APP_TOKEN", "xapp-", "an app-level token with connections:write")
    signing_secret = env.secret("SLACK_SIGNING_SECRET")
    if not app_token and not signing_secret:
        raise ConfigError(
            "Slack needs SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP mode): "
            "set one of them, see docs/slack.md."
        )
    _refuse_oauth_variables()
    return SlackConfig(
        bot_token=bot_token,
        app_token=app_token,
        signing_secret=signing_secret,
        api_url=env.url("SLACK_API_URL", DEFAULT_API_URL).rstrip("/") + "/",
        http_host=env.text("HTTP_HOST", "0.0.0.0"),
        http_port=env.integer("HTTP_PORT", 8080, low=0, high=65535),
        thread_followups=env.flag("SLACK_THREAD_FOLLOWUPS", True),
        answer_bots=env.flag("SLACK_ANSWER_BOTS", False),
        allow_mentions=env.flag("SLACK_ALLOW_MENTIONS", False),
        native_streaming=env.flag("SLACK_NATIVE_STREAMING", True),
        admin_users=frozenset(_admin_users(env)),
        suggested_prompts=_prompts(env),
        api_timeout=env.integer("SLACK_API_TIMEOUT", 15, low=1, high=120),
    )


def _refuse_oauth_variables() -> None:
    """Bolt turns on its multi-workspace OAuth flow by itself when these are in the process
    environment; Threadline is a single-workspace bot on SLACK_BOT_TOKEN, so say so instead."""
    if os.environ.get("SLACK_CLIENT_ID") and os.environ.get("SLACK_CLIENT_SECRET"):
        raise ConfigError(
            "SLACK_CLIENT_ID and SLACK_CLIENT_SECRET are set, which would switch slack-bolt into "
            "its OAuth installation flow; Threadline runs on SLACK_BOT_TOKEN: unset them."
        )


def _token(env: EnvReader, name: str, prefix: str, what: str) -> Secret:
    value = env.secret(name).get()  # printable ASCII only: it goes into HTTP headers
    if not value:
        raise ConfigError(f"{name} is not set: set it to {what} (it starts with {prefix}).")
    if not value.startswith(prefix) or len(value) <= len(prefix) or " " in value:
        raise ConfigError(f"{name}=(hidden) is not valid: expected {what} starting with {prefix}.")
    return Secret(value)


def _admin_users(env: EnvReader) -> tuple[str, ...]:
    users = env.items("SLACK_ADMIN_USERS")
    for user in users:
        if not user.isalnum() or user[0] not in "UW":
            raise ConfigError(
                f"SLACK_ADMIN_USERS={env.text('SLACK_ADMIN_USERS')!r} is not valid: expected "
                "comma-separated Slack user ids such as U012ABCDEF (profile → ⋮ → Copy member ID)."
            )
    return users


def _prompts(env: EnvReader) -> tuple[str, ...]:
    raw = env.text("SLACK_SUGGESTED_PROMPTS")
    if not raw:
        return DEFAULT_PROMPTS
    prompts = tuple(p.strip() for p in raw.split("|") if p.strip())
    if len(prompts) > MAX_SUGGESTED_PROMPTS:
        raise ConfigError(
            f"SLACK_SUGGESTED_PROMPTS has {len(prompts)} prompts: Slack shows at most "
            f"{MAX_SUGGESTED_PROMPTS}; separate them with '|'."
        )
    return prompts
