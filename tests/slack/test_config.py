"""``create()`` validates every Slack variable and names the bad one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.slack import create, load_config
from adapters.slack.manifest import BOT_EVENTS, BOT_SCOPES, REDIRECT_PATH, SLASH_COMMAND
from bot.adapter import AdapterContext
from bot.config import EnvReader, load_settings
from bot.errors import ConfigError
from bot.reply.factory import ReplyFactory

GOOD = {"SLACK_BOT_TOKEN": "xoxb-1-2-abc", "SLACK_APP_TOKEN": "xapp-1-A1-xyz"}
REPO = Path(__file__).resolve().parents[2]


def config(**env: str):
    return load_config(EnvReader({**GOOD, **env}))


def test_socket_mode_needs_only_the_two_tokens() -> None:
    cfg = config()
    assert cfg.socket_mode and cfg.native_streaming and cfg.thread_followups
    assert not cfg.answer_bots and cfg.api_url == "https://slack.com/api/"
    assert "xoxb" not in repr(cfg) and "xapp" not in repr(cfg)


def test_http_mode_needs_the_signing_secret_and_a_port() -> None:
    cfg = config(SLACK_APP_TOKEN="", SLACK_SIGNING_SECRET="s3cret", HTTP_PORT="3000")
    assert not cfg.socket_mode and cfg.http_port == 3000


def test_slack_api_url_gets_a_trailing_slash() -> None:
    assert config(SLACK_API_URL="https://slack-gov.com/api").api_url == "https://slack-gov.com/api/"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SLACK_BOT_TOKEN": ""}, "SLACK_BOT_TOKEN"),
        ({"SLACK_BOT_TOKEN": "xoxp-user-token"}, "SLACK_BOT_TOKEN"),
        ({"SLACK_APP_TOKEN": "xoxb-wrong-kind"}, "SLACK_APP_TOKEN"),
        ({"SLACK_APP_TOKEN": ""}, "SLACK_SIGNING_SECRET"),
        ({"HTTP_PORT": "http"}, "HTTP_PORT"),
        ({"HTTP_PORT": "70000"}, "HTTP_PORT"),
        ({"SLACK_API_URL": "slack.com"}, "SLACK_API_URL"),
        ({"SLACK_THREAD_FOLLOWUPS": "maybe"}, "SLACK_THREAD_FOLLOWUPS"),
        ({"SLACK_NATIVE_STREAMING": "2"}, "SLACK_NATIVE_STREAMING"),
        ({"SLACK_ADMIN_USERS": "alice,bob"}, "SLACK_ADMIN_USERS"),
        ({"SLACK_SUGGESTED_PROMPTS": "a|b|c|d|e"}, "SLACK_SUGGESTED_PROMPTS"),
    ],
)
def test_bad_variables_fail_at_create_naming_the_variable(env: dict[str, str], named: str) -> None:
    reader = EnvReader({**GOOD, **env, "LLM_API_KEY": "k"})
    context = AdapterContext(None, ReplyFactory.default(), reader, load_settings(reader), None)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=named):
        create(context)


def test_secrets_are_not_echoed_in_errors() -> None:
    with pytest.raises(ConfigError) as caught:
        config(SLACK_BOT_TOKEN="xoxp-very-secret")
    assert "very-secret" not in str(caught.value)


def test_admin_users_and_prompts_are_parsed() -> None:
    cfg = config(SLACK_ADMIN_USERS="U01, W02", SLACK_SUGGESTED_PROMPTS="Ask me | Tell me")
    assert cfg.admin_users == {"U01", "W02"}
    assert cfg.suggested_prompts == ("Ask me", "Tell me")


def test_the_manifest_asks_for_exactly_what_the_adapter_uses() -> None:
    manifest = json.loads((REPO / "slack-manifest.json").read_text())
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == set(BOT_SCOPES)
    assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) == set(BOT_EVENTS)
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == SLASH_COMMAND
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert "assistant_view" in manifest["features"]


OAUTH = {
    "SLACK_BOT_TOKEN": "",
    "SLACK_APP_TOKEN": "",
    "SLACK_CLIENT_ID": "123.456",
    "SLACK_CLIENT_SECRET": "shh",
    "SLACK_SIGNING_SECRET": "s3cret",
}


def test_client_id_and_secret_select_the_oauth_install_in_http_mode() -> None:
    cfg = config(**OAUTH, SLACK_REDIRECT_URI="https://bot.example.com/slack/oauth_redirect")
    assert cfg.oauth and not cfg.socket_mode and not cfg.bot_token
    assert cfg.client_id == "123.456" and cfg.client_secret.get() == "shh"
    assert cfg.redirect_uri == "https://bot.example.com/slack/oauth_redirect"
    assert "shh" not in repr(cfg)
    assert not config().oauth


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SLACK_BOT_TOKEN": "xoxb-1-2-abc"}, "SLACK_BOT_TOKEN and SLACK_CLIENT_ID are both set"),
        ({"SLACK_CLIENT_SECRET": ""}, "SLACK_CLIENT_SECRET is not set"),
        ({"SLACK_CLIENT_ID": ""}, "SLACK_CLIENT_ID is not set"),
        ({"SLACK_CLIENT_ID": "my-app"}, "SLACK_CLIENT_ID='my-app' is not valid"),
        ({"SLACK_APP_TOKEN": "xapp-1-A1-xyz"}, "needs HTTP mode"),
        ({"SLACK_REDIRECT_URI": "bot.example.com"}, "SLACK_REDIRECT_URI"),
    ],
)
def test_oauth_variables_are_checked(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        config(**{**OAUTH, **env})


def test_the_manifest_redirect_url_is_the_oauth_redirect_path() -> None:
    manifest = json.loads((REPO / "slack-manifest.json").read_text())
    [url] = manifest["oauth_config"]["redirect_urls"]
    assert url.endswith(REDIRECT_PATH)
