"""Console commands: the shared text commands, and ``/export [PATH]`` writing a file.

Decided: the console's export goes to ``PATH`` (default: ``threadline-console-<user>.jsonl``
in the working directory), never to the screen, like the platforms' private file.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot import privacy
from bot.commands import CommandContext, run_command
from bot.engine import ConversationEngine


async def console_command(engine: ConversationEngine, ctx: CommandContext, line: str) -> str:
    """Run one ``/`` command line (without the slash); the text to print."""
    words = line.split(maxsplit=1)
    if words and words[0].lower() == "export":
        target = Path(words[1]) if len(words) > 1 else None
        return await export_to(engine, ctx, target)
    return await run_command(engine, ctx, line)


async def export_to(engine: ConversationEngine, ctx: CommandContext, path: Path | None) -> str:
    """Write the user's history to ``path``; say where, and how many messages."""
    platform = ctx.key.platform
    target = path or Path(privacy.filename(platform, ctx.user_id))
    data = await privacy.export(engine.governance.store, platform, ctx.user_id)
    try:
        await asyncio.to_thread(target.expanduser().write_bytes, data)
    except OSError as exc:
        return f"Could not write {target}: {exc.strerror}."
    lines = len(data.splitlines())
    return f"Wrote {lines} message(s) to {target}."
