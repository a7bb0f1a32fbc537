"""Message context-menu commands: "Summarize" and "Translate" (Apps → on a message).

Decided here, as on Slack (``bot.shortcuts``): the result is an ordinary accepted question
answered through the engine, streamed in place in the interaction's response (as ``/chat``
does in a thread or a DM), under the conversation of where it was run. The channel's
``shortcut_replies`` says whether that response is ephemeral (``private``, the default) or
visible to everyone in the channel or thread (``thread``). "Summarize" covers the thread the
message is in (its stored conversation), or in a channel the messages Threadline kept up to
and including that one (``channel_context``); the message alone when nothing else is known.
"Translate" goes to ``translate_to``, else the user's Discord locale (``interaction.locale``).
"""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands

from adapters.discord.acknowledge import Ack, acknowledge
from adapters.discord.governance import roles_of
from adapters.discord.interaction_sink import InteractionSink, InteractionToken
from adapters.discord.runtime import Runtime
from adapters.discord.text import model_text
from bot import features, shortcuts
from bot.branches import SHORTCUT
from bot.features import MAX_CONTEXT
from bot.model import ConversationKey, IncomingMessage
from bot.store.ambient import SeenMessage

logger = logging.getLogger(__name__)

BOT_NAME = "Threadline"


class MessageMenus:
    """The handlers behind the two context-menu commands."""

    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime

    def commands(self) -> list[app_commands.ContextMenu]:
        """The context-menu commands to add to the tree."""
        return [
            app_commands.ContextMenu(name="Summarize", callback=self.summarize),
            app_commands.ContextMenu(name="Translate", callback=self.translate),
        ]

    async def summarize(
        self, interaction: discord.Interaction[Any], message: discord.Message
    ) -> None:
        key = await self._rt.key_of(interaction)
        lines = await self._material(key, message)
        await self._ask(interaction, key, shortcuts.summarize_question(lines))

    async def translate(
        self, interaction: discord.Interaction[Any], message: discord.Message
    ) -> None:
        key = await self._rt.key_of(interaction)
        overrides = await self._rt.engine.channel_overrides(key.channel_key())
        language = shortcuts.language(features.translate_to(overrides), str(interaction.locale))
        await self._ask(
            interaction, key, shortcuts.translate_question(self._text(message), language)
        )

    async def _material(self, key: ConversationKey, message: discord.Message) -> list[str]:
        engine = self._rt.engine
        if key.thread:
            lines = shortcuts.history_lines(await engine.export(key), BOT_NAME)
        else:
            mark = SeenMessage(str(message.id), "", "", "", message.created_at)
            kept = await engine.channel_messages(key.channel_key(), MAX_CONTEXT, mark)
            lines = shortcuts.seen_lines(kept)
            lines.append(shortcuts.line(message.author.display_name, self._text(message)))
        return lines or [shortcuts.line(message.author.display_name, self._text(message))]

    def _text(self, message: discord.Message) -> str:
        return model_text(message.content, self._rt.bot_id)

    async def _ask(
        self, interaction: discord.Interaction[Any], key: ConversationKey, text: str
    ) -> None:
        self._rt.track()
        overrides = await self._rt.engine.channel_overrides(key.channel_key())
        private = not features.replies_in_thread(overrides)
        deferring = interaction.response.defer(thinking=True, ephemeral=private)
        if await acknowledge(interaction, "menu defer", deferring) is not Ack.SENT:
            return
        token = InteractionToken.of(interaction)
        sink = InteractionSink(self._rt.client, token, key, original_used=False)
        user = interaction.user
        asked = IncomingMessage(
            key=key,
            message_id=f"interaction:{interaction.id}",
            author_id=str(user.id),
            author_name=user.display_name,
            text=text,
            created_at=interaction.created_at,
            is_direct=interaction.guild_id is None,
            roles=roles_of(user),
        )
        await self._rt.answer(asked, sink, overrides={SHORTCUT: True})
