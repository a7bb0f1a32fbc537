"""The engine's share of files: fetch them in the answer's turn and store them with the question.

The question row was stored (with a ``pending`` record per file) before the platform was told
"got it"; here, in the answer's turn, the files are downloaded and read (``prepare_all``), the
records replace the pending ones in the stored question (so follow-ups see the same files),
and the files that could not be read are named in a notice shown above the answer.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.attachments import Attachment
from bot.errors import StoreError
from bot.files.policy import FilePolicy
from bot.files.prepare import prepare_all
from bot.model import ChatMessage, Role
from bot.store.base import ConversationStore, MessageUpdate

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Fetched:
    """What reading a question's files gave: image bytes sent now, and the refusal notice."""

    fresh: dict[str, bytes] = field(default_factory=dict)
    notice: str = ""


async def fetch_files(
    store: ConversationStore,
    history: Sequence[ChatMessage],
    attachments: Sequence[Attachment],
    policy: FilePolicy,
) -> Fetched:
    """Read ``attachments`` and store their records on the question (the newest user turn of
    ``history``, updated in place too). A store failure is logged: the answer goes on."""
    if not attachments:
        return Fetched()
    records, fresh = await prepare_all(attachments, policy)
    question = next((m for m in reversed(history) if m.role is Role.USER), None)
    if question is not None and question.id is not None:
        question.extra["files"] = records
        try:
            await store.update_message(question.id, MessageUpdate(extra={"files": records}))
        except StoreError as exc:
            logger.warning("files of message %d not stored: %s", question.id, exc)
    refused = [f"{r['name']} ({r['reason']})" for r in records if r["kind"] == "refused"]
    notice = f"_⚠ Not read: {'; '.join(refused)}_\n\n" if refused else ""
    return Fetched(fresh, notice)
