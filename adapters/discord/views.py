"""The buttons under an answer, as persistent dynamic items that survive restarts.

Each button's ``custom_id`` carries its action and conversation:
``tl:<stop|regen|up|down>:<channel id>:<thread id or empty>`` (the guild comes with the
interaction). ``AnswerButton`` is registered with ``Client.add_dynamic_items`` at start, so a
press on any message, even one posted before a restart, reaches ``callback`` with no per-message
state. While an answer streams it shows Stop; once final, Regenerate and 👍/👎.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

import discord

from bot.model import ConversationKey

TEMPLATE = r"tl:(?P<action>stop|regen|up|down):(?P<channel>[0-9]{1,20}):(?P<thread>[0-9]{0,20})"
_LOOK: dict[str, tuple[discord.ButtonStyle, str | None, str | None]] = {
    "stop": (discord.ButtonStyle.danger, "Stop", "⏹️"),
    "regen": (discord.ButtonStyle.secondary, "Regenerate", "🔄"),
    "up": (discord.ButtonStyle.secondary, None, "👍"),
    "down": (discord.ButtonStyle.secondary, None, "👎"),
}
BUTTONS_ATTRIBUTE = "threadline_buttons"


class ButtonHandler(Protocol):
    """What a button press is handed to (``adapters.discord.buttons.Buttons``)."""

    async def pressed(
        self, interaction: discord.Interaction[Any], action: str, channel: str, thread: str
    ) -> None: ...


def custom_id(action: str, channel: str, thread: str) -> str:
    return f"tl:{action}:{channel}:{thread}"


class AnswerButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=TEMPLATE,
):
    """One answer button; its state lives entirely in its ``custom_id``."""

    def __init__(self, action: str, channel: str, thread: str) -> None:
        style, label, emoji = _LOOK[action]
        button: discord.ui.Button[discord.ui.View] = discord.ui.Button(
            style=style, label=label, emoji=emoji, custom_id=custom_id(action, channel, thread)
        )
        super().__init__(button)
        self.action = action
        self.channel = channel
        self.thread = thread

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> AnswerButton:
        return cls(match["action"], match["channel"], match["thread"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        handler: ButtonHandler | None = getattr(interaction.client, BUTTONS_ATTRIBUTE, None)
        if handler is not None:
            await handler.pressed(interaction, self.action, self.channel, self.thread)


def answer_view(key: ConversationKey, *, final: bool) -> discord.ui.View:
    """Stop while streaming; Regenerate and feedback once the answer is final."""
    view = discord.ui.View(timeout=None)
    for action in ("regen", "up", "down") if final else ("stop",):
        view.add_item(AnswerButton(action, key.channel, key.thread))
    return view
