"""Files and images on Discord: attachments fetched from the CDN in the answer's turn, read by
content, sent as text blocks or image parts, kept for follow-ups (issue 13.1)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from tests.discord.harness import Bot, finished, running_bot
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.llm_server import FakeLLMServer
from tests.files.samples import MALFORMED_PDF, pdf, png


def user_parts(llm: FakeLLMServer, index: int = -1) -> list[Any]:
    return [m["content"] for m in llm.requests[index].body["messages"] if m["role"] == "user"]


def text_of(content: Any) -> str:
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if p.get("type") == "text")
    return str(content)


async def test_a_mention_with_a_text_file_and_a_follow_up_in_its_thread(bot: Bot) -> None:
    fake = bot.fake
    asked = await fake.user_message(
        fake.general,
        "what does this say?",
        mention_bot=True,
        files=[("notes.md", "text/markdown; charset=utf-8", b"# Plan\nShip on Friday.\n")],
    )
    thread = int((await fake.wait_until(lambda: fake.threads_of(fake.general)))[0]["id"])
    assert thread == asked.id
    await finished(fake, thread)
    await fake.user_message(thread, "which day?")
    await finished(fake, thread, count=2)
    first = text_of(user_parts(bot.llm, 0)[-1])
    assert (
        first
        == "what does this say?\n\n[File: notes.md]\n# Plan\nShip on Friday.\n\n[End of notes.md]"
    )
    follow_up = user_parts(bot.llm, 1)
    assert "Ship on Friday." in text_of(follow_up[0]) and follow_up[-1] == "which day?"
    assert len(fake.cdn_gets) == 1, "fetched once, then read from history"


async def test_a_dm_with_a_pdf_and_an_image_to_a_vision_model(
    fake: FakeDiscord, llm: FakeLLMServer, tmp_path: Path
) -> None:
    image = png()
    async with running_bot(fake, llm, tmp_path, LLM_VISION_MODELS="fake-model"):
        dm = fake.open_dm()
        await fake.user_message(
            dm,
            "",
            files=[
                ("scan.pdf", "application/pdf", pdf("Meeting moved to 3 pm")),
                ("screen.png", "image/png", image),
            ],
        )
        await finished(fake, dm)
    [question] = user_parts(llm)
    assert "[File: scan.pdf]\nMeeting moved to 3 pm\n[End of scan.pdf]" in text_of(question)
    assert llm.image_parts(0) == ["data:image/png;base64," + base64.b64encode(image).decode()]


async def test_bad_files_are_named_above_the_answer_and_a_blind_model_gets_a_note(
    fake: FakeDiscord, llm: FakeLLMServer, tmp_path: Path
) -> None:
    async with running_bot(fake, llm, tmp_path, FILE_MAX_BYTES="4096", LLM_VISION_MODELS="gpt-4o"):
        await fake.user_message(
            fake.general,
            "look",
            mention_bot=True,
            files=[
                ("huge.log", "text/plain", b"y" * 10_000),
                ("broken.pdf", "application/pdf", MALFORMED_PDF[:2000]),
                ("cat.png", "image/png", png()),
            ],
        )
        thread = int((await fake.wait_until(lambda: fake.threads_of(fake.general)))[0]["id"])
        [reply] = await finished(fake, thread)
    assert reply.content.startswith(
        "_⚠ Not read: huge.log (it is larger than 4,096 bytes); "
        "broken.pdf (the PDF could not be read)_"
    )
    assert "You said: look" in reply.content
    assert llm.image_parts(0) == []
    assert "[Image cat.png: not read (this model cannot see images)]" in text_of(
        user_parts(llm)[-1]
    )
