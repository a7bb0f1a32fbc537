"""A saturated workspace: answers are posted whole (one ``chat.postMessage``, no
``chat.update``), exact, in order, with their final buttons, and without a 429 (in-process bot
on the fake Slack, which enforces ``chat.update`` at Tier 3)."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.llm_server import FakeLLMServer, answer
from tests.fakes.slack_api import FakeSlack
from tests.slack.harness import running_bot

QUESTIONS = 16
CHANNELS = [f"C0LOAD{n:02d}" for n in range(QUESTIONS)]


async def test_a_saturated_workspace_posts_answers_whole(
    slack: FakeSlack, llm: FakeLLMServer, db: Path
) -> None:
    slack.limit("chat.update", 50)
    texts = [f"Answer {n}: " + "words of a steady answer " * 8 for n in range(QUESTIONS)]
    llm.enqueue(*(answer(text, chunk_chars=20, chunk_delay=0.15) for text in texts))
    async with running_bot(slack, llm, db, SLACK_NATIVE_STREAMING="false") as bot:
        # One channel each: the per-channel chat.postMessage budget never holds a placeholder,
        # so only the workspace's chat.update budget decides how answers are shown.
        threads = [
            await bot.mention(f"question {n}", channel=channel)
            for n, channel in enumerate(CHANNELS)
        ]
        replies = [
            (await bot.finished(channel, ts))[0]
            for channel, ts in zip(CHANNELS, threads, strict=True)
        ]
    assert sorted(reply.visible_text for reply in replies) == sorted(texts)
    assert not [call for call in slack.calls if call.status == 429]
    updated = {call.args["ts"] for call in slack.called("chat.update")}
    whole = [reply for reply in replies if reply.ts not in updated]
    assert whole, "some answers went out in one chat.postMessage, with no chat.update"
    assert len(updated) < QUESTIONS
    for reply in whole:
        [post] = [
            c
            for c in slack.called("chat.postMessage")
            if c.args.get("thread_ts") == reply.thread_ts
        ]
        assert "threadline_regenerate" in str(post.args.get("blocks")), "posted final"
