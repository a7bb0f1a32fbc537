"""A controllable UTC clock for governance tests (quota windows and their reset)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """Real time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def next_day(self) -> None:
        """Move to 00:01 UTC of the next day."""
        now = self()
        midnight = (now + timedelta(days=1)).replace(hour=0, minute=1, second=0, microsecond=0)
        self.offset += midnight - now
