"""Backoff is bounded and jittered; Retry-After is read in both forms and capped."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from prefect_gmicloud import RetryPolicy
from prefect_gmicloud.client.retry import parse_retry_after


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
