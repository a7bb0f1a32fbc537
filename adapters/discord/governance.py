"""Governance on Discord: who the asker is (roles), refusal notices, ``/forget`` and ``/export``.

* ``roles_of``: the ids and names of a member's roles (``@everyone`` left out), for
  ``ALLOWED_ROLES`` and a channel's ``allowed_roles``.
* A refused message (access, flood control, a used-up quota) gets a DM to its author: never a
  reply in the channel, never silence. Commands are refused with an ephemeral response instead
  (``/chat`` checks before it acknowledges).
* ``/forget`` answers ephemerally with what would be erased and an "Erase my data" button;
  only a press by the same person erases. ``/export`` answers ephemerally with the history file
  attached.
"""

from __future__ import annotations

import io
import logging
from typing import Any

import discord

from adapters.discord.acknowledge import acknowledge, quietly
from adapters.discord.errors import TRANSPORT_ERRORS
from adapters.discord.sink import NO_MENTIONS
from bot import privacy
from bot.engine import ConversationEngine

logger = logging.getLogger(__name__)

PLATFORM = "discord"
PRESS_TO_CONFIRM = "Press the button to go ahead."
ERASE_LABEL = "Erase my data"
FORGET_TIMEOUT = 600.0
EXPORT_EMPTY = "Threadline keeps no messages of yours, so there is nothing to export."
EXPORT_READY = "Your messages to Threadline and its answers ({count}), as JSON lines."


def roles_of(user: object) -> tuple[str, ...]:
    """A member's role ids and names (none for a user outside a guild)."""
    roles = [role for role in getattr(user, "roles", []) if not role.is_default()]
    return tuple(name for role in roles for name in (str(role.id), role.name))


async def tell_refused(client: discord.Client, user_id: str, text: str) -> None:
    """DM ``user_id`` why their message is not answered."""
    try:
        channel = await client.create_dm(discord.Object(id=int(user_id)))
        await channel.send(text, allowed_mentions=NO_MENTIONS)
    except (discord.DiscordException, ValueError, *TRANSPORT_ERRORS) as exc:
        logger.warning("could not tell %s why they were refused: %s", user_id, exc)


class ForgetButton(discord.ui.View):
    """The confirmation under ``/forget``: erases when its owner presses it."""

    def __init__(self, engine: ConversationEngine, owner: int) -> None:
        super().__init__(timeout=FORGET_TIMEOUT)
        self._engine = engine
        self._owner = owner

    @discord.ui.button(label=ERASE_LABEL, style=discord.ButtonStyle.danger)
    async def erase(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[Any]
    ) -> None:
        if interaction.user.id != self._owner:
            reply = interaction.response.send_message("This button is not yours.", ephemeral=True)
            await acknowledge(interaction, "forget refusal", reply)
            return
        store = self._engine.governance.store
        done = await privacy.forget(store, PLATFORM, str(self._owner))
        self.stop()
        await acknowledge(
            interaction, "forget", interaction.response.edit_message(content=done, view=None)
        )


async def forget(engine: ConversationEngine, interaction: discord.Interaction[Any]) -> None:
    """``/forget``: say what would be erased, with the button that erases it."""
    user = str(interaction.user.id)
    text = await privacy.ask_to_forget(engine.governance.store, PLATFORM, user, PRESS_TO_CONFIRM)
    if text.endswith(PRESS_TO_CONFIRM):
        view = ForgetButton(engine, interaction.user.id)
        reply = interaction.response.send_message(text, view=view, ephemeral=True)
    else:
        reply = interaction.response.send_message(text, ephemeral=True)
    await acknowledge(interaction, "/forget answer", reply)


async def export(engine: ConversationEngine, interaction: discord.Interaction[Any]) -> None:
    """``/export``: the history file, in an ephemeral response."""
    await acknowledge(interaction, "/export defer", interaction.response.defer(ephemeral=True))
    user = str(interaction.user.id)
    data = await privacy.export(engine.governance.store, PLATFORM, user)
    if not data:
        await quietly(interaction, "/export answer", interaction.followup.send(EXPORT_EMPTY))
        return
    attached = discord.File(io.BytesIO(data), filename=privacy.filename(PLATFORM, user))
    text = EXPORT_READY.format(count=len(data.splitlines()))
    request = interaction.followup.send(text, file=attached, ephemeral=True)
    await quietly(interaction, "/export answer", request)
