"""Who people are: display names for multi-user threads, admin flags for settings.

Names are cached for ten minutes and refreshed in the background; only a person's very first
message waits (briefly) for ``users.info``, so the name stored with it is right.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.api import call
from adapters.slack.tasks import TaskSet
from bot.errors import SinkError

logger = logging.getLogger(__name__)

CACHE_SECONDS = 600.0
FIRST_LOOKUP_SECONDS = 1.0
RETRY_FAILED_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Person:
    """What the adapter needs to know about a Slack user."""

    name: str
    is_admin: bool
    fetched: float


def display_name(profile: Mapping[str, Any], fallback: str) -> str:
    """Slack's display name, else the real name, else ``fallback``."""
    for field in ("display_name", "real_name", "name"):
        value = profile.get(field)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return fallback


class UserDirectory:
    """A small ``users.info`` cache (needs the ``users:read`` scope)."""

    def __init__(
        self,
        client: AsyncWebClient,
        tasks: TaskSet,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._tasks = tasks
        self._clock = clock
        self._people: dict[str, Person] = {}
        self._loading: dict[str, asyncio.Task[Any]] = {}
        self._failed: dict[str, float] = {}

    async def name(self, user_id: str, event: Mapping[str, Any]) -> str:
        """The author's name for history.

        Known people are answered from the cache (refreshed in the background when stale); a
        first-time author waits at most ``FIRST_LOOKUP_SECONDS`` for ``users.info``.
        """
        person = self._people.get(user_id)
        if person is None and user_id and not self._recently_failed(user_id):
            lookup = self._refresh_later(user_id)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(lookup), FIRST_LOOKUP_SECONDS)
            person = self._people.get(user_id)
        elif person is not None and self._stale(person):
            self._refresh_later(user_id)
        if person is not None:
            return person.name
        profile = event.get("user_profile")
        return display_name(profile, user_id) if isinstance(profile, Mapping) else user_id

    async def is_admin(self, user_id: str) -> bool:
        """Workspace admin or owner, per ``users.info``; False if Slack can't tell us."""
        person = self._people.get(user_id)
        if (person is None or self._stale(person)) and not self._recently_failed(user_id):
            person = await self._fetch(user_id)
        return person is not None and person.is_admin

    def _recently_failed(self, user_id: str) -> bool:
        failed = self._failed.get(user_id)
        return failed is not None and self._clock() - failed < RETRY_FAILED_SECONDS

    def _stale(self, person: Person) -> bool:
        return self._clock() - person.fetched > CACHE_SECONDS

    def _refresh_later(self, user_id: str) -> asyncio.Task[Any]:
        if user_id not in self._loading:
            task = self._tasks.spawn(self._fetch(user_id), name=f"slack-user-{user_id}")
            self._loading[user_id] = task
        return self._loading[user_id]

    async def _fetch(self, user_id: str) -> Person | None:
        try:
            data = await call("users.info", self._client.users_info(user=user_id))
        except SinkError as exc:
            logger.info("users.info %s failed: %s", user_id, exc)
            self._failed[user_id] = self._clock()
            return None
        finally:
            self._loading.pop(user_id, None)
        user = data.get("user")
        if not isinstance(user, Mapping):
            return None
        person = _person(user, user_id, self._clock())
        self._people[user_id] = person
        return person


def _person(user: Mapping[str, Any], user_id: str, now: float) -> Person:
    profile = user.get("profile")
    name = display_name(profile, "") if isinstance(profile, Mapping) else ""
    name = name or display_name(user, user_id)
    admin = any(bool(user.get(flag)) for flag in ("is_admin", "is_owner", "is_primary_owner"))
    return Person(name=name, is_admin=admin, fetched=now)
