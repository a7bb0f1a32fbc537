"""The durable-answer part of the store contract, on SQLite and PostgreSQL: acceptance with
claims in one transaction, leases, takeover, stop flags and the final state."""

from __future__ import annotations

from datetime import timedelta

from bot.model import ChatMessage, ConversationKey, Role, TurnStatus
from bot.store.base import JOB_QUEUED, JOB_STREAMING, JobSpec, MessageUpdate
from bot.store.sql import SqlConversationStore
from tests.store.conftest import FakeClock

KEY = ConversationKey("slack", "T1", "C1", "1.1")


def question(text: str = "hi") -> ChatMessage:
    return ChatMessage(Role.USER, text, author_id="U1", platform_message_ids=[f"ts-{len(text)}"])


def spec(clock: FakeClock, owner: str = "a", seconds: float = 30) -> JobSpec:
    until = clock.now + timedelta(seconds=seconds)
    return JobSpec(owner, until, {"channel": "C1"}, "U1", {"temperature": 0.2})


async def test_accept_stores_question_answer_and_job_and_claims_once(
    store: SqlConversationStore, clock: FakeClock
) -> None:
    claims = [("slack", "Ev1"), ("slack", "message:C1:1.1")]
    answer_id = await store.accept(KEY, question(), spec(clock), claims)
    assert answer_id is not None
    again = await store.accept(KEY, question("dup"), spec(clock), [("slack", "Ev2"), claims[1]])
    assert again is None
    history = await store.export(KEY)
    assert [(m.role, m.status, m.requester) for m in history] == [
        (Role.USER, TurnStatus.COMPLETE, ""),
        (Role.ASSISTANT, TurnStatus.QUEUED, "U1"),
    ]
    assert await store.claim_event("slack", "Ev2")  # the refused accept rolled its claim back
    assert await store.job_exists(answer_id)


async def test_a_live_lease_is_never_taken_and_a_lapsed_one_is_taken_once(
    store: SqlConversationStore, clock: FakeClock
) -> None:
    answer_id = await store.accept(KEY, question(), spec(clock, "a"), ())
    assert answer_id is not None
    until = clock.now + timedelta(seconds=30)
    assert await store.claim_jobs("b", until, ["slack"], any_owner=False, limit=10) == []
    clock.advance(seconds=31)
    assert await store.renew_leases("b", until) == []
    [job] = await store.claim_jobs(
        "b", clock.now + timedelta(seconds=30), ["slack"], any_owner=False, limit=10
    )
    assert (job.answer_id, job.state, job.key, job.requester) == (answer_id, JOB_QUEUED, KEY, "U1")
    assert job.target == {"channel": "C1"} and job.overrides == {"temperature": 0.2}
    assert await store.claim_jobs("c", clock.now, ["slack"], any_owner=False, limit=10) == []
    assert await store.claim_jobs("c", clock.now, ["discord"], any_owner=True, limit=10) == []
    assert await store.start_job(answer_id, "a") is None  # "a" lost it
    assert await store.start_job(answer_id, "b") is False


async def test_checkpoint_and_takeover_of_a_streaming_answer(
    store: SqlConversationStore, clock: FakeClock
) -> None:
    answer_id = await store.accept(KEY, question(), spec(clock, "a"), ())
    assert answer_id is not None and await store.start_job(answer_id, "a") is False
    await store.checkpoint(answer_id, "partial text", ["p1", "p2"])
    [job] = await store.claim_jobs("b", clock.now, ["slack"], any_owner=True, limit=10)
    assert (job.state, job.text, job.message_ids) == (JOB_STREAMING, "partial text", ["p1", "p2"])
    found = await store.find_message(KEY, "p2")
    assert found is not None and found.id == answer_id


async def test_stop_flag_reaches_the_owner_and_finish_drops_the_job(
    store: SqlConversationStore, clock: FakeClock
) -> None:
    answer_id = await store.accept(KEY, question(), spec(clock, "a"), ())
    assert answer_id is not None
    assert await store.request_stop(answer_id)
    assert await store.renew_leases("a", clock.now + timedelta(seconds=30)) == [answer_id]
    await store.finish_job(answer_id, MessageUpdate(content="done", status=TurnStatus.STOPPED))
    assert not await store.job_exists(answer_id)
    assert not await store.request_stop(answer_id)
    assert (await store.export(KEY))[-1].status is TurnStatus.STOPPED


async def test_release_hands_queued_work_over_at_once(
    store: SqlConversationStore, clock: FakeClock
) -> None:
    first = await store.accept(KEY, question("1"), spec(clock, "a"), ())
    second = await store.accept(KEY, question("2"), spec(clock, "a"), ())
    assert await store.release_jobs("a") == 2
    jobs = await store.claim_jobs("b", clock.now, ["slack"], any_owner=False, limit=10)
    assert [j.answer_id for j in jobs] == [first, second]


async def test_lone_surrogates_are_stored_as_replacement_characters(
    store: SqlConversationStore, clock: FakeClock
) -> None:
    answer_id = await store.accept(KEY, question("broken \ud83d emoji"), spec(clock), ())
    assert answer_id is not None
    await store.finish_job(
        answer_id, MessageUpdate(content="ok \udc00", status=TurnStatus.COMPLETE)
    )
    texts = [m.content for m in await store.export(KEY)]
    assert texts == ["broken \ufffd emoji", "ok \ufffd"]
