"""The native-stream token buckets, on an injected clock."""

from __future__ import annotations

from adapters.slack.budget import RateBudget, StreamBudgets


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refill_at_the_rate() -> None:
    clock = Clock()
    budget = RateBudget(60.0, 2, clock)
    assert budget.try_take() and budget.try_take()
    assert not budget.try_take()
    assert budget.wait_time() == 1.0
    clock.now += 1.0
    assert budget.try_take()


def test_a_429_pauses_the_bucket_for_retry_after() -> None:
    clock = Clock()
    budget = RateBudget(600.0, 5, clock)
    budget.pause(3.0)
    assert budget.wait_time() == 3.0 and not budget.try_take()
    clock.now += 3.0
    assert budget.try_take()


def test_workspaces_have_separate_buckets() -> None:
    budgets = StreamBudgets(clock=Clock())
    assert budgets.append("T1") is budgets.append("T1")
    assert budgets.append("T1") is not budgets.append("T2")
    assert budgets.start_stop("T1") is not budgets.append("T1")
