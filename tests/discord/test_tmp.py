from tests.discord.harness import Bot, finished
from tests.fakes.discord_api import opt
import asyncio
async def test_x(bot: Bot) -> None:
    fake = bot.fake
    inter = await fake.slash("chat", [opt("prompt", "secret question"), opt("private", True)])
    await asyncio.sleep(3)
    for r in fake.requests: print(r.method, r.path, r.status, r.json)
