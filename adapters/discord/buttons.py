"""What the answer buttons do (see ``views`` for how they survive restarts).

- Stop: stops the answer shown in that message, on whichever process writes it; its final
  edit swaps the button for Regenerate. If that answer is no longer being written (say the
  process restarted mid-answer) the stale Stop becomes Regenerate at once.
- Regenerate: only for the latest answer of the conversation since its last reset; a refusal
  leaves the message as it is. Otherwise it removes itself from that message and the question
  is answered again in new messages (followups of this press, so no channel permission is
  needed); the previous answer no longer counts as context.
- Stop and Regenerate belong to the person who asked and to admins (``ANSWER_CONTROLS=everyone``
  opens them to all); anyone else gets a private note.
- 👍 / 👎: stored as feedback on that answer.
"""

from __future__ import annotations

import logging
from typing import Any

import discord

from adapters.discord.acknowledge import Ack, acknowledge, quietly
from adapters.discord.governance import roles_of
from adapters.discord.interaction_sink import InteractionSink, InteractionToken
from adapters.discord.keys import key_from_ids
from adapters.discord.runtime import Runtime
from adapters.discord.views import answer_view
from bot.engine import StopResult
from bot.errors import BotError, SettingError
from bot.model import ConversationKey

logger = logging.getLogger(__name__)

NOTHING_RUNNING = "That answer is not being written any more."
ONLY_ASKER = "Only the person who asked (<@{user}>) or an admin can stop this answer."
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
        message_id = str(interaction.message.id) if interaction.message is not None else ""
        result = await self._rt.engine.stop_answer(
            key,
            message_id,
            user_id=str(interaction.user.id),
            can_admin=self._rt.can_admin(interaction),
        )
        if result is StopResult.STOPPING:
            await acknowledge(interaction, "Stop", interaction.response.defer())
            return
        if result is StopResult.NOT_ALLOWED:
            asker = await self._rt.engine.requester_of(key, message_id)
            refusal = interaction.response.send_message(
                ONLY_ASKER.format(user=asker), ephemeral=True
            )
            await acknowledge(interaction, "Stop refusal", refusal)
            return
        fixing = interaction.response.edit_message(view=answer_view(key, final=True))
        if await acknowledge(interaction, "stale Stop", fixing) is Ack.SENT:
            await quietly(
                interaction,
                "stale Stop notice",
                interaction.followup.send(NOTHING_RUNNING, ephemeral=True),
            )

    async def _regenerate(
        self, interaction: discord.Interaction[Any], key: ConversationKey
    ) -> None:
        message_id = str(interaction.message.id) if interaction.message is not None else None
        user_id, can_admin = str(interaction.user.id), self._rt.can_admin(interaction)
        roles, is_direct = roles_of(interaction.user), interaction.guild_id is None
        try:
            await self._rt.engine.check_regenerate(
                key,
                user_id=user_id,
                message_id=message_id,
                can_admin=can_admin,
                roles=roles,
                is_direct=is_direct,
            )
        except SettingError as exc:  # the message stays as it was
            refusal = interaction.response.send_message(exc.user_message, ephemeral=True)
            await acknowledge(interaction, "Regenerate refusal", refusal)
            return
        clearing = interaction.response.edit_message(view=None)
        if await acknowledge(interaction, "Regenerate", clearing) is not Ack.SENT:
            return  # no followups without an acknowledgement; the user can press again
        sink = InteractionSink(
            self._rt.client, InteractionToken.of(interaction), key, original_used=True
        )
        self._rt.mark_participating(key)
        reply = self._rt.reply(sink)
        try:
            await self._rt.engine.regenerate(
                key,
                reply,
                user_id=user_id,
                message_id=message_id,
                can_admin=can_admin,
                target={"channel_id": interaction.channel_id or 0},
                roles=roles,
                is_direct=is_direct,
            )
        except SettingError as exc:
            late = interaction.followup.send(exc.user_message, ephemeral=True)
            await quietly(interaction, "Regenerate refusal", late)
        except BotError as exc:
            logger.warning("conversation %s: regenerate failed: %s", key, exc)

    async def _feedback(
        self, interaction: discord.Interaction[Any], key: ConversationKey, value: int
    ) -> None:
        message = interaction.message
        stored = message is not None and await self._rt.engine.feedback(key, str(message.id), value)
        text = FEEDBACK_THANKS if stored else FEEDBACK_MISSED
        await acknowledge(
            interaction, "feedback", interaction.response.send_message(text, ephemeral=True)
        )
