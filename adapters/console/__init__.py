"""Terminal chat on the same engine and store as the platforms.

Interactive on a terminal (answers stream live; Ctrl-C stops an answer, Ctrl-D or ``/exit``
quits). On a pipe it reads one message per line, prints each answer and exits at end of
input, so ``echo hello | threadline console`` works in scripts; the exit status is 1 if any
answer failed. Lines starting with ``/`` are commands (``/help``, ``/reset``,
``/settings set temperature 0.2`` ...), the same ones Slack and Discord offer; ``/export PATH``
writes your history to a file; ``/attach PATH`` attaches a file (text, PDF or image) to your next
message. A question governance refuses (access, quota, flood control)
is explained on stderr and counts as a failed answer for the exit status.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
import uuid
from typing import TextIO

from adapters.console.files import ATTACH, file_attachment
from adapters.console.own_data import console_command
from adapters.console.reply import ConsoleReply
from bot.attachments import Attachment, FileRefused
from bot.commands import CommandContext
from bot.engine import ConversationEngine
from bot.errors import Refused, StoreError
from bot.model import ConversationKey, IncomingMessage, TurnStatus

EXIT_WORDS = {"/exit", "/quit"}


async def chat(
    engine: ConversationEngine, key: ConversationKey, stdin: TextIO, stdout: TextIO
) -> bool:
    """Run the chat loop; True when every answer completed."""
    interactive = stdin.isatty() and stdout.isatty()
    user = _user_name()
    # Answers owed by a console that went away (killed mid-answer) are closed as failed, before
    # any input is read (so even a run that exits at once does it): no one is there to read
    # them, and this console's output is its own conversation's.
    engine.serve_platform(key.platform, lambda target, resume: None)
    await engine.take_over_now()
    all_ok = True
    attached: list[Attachment] = []
    if interactive:
        stdout.write(f"Threadline console, conversation {key.channel!r}. /help for commands.\n")
    while (line := await _read_line(stdin, stdout, interactive)) is not None:
        text = line.strip()
        if not text:
            continue
        if text.lower() in EXIT_WORDS:
            break
        if text.split(maxsplit=1)[0].lower() == ATTACH:
            stdout.write(_attach(text[len(ATTACH) :], attached) + "\n")
            continue
        if text.startswith("/"):
            ctx = CommandContext(key, user, can_admin=True)
            stdout.write(await console_command(engine, ctx, text[1:]) + "\n")
            continue
        files, attached = tuple(attached), []
        all_ok = await _answer(engine, key, user, text, stdout, interactive, files) and all_ok
    return all_ok


def _attach(path: str, attached: list[Attachment]) -> str:
    """Queue a file for the next message; the line to show."""
    try:
        attachment = file_attachment(path)
    except FileRefused as exc:
        return f"Not attached: {exc}"
    attached.append(attachment)
    return f"Attached {attachment.name} ({attachment.size:,} bytes) to your next message."


async def _answer(
    engine: ConversationEngine,
    key: ConversationKey,
    user: str,
    text: str,
    stdout: TextIO,
    interactive: bool,
    files: tuple[Attachment, ...] = (),
) -> bool:
    message = IncomingMessage(key, uuid.uuid4().hex, user, user, text, attachments=files)
    reply = ConsoleReply(stdout, sys.stderr, prefix="threadline> " if interactive else "")
    try:
        accepted = await engine.accept(message)
    except Refused as exc:
        sys.stderr.write(f"threadline: {exc.user_message}\n")
        return False
    except StoreError as exc:
        sys.stderr.write(
            f"threadline: your message could not be saved, so it was not sent: {exc}\n"
        )
        return False
    assert accepted is not None  # no claims, so never a duplicate
    task = asyncio.ensure_future(engine.answer(accepted, reply))
    try:
        result = await asyncio.shield(task)
    except (KeyboardInterrupt, asyncio.CancelledError):
        _forgive_interrupt()
        await engine.stop(key)
        result = await task
    return result.status is not TurnStatus.FAILED


def _forgive_interrupt() -> None:
    """Ctrl-C during an answer stops that answer only; the chat goes on."""
    current = asyncio.current_task()
    if current is not None:
        current.uncancel()


async def _read_line(stdin: TextIO, stdout: TextIO, interactive: bool) -> str | None:
    if interactive:
        stdout.write("you> ")
        stdout.flush()
    line = await asyncio.to_thread(stdin.readline)
    return line if line else None


def _user_name() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "you"
