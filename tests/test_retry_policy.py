"""Backoff is bounded and jittered; Retry-After is read in both forms and capped; the one retry
loop spaces tries by the policy and raises the last error when it is spent."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from prefect_gmicloud.client import RetryPolicy
from prefect_gmicloud.client.retry_loop import _Retry, with_retries
from prefect_gmicloud.client.retry_policy import parse_retry_after
from prefect_gmicloud.errors import NotFoundError, ServerError, TransportError


def test_backoff_grows_within_the_ceiling_and_is_jittered() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0)
    rng = random.Random(7)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        delays = [policy.backoff(attempt, rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8 and min(delays) < ceiling * 0.2


def test_retry_after_wins_and_is_capped() -> None:
    policy = RetryPolicy(max_retry_after=30.0)
    rng = random.Random(1)
    assert policy.backoff(1, rng, retry_after=12.0) == 12.0
    assert policy.backoff(1, rng, retry_after=3600.0) == 30.0


def test_attempts_and_total_time_are_bounded() -> None:
    policy = RetryPolicy(max_attempts=3, max_total=10.0)
    assert policy.allows(1, elapsed=0.0, next_delay=1.0)
    assert not policy.allows(3, elapsed=0.0, next_delay=1.0)
    assert not policy.allows(1, elapsed=9.5, next_delay=1.0)


def test_invalid_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


@pytest.mark.parametrize(("header", "seconds"), [("7", 7.0), (" 1.5 ", 1.5), ("-3", 0.0)])
def test_retry_after_in_seconds(header: str, seconds: float) -> None:
    assert parse_retry_after(header) == seconds


def test_retry_after_as_http_date() -> None:
    now = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=42), usegmt=True)
    assert parse_retry_after(header, now=now) == 42.0
    past = format_datetime(now - timedelta(seconds=42), usegmt=True)
    assert parse_retry_after(past, now=now) == 0.0


@pytest.mark.parametrize("header", [None, "", "soon", "Mon, 99 Foo"])
def test_unreadable_retry_after_is_ignored(header: str | None) -> None:
    assert parse_retry_after(header) is None


class FakeTime:
    """A clock that moves only when slept on."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_the_retry_loop_retries_until_an_answer() -> None:
    fake, tries, told = FakeTime(), [], []

    async def attempt() -> str:
        tries.append(fake.now)
        if len(tries) < 3:
            raise _Retry("503", ServerError(503, "busy"), retry_after=2.0)
        return "done"

    answer = await with_retries(
        attempt,
        policy=RetryPolicy(),
        rng=random.Random(1),
        clock=fake.clock,
        sleep=fake.sleep,
        on_retry=lambda failure, number, delay: told.append((failure.kind, number, delay)),
    )
    assert answer == "done" and tries == [0.0, 2.0, 4.0]
    assert told == [("503", 1, 2.0), ("503", 2, 2.0)]


async def test_the_retry_loop_raises_the_last_error_when_the_budget_is_spent() -> None:
    fake = FakeTime()
    cut = ConnectionResetError("cut")

    async def attempt() -> None:
        raise _Retry("drop", TransportError("dropped"), cause=cut, retry_after=1.0)

    with pytest.raises(TransportError, match="dropped") as caught:
        await with_retries(
            attempt,
            policy=RetryPolicy(max_attempts=3),
            rng=random.Random(1),
            clock=fake.clock,
            sleep=fake.sleep,
        )
    assert caught.value.__cause__ is cut and fake.slept == [1.0, 1.0]


async def test_the_retry_loop_lets_other_errors_through_at_once() -> None:
    fake = FakeTime()

    async def attempt() -> None:
        raise NotFoundError(404, "gone")

    with pytest.raises(NotFoundError):
        await with_retries(
            attempt, policy=RetryPolicy(), rng=random.Random(1), clock=fake.clock, sleep=fake.sleep
        )
    assert fake.slept == []
