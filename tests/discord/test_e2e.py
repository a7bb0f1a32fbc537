"""End to end through ``threadline run``: a real process, the real discord.py client, the fakes.

Only ``DISCORD_TOKEN`` (plus the fakes' addresses) and the ``LLM_*`` variables are set.
"""

from __future__ import annotations

import re
from pathlib import Path

from bot.reply.split import join_parts
from tests.discord.harness import finished, is_streaming, user_contents
from tests.discord.process import threadline_run
from tests.fakes.discord_api import FakeDiscord, StoredMessage, opt
from tests.fakes.llm_server import FakeLLMServer, answer

LINES = "".join(f"    total += values[{i}]  # step {i:03d}\n" for i in range(63))
CODE = "```python\ndef add(values):\n    total = 0\n" + LINES + "    return total\n```\n"
LONG = (
    "Here is the function.\n\n"
    + CODE
    + "\n".join(f"Note {i}: " + "this explains the code in detail. " * 7 for i in range(11))
)


def _env(fake: FakeDiscord, llm: FakeLLMServer, data: Path) -> dict[str, str]:
    return {
        **fake.env(),
        "LLM_API_KEY": "sk-test",
        "LLM_BASE_URL": llm.base_url,
        "LLM_MODEL": "fake-model",
        "DATABASE_URL": f"sqlite+aiosqlite:///{data / 'threadline.db'}",
        "THREADLINE_DATA_DIR": str(data),
    }


def _button(message: StoredMessage, action: str) -> str:
    return next(i for i in message.custom_ids() if i.startswith(f"tl:{action}:"))


async def _new_thread(fake: FakeDiscord, prompt: str) -> int:
    before = len(fake.threads_of(fake.general))
    await fake.slash("chat", [opt("prompt", prompt)])
    threads = await fake.wait_until(lambda: fake.threads_of(fake.general)[before:])
    return int(threads[0]["id"])


async def test_threadline_run_serves_discord(
    fake: FakeDiscord, llm: FakeLLMServer, tmp_path: Path
) -> None:
    async with threadline_run(_env(fake, llm, tmp_path), tmp_path, fake):
        # /chat → thread → streamed answer, exact
        streamed = "Streaming, one piece at a time, until the answer is complete."
        llm.enqueue(answer(streamed, chunk_chars=6, chunk_delay=0.03))
        thread = await _new_thread(fake, "stream something")
        first = (await finished(fake, thread, text=streamed))[-1]
        assert first.content == streamed and len(first.history) >= 3

        # a follow-up remembers
        await fake.user_message(thread, "say it again")
        await finished(fake, thread, count=2, text="You said: say it again")
        assert user_contents(llm) == ["stream something", streamed, "say it again"]

        # a 5,000-character answer → three messages with fences intact
        assert 4800 <= len(LONG) <= 5600
        llm.enqueue(answer(LONG, chunk_chars=50))
        long_thread = await _new_thread(fake, "write the long one")
        messages = await finished(fake, long_thread, text=LONG)
        assert len(messages) == 3 and all(len(m.content) <= 2000 for m in messages)
        assert all(len(re.findall(r"^```", m.content, re.M)) % 2 == 0 for m in messages)
        assert messages[1].content.startswith("```python")
        assert join_parts([m.content for m in messages]) == LONG

        # a 429 storm → the exact final answer
        stormy = "Rate limits cannot change this final text. " * 5
        llm.enqueue(answer(stormy, chunk_chars=4))
        fake.inject("PATCH", r"/channels/\d+/messages/\d+$", 429, times=10, retry_after=0.05)
        storm_thread = await _new_thread(fake, "storm")
        assert [m.content for m in await finished(fake, storm_thread, text=stormy)] == [stormy]
        assert sum(1 for r in fake.requests if r.status == 429) >= 10

        # @everyone in model output pings nobody
        evil = "@everyone @here wake up!"
        llm.enqueue(answer(evil))
        evil_thread = await _new_thread(fake, "be loud")
        await finished(fake, evil_thread, text=evil)
        assert fake.pings == []
        writes = [r for r in fake.requests if isinstance(r.json, dict) and "content" in r.json]
        assert all(r.json["allowed_mentions"]["parse"] == [] for r in writes)

        # stop
        llm.enqueue(answer("blah " * 500, chunk_chars=5, chunk_delay=0.02))
        stop_thread = await _new_thread(fake, "ramble")
        live = await fake.wait_until(
            lambda: [
                m for m in fake.bot_messages(stop_thread) if is_streaming(m) and "blah" in m.content
            ]
        )
        await fake.click(live[0].id, _button(live[0], "stop"))
        stopped = await finished(fake, stop_thread)
        assert stopped[-1].content.endswith("_(stopped)_")

        # regenerate
        llm.enqueue(answer("A better answer."))
        last = fake.bot_messages(thread)[-1]
        press = await fake.click(last.id, _button(last, "regen"))
        await fake.responded(press)
        regenerated = await finished(fake, thread, text="A better answer.")
        assert regenerated[-1].content == "A better answer."
        assert user_contents(llm)[-1] == "say it again"
    assert fake.command_puts == ["global"]


async def test_restart_keeps_history_and_buttons(
    fake: FakeDiscord, llm: FakeLLMServer, tmp_path: Path
) -> None:
    env = _env(fake, llm, tmp_path)
    async with threadline_run(env, tmp_path, fake):
        llm.enqueue(answer("The secret word is pineapple."))
        thread = await _new_thread(fake, "remember a secret word")
        answer_message = (await finished(fake, thread))[-1]
        await fake.user_message(thread, "ok")
        await finished(fake, thread, count=2, text="You said: ok")
    async with threadline_run(env, tmp_path, fake):
        await fake.user_message(thread, "what was the word?")
        await finished(fake, thread, count=3, text="You said: what was the word?")
        assert user_contents(llm) == [
            "remember a secret word",
            "The secret word is pineapple.",
            "ok",
            "You said: ok",
            "what was the word?",
        ]
        last = fake.bot_messages(thread)[-1]
        llm.enqueue(answer("Regenerated after the restart."))
        press = await fake.click(last.id, _button(last, "regen"))
        assert (await fake.responded(press))["type"] == 7
        await finished(fake, thread, text="Regenerated after the restart.")
        feedback = await fake.click(answer_message.id, _button(answer_message, "up"))
        assert "Thanks" in (await fake.responded(feedback))["data"]["content"]
    assert fake.command_puts == ["global"]  # synced once: the hash survived the restart
