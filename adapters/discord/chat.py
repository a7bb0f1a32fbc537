"""``/chat prompt [model] [temperature] [private]``.

Everything that can be refused is checked before the interaction is acknowledged (an ephemeral
error, nothing stored); then it is deferred at once (well within the 3 s deadline) and:

- in a text channel: the response becomes the prompt ("@user asked: …"), a public thread opens
  on it and the answer streams there; every later message in the thread continues.
- ``private``: an ephemeral acknowledgement, a private thread with the user added, the prompt
  and the answer inside it (needs Create Private Threads; refused otherwise).
- in a DM, in a thread, or where no thread can be opened: the answer streams in place, in the
  interaction response (``InteractionSink``), moving to channel messages near 15 minutes.

``model`` and ``temperature`` apply to this first answer; ``/settings set`` changes a channel's
defaults for every later one.

If the acknowledgement does not get through in time (Discord answering 5xx, see
``acknowledge``), the user already sees "did not respond" and the interaction token is useless;
the answer then goes to the channel as ordinary messages, after a note quoting the prompt and
saying why (``private``: into the private thread, as usual, never to the channel). If Discord
refuses it (10062: the interaction expired before it reached us), nothing is stored or
answered and the user may run /chat again. Nothing raises.
"""

from __future__ import annotations

import logging
from typing import Any

import discord

from adapters.discord.acknowledge import Ack, acknowledge, quietly
from adapters.discord.errors import call
from adapters.discord.governance import roles_of
from adapters.discord.interaction_sink import InteractionSink, InteractionToken
from adapters.discord.keys import guild_key
from adapters.discord.runtime import Runtime
from adapters.discord.sink import NO_MENTIONS, ChannelSink
from adapters.discord.text import prompt_echo, thread_name
from bot.errors import Refused, SettingError, SinkError, StoreError
from bot.model import ConversationKey, IncomingMessage
from bot.params import check_value
from bot.reply.base import MessageSink

logger = logging.getLogger(__name__)

NO_PRIVATE = (
    "I can't open a private thread here: private threads need a text channel where I have "
    "the Create Private Threads permission. Run /chat without `private`, or ask an admin."
)
NOT_ACKNOWLEDGED = "-# Discord did not accept my reply to /chat in time, so I'm answering here."


class ChatCommand:
    """Runs ``/chat`` for one interaction at a time (stateless apart from the runtime)."""

    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime

    async def run(
        self,
        interaction: discord.Interaction[Any],
        prompt: str,
        model: str | None,
        temperature: float | None,
        private: bool,
    ) -> None:
        self._rt.track()
        try:
            overrides = _overrides(model, temperature)
        except SettingError as exc:
            await _refuse(interaction, exc.user_message)
            return
        if not prompt.strip():
            await _refuse(interaction, "Give me a prompt to answer.")
            return
        channel = interaction.channel
        private = private and interaction.guild is not None
        if private and not _can_open(interaction, private=True):
            await _refuse(interaction, NO_PRIVATE)
            return
        refusal = await self._refusal(interaction, prompt)
        if refusal is not None:
            await _refuse(interaction, refusal)
            return
        deferring = interaction.response.defer(thinking=True, ephemeral=private)
        ack = await acknowledge(interaction, "/chat defer", deferring)
        if ack is Ack.REFUSED:
            return  # the interaction expired or is invalid: nothing stored, the user may retry
        if ack is Ack.UNREACHABLE:
            await self._unacknowledged(interaction, prompt, overrides, private=private)
        elif private and isinstance(channel, discord.TextChannel):
            await self._private_thread(interaction, channel, prompt, overrides)
        elif isinstance(channel, discord.TextChannel) and _can_open(interaction, private=False):
            await self._public_thread(interaction, channel, prompt, overrides)
        else:
            await self._in_place(interaction, prompt, overrides, original_used=False)

    async def _refusal(self, interaction: discord.Interaction[Any], prompt: str) -> str | None:
        """Why governance would refuse this prompt (access, flood control, a quota), checked
        before the acknowledgement so the refusal is ephemeral; None if it would not (a
        database failure is left to acceptance, which says so)."""
        incoming = _incoming(interaction, await self._rt.key_of(interaction), prompt)
        try:
            await self._rt.engine.governance.admit(incoming)
        except Refused as exc:
            return exc.user_message
        except StoreError:
            return None
        return None

    async def _public_thread(
        self,
        interaction: discord.Interaction[Any],
        channel: discord.TextChannel,
        prompt: str,
        overrides: dict[str, Any],
    ) -> None:
        try:
            starter = await interaction.edit_original_response(
                content=prompt_echo(interaction.user.id, prompt), allowed_mentions=NO_MENTIONS
            )
            thread = await starter.create_thread(
                name=thread_name(prompt),
                auto_archive_duration=self._rt.config.archive_minutes,  # type: ignore[arg-type]
            )
        except discord.HTTPException as exc:
            logger.info("cannot open a thread in %s, answering in place: %s", channel.id, exc)
            await self._in_place(interaction, prompt, overrides, original_used=True)
            return
        await self._in_thread(interaction, channel, thread, prompt, overrides)

    async def _private_thread(
        self,
        interaction: discord.Interaction[Any],
        channel: discord.TextChannel,
        prompt: str,
        overrides: dict[str, Any],
        *,
        acknowledged: bool = True,
    ) -> None:
        echo = prompt_echo(interaction.user.id, prompt)
        try:
            thread = await channel.create_thread(
                name=thread_name(prompt),
                type=discord.ChannelType.private_thread,
                invitable=False,
                auto_archive_duration=self._rt.config.archive_minutes,  # type: ignore[arg-type]
            )
            await thread.add_user(interaction.user)
            await thread.send(
                echo if acknowledged else f"{echo}\n{NOT_ACKNOWLEDGED}",
                allowed_mentions=NO_MENTIONS,
            )
        except discord.HTTPException as exc:
            logger.warning("cannot open a private thread in %s: %s", channel.id, exc)
            if acknowledged:
                await _edit_original(interaction, NO_PRIVATE)
            return
        if acknowledged:
            await _edit_original(interaction, f"Started a private thread: {thread.mention}")
        await self._in_thread(interaction, channel, thread, prompt, overrides)

    async def _in_thread(
        self,
        interaction: discord.Interaction[Any],
        channel: discord.TextChannel,
        thread: discord.Thread,
        prompt: str,
        overrides: dict[str, Any],
    ) -> None:
        key = guild_key(channel.guild.id, channel.id, thread.id)
        self._rt.keys.remember(thread.id, channel.id)
        sink = ChannelSink(self._rt.client, thread.id, key)
        await self._rt.answer(_incoming(interaction, key, prompt), sink, overrides=overrides)

    async def _in_place(
        self,
        interaction: discord.Interaction[Any],
        prompt: str,
        overrides: dict[str, Any],
        *,
        original_used: bool,
    ) -> None:
        key = await self._rt.key_of(interaction)
        token = InteractionToken.of(interaction)
        sink: MessageSink = InteractionSink(
            self._rt.client, token, key, original_used=original_used
        )
        await self._rt.answer(_incoming(interaction, key, prompt), sink, overrides=overrides)

    async def _unacknowledged(
        self,
        interaction: discord.Interaction[Any],
        prompt: str,
        overrides: dict[str, Any],
        *,
        private: bool,
    ) -> None:
        """Answer without the interaction: a note, then the answer, as channel messages."""
        channel = interaction.channel
        if private:
            if isinstance(channel, discord.TextChannel):
                await self._private_thread(
                    interaction, channel, prompt, overrides, acknowledged=False
                )
            return
        channel_id = interaction.channel_id
        if channel_id is None:
            return
        key = await self._rt.key_of(interaction)
        note = await self._post_note(channel_id, prompt_echo(interaction.user.id, prompt))
        sink = ChannelSink(self._rt.client, channel_id, key, reply_to=note)
        await self._rt.answer(_incoming(interaction, key, prompt), sink, overrides=overrides)

    async def _post_note(self, channel_id: int, echo: str) -> int | None:
        """Post the prompt and why the answer is here; its id (None if Discord refused)."""
        channel = self._rt.client.get_partial_messageable(channel_id)
        request = channel.send(f"{echo}\n{NOT_ACKNOWLEDGED}", allowed_mentions=NO_MENTIONS)
        try:
            return (await call(f"note in {channel_id}", request)).id
        except SinkError as exc:
            logger.warning("cannot post the /chat note in %s: %s", channel_id, exc)
            return None


async def _refuse(interaction: discord.Interaction[Any], text: str) -> None:
    """Refuse the command privately (nothing was stored)."""
    await acknowledge(
        interaction, "/chat refusal", interaction.response.send_message(text, ephemeral=True)
    )


async def _edit_original(interaction: discord.Interaction[Any], content: str) -> None:
    await quietly(
        interaction, "edit the /chat response", interaction.edit_original_response(content=content)
    )


def _overrides(model: str | None, temperature: float | None) -> dict[str, Any]:
    """Per-request parameters, validated before anything is stored."""
    overrides: dict[str, Any] = {}
    if model is not None and model.strip():
        overrides["model"] = check_value("model", model)
    if temperature is not None:
        overrides["temperature"] = check_value("temperature", temperature)
    return overrides


def _can_open(interaction: discord.Interaction[Any], *, private: bool) -> bool:
    """Whether a thread of that kind can be opened where the command ran."""
    channel = interaction.channel
    if not isinstance(channel, discord.TextChannel) or interaction.guild is None:
        return False
    if private and channel.is_news():
        return False
    perms = interaction.app_permissions
    if perms.value == 0:
        return True  # not reported: try, and answer in place if Discord refuses
    can_create = perms.create_private_threads if private else perms.create_public_threads
    return can_create and perms.send_messages_in_threads


def _incoming(
    interaction: discord.Interaction[Any], key: ConversationKey, prompt: str
) -> IncomingMessage:
    user = interaction.user
    return IncomingMessage(
        key=key,
        message_id=f"interaction:{interaction.id}",
        author_id=str(user.id),
        author_name=user.display_name,
        text=prompt.strip(),
        created_at=interaction.created_at,
        is_direct=interaction.guild_id is None,
        roles=roles_of(user),
    )
