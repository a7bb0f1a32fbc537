"""Hostile conditions through ``threadline run``: gateway events discord.py cannot parse, a
gateway that closes for good mid-answer, and interaction callbacks answered with 5xx."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.discord.harness import bot_env, finished, is_final, is_streaming
from tests.discord.process import threadline_run
from tests.fakes.discord_api import FakeDiscord, StoredMessage, opt
from tests.fakes.llm_server import FakeLLMServer, answer
from tests.fakes.process import Process

CALLBACK = r"/interactions/\d+/[^/]+/callback$"
CURSOR = "▌"
NEVER_RETRIEVED = "never retrieved"
STREAMED = "This answer keeps streaming while Discord sends odd events. " * 3


async def _streaming_thread(fake: FakeDiscord, llm: FakeLLMServer, prompt: str) -> int:
    """Start a slow /chat answer; return its thread once the answer is visibly streaming."""
    llm.enqueue(answer(STREAMED, chunk_chars=4, chunk_delay=0.05))
    await fake.slash("chat", [opt("prompt", prompt)])
    threads = await fake.wait_until(lambda: fake.threads_of(fake.general))
    thread = int(threads[-1]["id"])
    await fake.wait_until(lambda: [m for m in fake.bot_messages(thread) if is_streaming(m)])
    return thread


def _lines(running: Process, *needles: str) -> list[str]:
    return [line for line in running.output().splitlines() if all(n in line for n in needles)]


def _gave_up(running: Process, interaction_id: int) -> bool:
    """The bot logged giving up on this interaction, or something escaped (a traceback)."""
    output = running.output()
    return f"interaction {interaction_id}" in output or "Traceback" in output


def _unfinished(messages: list[StoredMessage]) -> list[StoredMessage]:
    return [m for m in messages if is_streaming(m) or m.content.endswith(CURSOR)]


async def test_unreadable_gateway_events_are_dropped_and_the_bot_keeps_answering(
    fake: FakeDiscord, llm: FakeLLMServer, tmp_path: Path
) -> None:
    async with threadline_run(bot_env(fake, llm, tmp_path), tmp_path, fake) as running:
        thread = await _streaming_thread(fake, llm, "keep streaming")
        live = next(m for m in fake.bot_messages(thread) if is_streaming(m))
        await fake.embeds_resolved(live.id)
        await fake.embeds_resolved(live.id)
        for missing in ("version", "attachment_size_limit", "member.flags"):
            await fake.slash("chat", [opt("prompt", "unreadable")], without=(missing,))

        messages = await finished(fake, thread, text=STREAMED)
        assert _unfinished(messages) == []
        assert running.proc.returncode is None
        assert len(fake.gateway.identifies) == 1  # the same session throughout
        assert fake.gateway.identified_count() == 1

        await fake.user_message(thread, "still there?")
        await finished(fake, thread, count=2, text="You said: still there?")
        assert len(_lines(running, "dropped", "MESSAGE_UPDATE")) == 1
        assert len(_lines(running, "dropped", "INTERACTION_CREATE")) == 1
        assert "Traceback" not in running.output()


async def test_a_gateway_closed_for_good_ends_the_live_answer_before_exiting(
    fake: FakeDiscord, llm: FakeLLMServer, tmp_path: Path
) -> None:
    async with threadline_run(bot_env(fake, llm, tmp_path), tmp_path, fake) as running:
        thread = await _streaming_thread(fake, llm, "stream until the gateway goes")
        await fake.gateway.close_all(code=4004)  # not resumable: discord.py closes the client
        async with asyncio.timeout(30):
            code = await running.proc.wait()
        assert code != 0
        messages = fake.bot_messages(thread)
        assert _unfinished(messages) == [], running.output()
        assert is_final(messages[-1])  # finished, or failed with a notice: Regenerate shows


async def test_interaction_callbacks_failing_with_5xx_never_leave_an_exception(
    fake: FakeDiscord, llm: FakeLLMServer, tmp_path: Path
) -> None:
    async with threadline_run(bot_env(fake, llm, tmp_path), tmp_path, fake) as running:
        # /chat: the defer gets two 5xx → the answer comes as channel messages, with a note
        fake.inject("POST", CALLBACK, 500, message="Internal Server Error", times=2)
        inter = await fake.slash("chat", [opt("prompt", "answer me anyway")])
        messages = await finished(fake, fake.general, text="You said: answer me anyway")
        note, reply = messages
        assert note.content.startswith(f"<@{fake.users['alice']['id']}> asked:")
        assert "answer me anyway" in note.content and "/chat" in note.content
        assert reply.data["message_reference"]["message_id"] == str(note.id)
        assert inter.callback is None
        assert fake.threads_of(fake.general) == []

        # /reset: its answer gets two 5xx → logged, nothing escapes
        fake.inject("POST", CALLBACK, 500, message="Internal Server Error", times=2)
        reset = await fake.slash("reset")
        await fake.wait_until(lambda: _gave_up(running, reset.id))

        # 👍 on the answer: its acknowledgement gets two 5xx → logged, nothing escapes
        fake.inject("POST", CALLBACK, 500, message="Internal Server Error", times=2)
        up = next(i for i in reply.custom_ids() if i.startswith("tl:up:"))
        press = await fake.click(reply.id, up)
        await fake.wait_until(lambda: _gave_up(running, press.id))

        # and the next /chat works as usual
        await fake.slash("chat", [opt("prompt", "and now?")])
        threads = await fake.wait_until(lambda: fake.threads_of(fake.general))
        await finished(fake, int(threads[0]["id"]), text="You said: and now?")
        output = running.output()
        assert NEVER_RETRIEVED not in output and "Traceback" not in output, output
