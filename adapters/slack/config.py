"""The Slack adapter's settings, validated once at start.

Socket Mode when ``SLACK_APP_TOKEN`` is set (no public URL needed); otherwise HTTP mode, which
needs ``SLACK_SIGNING_SECRET`` and serves ``/slack/events`` on ``HTTP_PORT``. Every problem is
a ``ConfigError`` naming the variable.

Two ways to sign in: one workspace on ``SLACK_BOT_TOKEN`` (the simple default), or any number
of workspaces installed through the OAuth flow, with ``SLACK_CLIENT_ID`` and
``SLACK_CLIENT_SECRET`` instead of a bot token (HTTP mode only: the install pages need the
HTTP server). Setting both is refused rather than guessed.

``SLACK_ALLOW_MENTIONS`` (default off) lets user mentions the model writes notify people;
off, only the person who asked can be mentioned (see ``adapters.slack.text``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
    client_id: str = ""
    client_secret: Secret = field(default_factory=lambda: Secret(""))
    redirect_uri: str = ""

    @property
    def socket_mode(self) -> bool:
        return bool(self.app_token)

    @property
    def oauth(self) -> bool:
        """Installed per workspace through the OAuth flow (no single bot token)."""
        return bool(self.client_id)


def load_config(env: EnvReader) -> SlackConfig:
    """Read and check every ``SLACK_*`` variable (and ``HTTP_PORT``)."""
    client_id, client_secret = _oauth_client(env)
    bot_token = Secret("")
    if not client_id:
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
    if client_id and (app_token or not signing_secret):
        raise ConfigError(
            "SLACK_CLIENT_ID (installing into several workspaces) needs HTTP mode: unset "
            "SLACK_APP_TOKEN and set SLACK_SIGNING_SECRET, see docs/slack.md."
        )
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
        client_id=client_id,
        client_secret=client_secret,
        redirect_uri=env.url("SLACK_REDIRECT_URI", "") if client_id else "",
    )


def _oauth_client(env: EnvReader) -> tuple[str, Secret]:
    """``SLACK_CLIENT_ID`` and ``SLACK_CLIENT_SECRET`` (both or neither), never next to a bot
    token: with a bot token slack-bolt would still switch into its OAuth flow on its own."""
    client_id, client_secret = env.text("SLACK_CLIENT_ID"), env.secret("SLACK_CLIENT_SECRET")
    if not client_id and not client_secret:
        return "", Secret("")
    if not client_id or not client_secret:
        missing = "SLACK_CLIENT_SECRET" if client_id else "SLACK_CLIENT_ID"
        raise ConfigError(
            f"{missing} is not set: installing into several workspaces needs SLACK_CLIENT_ID "
            "and SLACK_CLIENT_SECRET (Basic Information → App Credentials)."
        )
    if env.is_set("SLACK_BOT_TOKEN"):
        raise ConfigError(
            "SLACK_BOT_TOKEN and SLACK_CLIENT_ID are both set: use SLACK_BOT_TOKEN for one "
            "workspace, or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET to install into several "
            "(see docs/slack.md), not both."
        )
    if not client_id.replace(".", "").isdigit():
        raise ConfigError(
            f"SLACK_CLIENT_ID={client_id[:40]!r} is not valid: expected the app's Client ID "
            "(digits and a dot, Basic Information → App Credentials)."
        )
    return client_id, client_secret


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
