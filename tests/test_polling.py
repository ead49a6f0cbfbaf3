"""The wait schedule on a fake clock: growth, jitter, planning from duration, two deadlines."""

from __future__ import annotations

import random

import pytest

from prefect_gmicloud import GMIRequest, WaitPolicy, WaitTimeout
from prefect_gmicloud.client.polling import DurationMemory, WaitTracker


def status(value: str) -> GMIRequest:
    return GMIRequest(request_id="r-1", model="m", status=value)


def tracker(policy: WaitPolicy) -> WaitTracker:
    return WaitTracker("r-1", policy, started_at=0.0, rng=random.Random(3))


def test_interval_grows_to_the_cap_without_jitter() -> None:
    watch = tracker(WaitPolicy(initial_interval=1, max_interval=15, growth=2, jitter=0))
    now, delays = 0.0, []
    for _ in range(7):
        delay = watch.observe(status("processing"), now)
        assert delay is not None
        delays.append(delay)
        now += delay
    assert delays == [1, 2, 4, 8, 15, 15, 15]


def test_jitter_keeps_delays_within_the_band() -> None:
    watch = tracker(WaitPolicy(initial_interval=10, max_interval=10, jitter=0.5))
    delays = [watch.observe(status("queued"), float(i)) for i in range(300)]
    assert all(d is not None and 5 <= d <= 10 for d in delays)
    assert len({round(d or 0, 3) for d in delays}) > 100


def test_interval_restarts_when_the_status_changes() -> None:
    watch = tracker(WaitPolicy(initial_interval=1, max_interval=15, growth=2, jitter=0))
    for now in (0.0, 1.0, 3.0, 7.0):
        watch.observe(status("queued"), now)
    assert watch.observe(status("processing"), 15.0) == 1
    assert watch.status_changed


def test_terminal_status_ends_the_wait() -> None:
    watch = tracker(WaitPolicy())
    assert watch.observe(status("success"), 0.0) is None
    assert watch.observe(status("failed"), 0.0) is None


def test_unknown_status_keeps_waiting() -> None:
    watch = tracker(WaitPolicy(jitter=0))
    assert watch.observe(status("warming_up"), 0.0) == 1.0
    assert watch.status_changed and watch.last_status == "warming_up"


def test_queue_deadline_raises_with_the_request_id() -> None:
    watch = tracker(WaitPolicy(queue_timeout=60, processing_timeout=600))
    watch.observe(status("queued"), 0.0)
    with pytest.raises(WaitTimeout) as caught:
        watch.observe(status("queued"), 61.0)
    error = caught.value
    assert (error.request_id, error.phase, error.last_status) == ("r-1", "queue", "queued")
    assert "not cancelled" in str(error)


def test_processing_deadline_counts_from_processing_start() -> None:
    watch = tracker(WaitPolicy(queue_timeout=60, processing_timeout=100))
    watch.observe(status("queued"), 0.0)
    watch.observe(status("processing"), 50.0)
    assert watch.observe(status("processing"), 149.0) is not None  # 170 s waited in all: fine
    with pytest.raises(WaitTimeout) as caught:
        watch.observe(status("processing"), 151.0)
    assert caught.value.phase == "processing" and caught.value.elapsed == pytest.approx(151.0)


def test_sleep_never_passes_a_deadline_by_much() -> None:
    watch = tracker(WaitPolicy(initial_interval=10, max_interval=10, jitter=0, queue_timeout=25))
    assert watch.observe(status("queued"), 20.0) == pytest.approx(5.001)


def test_expected_duration_plans_the_first_poll_then_tightens() -> None:
    policy = WaitPolicy(initial_interval=1, growth=2, jitter=0, expected_duration=100)
    watch = tracker(policy)
    first = watch.observe(status("processing"), 0.0)
    assert first == pytest.approx(85.0)
    assert watch.observe(status("processing"), 85.0) == 2  # back to short intervals near the end


def test_invalid_policies_are_refused() -> None:
    with pytest.raises(ValueError, match="initial_interval"):
        WaitPolicy(initial_interval=0)
    with pytest.raises(ValueError, match="jitter"):
        WaitPolicy(jitter=2)


def test_duration_memory_plans_from_the_shortest_recent_time() -> None:
    memory = DurationMemory(window=3)
    assert memory.floor("m") is None
    for seconds in (120.0, 40.0, 300.0):
        memory.record("m", seconds)
    assert memory.floor("m") == 40.0
    memory.record("m", 90.0)
    memory.record("m", 95.0)  # 40 s has left the window
    assert memory.floor("m") == 90.0
    assert memory.floor("other") is None
