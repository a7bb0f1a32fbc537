"""Statement fragments and row conversions shared by ``SqlConversationStore``.

Kept apart from the store so each method there reads as one short transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Row, ScalarSelect, Select, bindparam, false, select
from sqlalchemy.exc import SQLAlchemyError, StatementError

from bot.errors import StoreError
from bot.model import ChatMessage, ConversationKey, Role, TurnStatus, Usage
from bot.store.base import MessageUpdate
from bot.store.tables import ChannelSettings, Conversation, Message, MessageRef
from bot.textclean import scrub

MESSAGE_COLUMNS = (
    Message.id,
    Message.role,
    Message.content,
    Message.author_id,
    Message.author_name,
    Message.status,
    Message.platform_message_ids,
    Message.model,
    Message.finish_reason,
    Message.prompt_tokens,
    Message.completion_tokens,
    Message.created_at,
    Message.requester,
)


def key_values(key: ConversationKey, *, thread: bool = True) -> dict[str, Any]:
    """Column values naming ``key`` (without ``thread`` for channel-level rows)."""
    values: dict[str, Any] = {
        "platform": key.platform,
        "workspace": key.workspace,
        "channel": key.channel,
    }
    if thread:
        values["thread"] = key.thread
    return values


def match_key(key: ConversationKey) -> tuple[ColumnElement[bool], ...]:
    return (
        Conversation.platform == key.platform,
        Conversation.workspace == key.workspace,
        Conversation.channel == key.channel,
        Conversation.thread == key.thread,
    )


def match_channel(channel: ConversationKey) -> tuple[ColumnElement[bool], ...]:
    return (
        ChannelSettings.platform == channel.platform,
        ChannelSettings.workspace == channel.workspace,
        ChannelSettings.channel == channel.channel,
    )


def live_messages(key: ConversationKey) -> Select[*tuple[Any, ...]]:
    """Not-deleted messages of ``key``'s conversation (a select to refine)."""
    return (
        select(*MESSAGE_COLUMNS, Message.extra)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(*match_key(key), Message.deleted.is_(false()))
    )


CONTEXT = (
    select(*MESSAGE_COLUMNS, Message.extra)  # a question's ``files`` are part of its prompt
    .join(Conversation, Conversation.id == Message.conversation_id)
    .where(
        Conversation.platform == bindparam("platform"),
        Conversation.workspace == bindparam("workspace"),
        Conversation.channel == bindparam("channel"),
        Conversation.thread == bindparam("thread"),
        Message.deleted.is_(false()),
        Message.id > Conversation.context_start,
    )
    .order_by(Message.id.desc())
    .limit(bindparam("limit"))
)
"""A conversation's newest live messages since its reset, built once (values bound per call)."""


def ref_message_id(key: ConversationKey, platform_message_id: str) -> ScalarSelect[int]:
    """The id of the message holding ``platform_message_id`` in ``key``'s conversation."""
    return (
        select(MessageRef.message_id)
        .join(Conversation, Conversation.id == MessageRef.conversation_id)
        .where(*match_key(key), MessageRef.platform_message_id == platform_message_id)
        .scalar_subquery()
    )


def message_values(message: ChatMessage) -> dict[str, Any]:
    usage = message.usage
    return {
        "role": Role(message.role).value,
        "content": scrub(message.content),
        "author_id": message.author_id,
        "author_name": scrub(message.author_name),
        "status": TurnStatus(message.status).value,
        "model": message.model,
        "finish_reason": message.finish_reason,
        "prompt_tokens": None if usage is None else usage.prompt_tokens,
        "completion_tokens": None if usage is None else usage.completion_tokens,
        "platform_message_ids": list(message.platform_message_ids),
        "extra": dict(message.extra),
        "feedback": None,
        "deleted": False,
        "requester": message.requester,
    }


def update_values(change: MessageUpdate, extra: dict[str, Any] | None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in ("content", "finish_reason", "model"):
        if getattr(change, name) is not None:
            values[name] = scrub(getattr(change, name))
    if change.status is not None:
        values["status"] = TurnStatus(change.status).value
    if change.usage is not None:
        values["prompt_tokens"] = change.usage.prompt_tokens
        values["completion_tokens"] = change.usage.completion_tokens
    if change.platform_message_ids is not None:
        values["platform_message_ids"] = list(change.platform_message_ids)
    if change.extra:
        values["extra"] = dict(extra or {}) | change.extra
    return values


def to_chat(row: Row[Any] | Row[*tuple[Any, ...]]) -> ChatMessage:
    no_usage = row.prompt_tokens is None and row.completion_tokens is None
    return ChatMessage(
        role=Role(row.role),
        content=row.content,
        author_id=row.author_id,
        author_name=row.author_name,
        status=TurnStatus(row.status),
        id=row.id,
        platform_message_ids=list(row.platform_message_ids or []),
        model=row.model,
        finish_reason=row.finish_reason,
        usage=None if no_usage else Usage(row.prompt_tokens or 0, row.completion_tokens or 0),
        created_at=row.created_at,
        extra=dict(row._mapping.get("extra") or {}),
        requester=row.requester,
    )


def store_error(exc: SQLAlchemyError | OSError) -> StoreError:
    """One line naming the database's complaint, without SQL parameters (they hold user text)."""
    cause: BaseException = exc
    if isinstance(exc, StatementError):
        cause = exc.orig if exc.orig is not None else exc
    text = "" if isinstance(cause, StatementError) else str(cause).strip()
    detail = text.splitlines()[0] if text else type(cause).__name__
    return StoreError(f"database error ({type(cause).__name__}): {detail}")
