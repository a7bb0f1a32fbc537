"""Slack adapter (slack-bolt ``AsyncApp``): mentions, threads, DMs, the assistant panel,
native streaming with a chat.update fallback, buttons and the ``/threadline`` command.

Configuration (validated by ``create``): ``SLACK_BOT_TOKEN`` plus ``SLACK_APP_TOKEN`` (Socket
Mode) or ``SLACK_SIGNING_SECRET`` (HTTP mode); or, to install into several workspaces,
``SLACK_CLIENT_ID``, ``SLACK_CLIENT_SECRET`` and ``SLACK_SIGNING_SECRET`` (installations are kept
in ``DATABASE_URL``); see ``docs/slack.md`` for everything else.
"""

from __future__ import annotations

from adapters.slack.adapter import SlackAdapter
from adapters.slack.config import SlackConfig, load_config
from bot.adapter import Adapter, AdapterContext

__all__ = ["SlackAdapter", "SlackConfig", "create", "load_config"]


def create(context: AdapterContext) -> Adapter:
    """Validate the Slack variables and build the adapter (nothing connects yet)."""
    config = load_config(context.env)
    return SlackAdapter(
        context.engine,
        context.replies,
        config,
        context.settings.database_url,
        metrics=context.metrics,
    )
