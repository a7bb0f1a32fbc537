"""The platform-neutral file core: sniffing by content, the text budget, refusals."""

from __future__ import annotations

from bot.attachments import Attachment, FileRefused
from bot.files.policy import FilePolicy, VisionModels
from bot.files.prepare import prepare_all
from bot.files.render import render_files
from bot.files.sniff import Kind, sniff
from tests.files.samples import BINARY_AS_TEXT, MALFORMED_PDF, pdf, png


def local(name: str, data: bytes, mime: str = "") -> Attachment:
    async def fetch(limit: int) -> bytes:
        return data[: limit + 1]

    return Attachment(name, mime, len(data), fetch)


def test_the_kind_comes_from_the_bytes_not_the_name_or_declared_type() -> None:
    assert sniff(png())[0] is Kind.IMAGE
    assert sniff(pdf("x"))[0] is Kind.PDF
    assert sniff("héllo, wörld\n".encode())[0] is Kind.TEXT
    assert sniff("\ufeffa,b\n".encode("utf-16"))[0] is Kind.TEXT
    assert sniff(BINARY_AS_TEXT)[0] is Kind.UNKNOWN
    assert sniff(b"\x89PNX")[0] is Kind.UNKNOWN


async def test_the_text_budget_is_shared_by_a_messages_files_and_says_what_was_cut() -> None:
    policy = FilePolicy(text_tokens=10)  # 40 characters
    records, _ = await prepare_all(
        [local("a.txt", b"A" * 30), local("b.txt", b"B" * 25), local("c.txt", b"C")], policy
    )
    assert [r["cut"] for r in records] == [0, 15, 1]
    shown, images = render_files(records, sees=True)
    assert "[… 15 of 25 characters of b.txt were cut to fit the file budget]" in shown
    assert images == []


async def test_refusals_name_the_reason_and_a_failed_download_is_one_of_them() -> None:
    async def broken(limit: int) -> bytes:
        raise OSError("connection reset")

    async def slow(limit: int) -> bytes:
        import asyncio

        await asyncio.sleep(5)
        return b""

    async def forbidden(limit: int) -> bytes:
        raise FileRefused("the download was refused (HTTP 403)")

    policy = FilePolicy(max_bytes=100, fetch_seconds=0.05)
    records, _ = await prepare_all(
        [
            Attachment("gone.txt", "", 5, broken),
            Attachment("slow.txt", "", 5, slow),
            Attachment("no.txt", "", 5, forbidden),
            local("liar.txt", b"x" * 500, "text/plain"),  # larger than the limit
            local("bad.pdf", MALFORMED_PDF[:90]),
            local("empty.txt", b""),
        ],
        policy,
    )
    assert [r.get("reason") for r in records] == [
        "the download failed",
        "the download took too long",
        "the download was refused (HTTP 403)",
        "it is larger than 100 bytes",
        "the PDF could not be read",
        "it is empty",
    ]


async def test_an_image_too_large_to_keep_is_sent_once_then_only_named() -> None:
    image = png(40, 40)
    policy = FilePolicy(image_keep_bytes=10)
    records, fresh = await prepare_all([local("big.png", image)], policy)
    assert records[0]["data"] == "" and fresh == {"big.png": image}
    _, now = render_files(records, sees=True, fresh=fresh)
    assert len(now) == 1
    later, again = render_files(records, sees=True)
    assert again == [] and "[Image big.png: not read (too large to keep for follow-ups)]" in later


def test_vision_models_globs_and_learned_blindness() -> None:
    vision = VisionModels(("gpt-4o*", "llava:*"))
    assert vision.sees("gpt-4o-mini") and vision.sees("llava:13b") and not vision.sees("gpt-3.5")
    vision.learn_blind("gpt-4o-mini", "400")
    assert not vision.sees("gpt-4o-mini")
    assert VisionModels().sees("anything")
