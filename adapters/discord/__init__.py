"""Discord adapter (discord.py): /chat threads, @mentions, DMs, streamed answers, buttons.

``create(context)`` validates every ``DISCORD_*`` variable (see ``config`` and
docs/discord.md) and returns the adapter; nothing connects until ``run``.
"""

from __future__ import annotations

from bot.adapter import Adapter, AdapterContext


def create(context: AdapterContext) -> Adapter:
    """Build the Discord adapter from the composition root's context."""
    from adapters.discord.adapter import DiscordAdapter
    from adapters.discord.client import Services
    from adapters.discord.config import load_config

    config = load_config(context.env)
    services = Services(context.engine, context.replies, config, context.store, context.metrics)
    return DiscordAdapter(services)


__all__ = ["create"]
