"""What the answer buttons do (see ``views`` for how they survive restarts).

- Stop: stops the answer streaming in that conversation; its final edit swaps the button for
  Regenerate. If nothing is streaming here (say the process restarted mid-answer) the stale
  Stop becomes Regenerate at once.
- Regenerate: removes itself from that message, then the conversation's last question is
  answered again in new messages (followups of this press, so no channel permission is
  needed); the previous answer no longer counts as context.
- 👍 / 👎: stored as feedback on that answer.
"""

from __future__ import annotations

import logging
from typing import Any

import discord

from adapters.discord.interaction_sink import InteractionSink, InteractionToken
from adapters.discord.keys import key_from_ids
from adapters.discord.runtime import Runtime
from adapters.discord.views import answer_view
from bot.errors import BotError, SettingError
from bot.model import ConversationKey

logger = logging.getLogger(__name__)

NOTHING_RUNNING = "Nothing is being written here right now."
FEEDBACK_THANKS = "Thanks, your feedback was recorded."
FEEDBACK_MISSED = "That answer is no longer in my history, so the feedback was not recorded."


class Buttons:
    """Receives every press of an ``AnswerButton``."""

    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime

    async def pressed(
        self, interaction: discord.Interaction[Any], action: str, channel: str, thread: str
    ) -> None:
        self._rt.track()
        key = key_from_ids(interaction.guild_id, channel, thread)
        if action == "stop":
            await self._stop(interaction, key)
        elif action == "regen":
            await self._regenerate(interaction, key)
        else:
            await self._feedback(interaction, key, 1 if action == "up" else -1)

    async def _stop(self, interaction: discord.Interaction[Any], key: ConversationKey) -> None:
        if await self._rt.engine.stop(key):
            await interaction.response.defer()
            return
        await interaction.response.edit_message(view=answer_view(key, final=True))
        await interaction.followup.send(NOTHING_RUNNING, ephemeral=True)

    async def _regenerate(
        self, interaction: discord.Interaction[Any], key: ConversationKey
    ) -> None:
        await interaction.response.edit_message(view=None)
        sink = InteractionSink(
            self._rt.client, InteractionToken.of(interaction), key, original_used=True
        )
        self._rt.mark_participating(key)
        reply = self._rt.reply(sink)
        try:
            await self._rt.engine.regenerate(key, reply, user_id=str(interaction.user.id))
        except SettingError as exc:
            await interaction.followup.send(exc.user_message, ephemeral=True)
        except BotError as exc:
            logger.warning("conversation %s: regenerate failed: %s", key, exc)

    async def _feedback(
        self, interaction: discord.Interaction[Any], key: ConversationKey, value: int
    ) -> None:
        message = interaction.message
        stored = message is not None and await self._rt.engine.feedback(key, str(message.id), value)
        text = FEEDBACK_THANKS if stored else FEEDBACK_MISSED
        await interaction.response.send_message(text, ephemeral=True)
