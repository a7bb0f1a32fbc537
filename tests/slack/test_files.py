"""Files and images on Slack: downloaded with the bot token in the answer's turn, read by
content, sent to the model as text blocks or image parts, kept for follow-ups (issue 13.1)."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from tests.fakes.llm_server import FakeLLMServer
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import mention_event
from tests.files.samples import BINARY_AS_TEXT, MALFORMED_PDF, pdf, png
from tests.slack.harness import CHANNEL, DM, Bot, Driver, bot_env, running_bot
from tests.slack.process import free_port, threadline_run

LOG = "2026-11-30 12:00:01 ERROR disk full on /var/lib/db\n" * 3


def user_contents(llm: FakeLLMServer, index: int = -1) -> list[Any]:
    return [m["content"] for m in llm.requests[index].body["messages"] if m["role"] == "user"]


def last_text(llm: FakeLLMServer, index: int = -1) -> str:
    content = user_contents(llm, index)[-1]
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if p.get("type") == "text")
    return str(content)


async def mention_with_files(
    driver: Driver, text: str, files: list[dict[str, Any]], *, channel: str = CHANNEL
) -> str:
    """A user mentions the bot in a message with files (Slack's ``file_share``)."""
    message = driver.slack.user_says(channel, f"<@{driver.slack.bot_user}> {text}")
    message["subtype"], message["files"] = "file_share", files
    await driver.deliver(message)
    if not channel.startswith("D"):
        await driver.deliver(mention_event(message))
    return str(message["ts"])


@contextlib.asynccontextmanager
async def bot_with(
    slack: FakeSlack, llm: FakeLLMServer, db: Path, **extra: str
) -> AsyncIterator[Bot]:
    async with running_bot(slack, llm, db, **extra) as running:
        yield running


async def test_a_log_file_goes_into_the_prompt_and_a_follow_up_still_sees_it(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path
) -> None:
    """Through ``threadline run``: the file is fetched with the bot token and kept in history."""
    env = bot_env(slack, llm, tmp_path / "t.db", HTTP_PORT=str(free_port()))
    async with threadline_run(env, tmp_path, slack=slack):
        driver = Driver(slack)
        log = slack.user_file("app.log", "text/plain", LOG.encode())
        ts = await mention_with_files(driver, "why did it crash?", [log])
        await driver.finished(CHANNEL, ts)
        await driver.say("which disk was it?", thread=ts)
        await driver.finished(CHANNEL, ts, count=2)
    first = last_text(llm, 0)
    assert first.startswith("why did it crash?\n\n[File: app.log]\n")
    assert LOG.strip() in first and first.endswith("[End of app.log]")
    follow_up = user_contents(llm, 1)
    assert "[File: app.log]" in follow_up[0] and LOG.strip() in follow_up[0]
    assert follow_up[-1] == "which disk was it?"
    assert len(slack.file_downloads) == 1, "the follow-up used the stored text"
    assert slack.file_downloads[0][1] == slack.bot_token


async def test_a_pdf_is_read_through_its_text_layer_in_a_dm(
    slack: FakeSlack, llm: FakeLLMServer, db: Path
) -> None:
    async with bot_with(slack, llm, db) as bot:
        file = slack.user_file("invoice.pdf", "application/pdf", pdf("Invoice total: 42 EUR"))
        message = slack.user_says(DM, "what is the total?")
        message["subtype"], message["files"] = "file_share", [file]
        await bot.deliver(message)
        await bot.finished(DM, None)
    text = last_text(llm)
    assert "[File: invoice.pdf]\nInvoice total: 42 EUR\n[End of invoice.pdf]" in text


async def test_an_image_goes_to_a_vision_model_as_an_image_part_and_again_on_follow_up(
    slack: FakeSlack, llm: FakeLLMServer, db: Path
) -> None:
    image = png()
    async with bot_with(slack, llm, db, LLM_VISION_MODELS="fake-*") as bot:
        ts = await mention_with_files(
            bot, "what is this?", [slack.user_file("shot.png", "image/png", image)]
        )
        await bot.finished(CHANNEL, ts)
        await bot.say("what colour is it?", thread=ts)
        await bot.finished(CHANNEL, ts, count=2)
    url = "data:image/png;base64," + base64.b64encode(image).decode()
    assert llm.image_parts(0) == [url]
    assert llm.image_parts(1) == [url], "the stored image is sent with the follow-up"
    [question] = user_contents(llm, 0)
    assert question[0]["type"] == "text" and "[Image: shot.png]" in question[0]["text"]


async def test_a_model_not_listed_as_seeing_gets_a_note_instead_of_the_image(
    slack: FakeSlack, llm: FakeLLMServer, db: Path
) -> None:
    async with bot_with(slack, llm, db, LLM_VISION_MODELS="gpt-4o*") as bot:
        ts = await mention_with_files(
            bot, "what is this?", [slack.user_file("shot.png", "image/png", png())]
        )
        await bot.finished(CHANNEL, ts)
    assert llm.image_parts(0) == []
    assert "[Image shot.png: not read (this model cannot see images)]" in last_text(llm)


async def test_a_400_rejecting_images_is_retried_without_them_and_remembered(
    slack: FakeSlack, db: Path, caplog: Any
) -> None:
    async with (
        FakeLLMServer(blind_models={"fake-model"}) as llm,
        bot_with(slack, llm, db) as bot,
    ):
        ts = await mention_with_files(
            bot, "what is this?", [slack.user_file("a.png", "image/png", png())]
        )
        [reply] = await bot.finished(CHANNEL, ts)
        ts2 = await mention_with_files(
            bot, "and this?", [slack.user_file("b.png", "image/png", png())]
        )
        await bot.finished(CHANNEL, ts2)
    assert len(llm.requests) == 3, "one rejected request, its retry, then the second question"
    assert llm.image_parts(0) and not llm.image_parts(1) and not llm.image_parts(2)
    assert "[Image a.png: not read (this model cannot see images)]" in last_text(llm, 1)
    assert reply.text.startswith("You said: what is this?")
    assert sum("rejected image input" in r.getMessage() for r in caplog.records) == 1


async def test_oversized_and_malformed_files_are_named_and_the_question_is_answered(
    slack: FakeSlack, llm: FakeLLMServer, db: Path
) -> None:
    async with bot_with(slack, llm, db, FILE_MAX_BYTES="2000") as bot:
        files = [
            slack.user_file("big.txt", "text/plain", b"x" * 5000),
            slack.user_file("report.pdf", "application/pdf", MALFORMED_PDF[:1500]),
            slack.user_file("notes.txt", "text/plain", BINARY_AS_TEXT[:1000]),
            slack.user_file("ok.csv", "text/csv", b"a,b\n1,2\n"),
        ]
        ts = await mention_with_files(bot, "summarise these", files)
        [reply] = await bot.finished(CHANNEL, ts)
    assert reply.text.startswith("_⚠ Not read: big.txt (it is larger than 2,000 bytes); ")
    assert "report.pdf (the PDF could not be read)" in reply.text
    assert "notes.txt (it is not a text file, PDF or image)" in reply.text
    assert "You said: summarise these" in reply.text
    text = last_text(llm)
    assert "[File: ok.csv]\na,b\n1,2\n" in text and "[File big.txt: not read" in text
    assert all("big.txt" not in path for path, _ in slack.file_downloads), "never downloaded"


async def test_without_files_read_slack_sends_its_sign_in_page_which_is_refused(
    slack: FakeSlack, llm: FakeLLMServer, db: Path
) -> None:
    slack.files_read_scope = False
    async with bot_with(slack, llm, db) as bot:
        file = slack.user_file("a.txt", "text/plain", b"hello")
        ts = await mention_with_files(bot, "read it", [file])
        [reply] = await bot.finished(CHANNEL, ts)
    assert reply.text.startswith("_⚠ Not read: a.txt (the download was refused (a sign-in")
    assert slack.file_downloads[0][1] == slack.bot_token
    assert "[File a.txt: not read" in last_text(llm)
