"""The wait schedule on a fake clock: growth, jitter, planning from durations, two deadlines."""

from __future__ import annotations

import math
import random

import pytest

from prefect_gmicloud import WaitTimeout
from prefect_gmicloud.client import GMIRequest, WaitPolicy
from prefect_gmicloud.client.wait_schedule import DurationMemory, DurationModel, WaitTracker


def status(value: str) -> GMIRequest:
    outcome = {"video_url": "https://files.example/v.mp4"} if value == "success" else None
    return GMIRequest(request_id="r-1", model="m", status=value, outcome=outcome)


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


def test_a_success_without_its_outcome_yet_keeps_waiting() -> None:
    # A sync-style model (TTS) reads success at once; its outcome appears on a later read.
    watch = tracker(WaitPolicy(jitter=0))
    pending = GMIRequest(request_id="r-1", model="tts", status="success", outcome=None)
    assert watch.observe(pending, 0.0) == 1.0
    assert watch.observe(status("success"), 1.0) is None


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
    watch.observe(status("processing"), 50.0)  # started between 0 and 50: counted from 25
    assert watch.observe(status("processing"), 124.0) is not None  # 124 s waited in all: fine
    with pytest.raises(WaitTimeout) as caught:
        watch.observe(status("processing"), 126.0)
    assert caught.value.phase == "processing" and caught.value.elapsed == pytest.approx(126.0)


def test_sleep_never_passes_a_deadline_by_much() -> None:
    watch = tracker(WaitPolicy(initial_interval=10, max_interval=10, jitter=0, queue_timeout=25))
    assert watch.observe(status("queued"), 20.0) == pytest.approx(5.001)


def test_known_durations_skip_polls_where_nothing_ends() -> None:
    model = DurationModel(median=120, spread=0.5)
    watch = tracker(WaitPolicy(jitter=0, max_interval=60, durations=model))
    queued = watch.observe(status("queued"), 0.0)
    assert queued == pytest.approx(model.quantile(0.05))  # ~53 s: nothing ends sooner
    first = watch.observe(status("processing"), 10.0)
    assert first is not None and first > 20  # nothing ends in the first seconds
    assert watch.processing_since == 5.0  # midway between the two reads
    early = watch.observe(status("processing"), 70.0)
    late = watch.observe(status("processing"), 125.0)
    assert early is not None and late is not None and late < early < first


def test_the_planned_interval_follows_call_cost() -> None:
    model = DurationModel(median=100, spread=0.5)
    delays = []
    for cost in (0.05, 0.2):
        watch = tracker(WaitPolicy(jitter=0, durations=model, call_cost=cost))
        watch.observe(status("processing"), 0.0)
        delays.append(watch.observe(status("processing"), 100.0))
    assert delays[0] is not None and delays[1] is not None
    assert delays[1] / delays[0] == pytest.approx(2, rel=0.1)  # ~ sqrt(call_cost)
    assert delays[1] == pytest.approx(model.poll_interval(100.0, 0.2, 1.0, 15.0))


def test_the_planned_interval_never_sleeps_past_where_requests_end() -> None:
    quick = DurationModel(median=0.2, spread=0.1)  # a fast model: ends at 0.2 s, give or take
    interval = quick.poll_interval(0.05, call_cost=0.1, low=0.01, high=15.0)
    assert 0.1 < interval < 0.35
    assert quick.poll_interval(0.0, call_cost=0.1, low=0.01, high=15.0) < 0.35


def test_the_planned_interval_keeps_its_mean_under_jitter() -> None:
    model = DurationModel(median=100, spread=0.5)
    watch = tracker(WaitPolicy(jitter=0.5, durations=model))
    watch.observe(status("processing"), 0.0)
    delays = [watch.observe(status("processing"), 100.0) for _ in range(2000)]
    planned = model.poll_interval(100.0, 0.1, 1.0, 15.0)
    assert sum(d or 0 for d in delays) / len(delays) == pytest.approx(planned, rel=0.03)


def test_duration_model_fits_samples() -> None:
    fitted = DurationModel.from_samples([60.0, 120.0, 240.0])
    assert fitted.median == pytest.approx(120.0)
    assert fitted.spread == pytest.approx(math.log(2))
    assert DurationModel.from_samples([5.0, 5.0]).spread == 0.1  # never certain
    assert fitted.quantile(0.5) == pytest.approx(120.0)
    assert fitted.ending_within(0.0, 120.0) == pytest.approx(0.5)
    assert fitted.ending_within(240.0, 10.0) > fitted.ending_within(60.0, 10.0)


def test_invalid_policies_are_refused() -> None:
    with pytest.raises(ValueError, match="initial_interval"):
        WaitPolicy(initial_interval=0)
    with pytest.raises(ValueError, match="jitter"):
        WaitPolicy(jitter=2)


def test_duration_memory_learns_per_api_and_model_after_enough_samples() -> None:
    memory = DurationMemory(window=3, min_samples=2)
    memory.record("https://a", "m", 100.0)
    assert memory.model("https://a", "m") is None  # one time is no distribution
    memory.record("https://a", "m", 100.0)
    learned = memory.model("https://a", "m")
    assert learned is not None and learned.median == pytest.approx(100.0)
    for seconds in (10.0, 10.0, 10.0):
        memory.record("https://a", "m", seconds)  # the window keeps the last three
    learned = memory.model("https://a", "m")
    assert learned is not None and learned.median == pytest.approx(10.0)
    assert memory.model("https://b", "m") is None and memory.model("https://a", "x") is None


def test_overall_timeout_raises_in_any_phase() -> None:
    watch = tracker(WaitPolicy(initial_interval=1, max_interval=1, jitter=0, timeout=2.5))
    assert watch.observe(status("queued"), 0.0) == 1
    assert watch.observe(status("processing"), 1.0) == 1
    assert watch.observe(status("processing"), 2.0) == pytest.approx(0.501)  # wakes at the end
    with pytest.raises(WaitTimeout) as caught:
        watch.observe(status("processing"), 2.6)
    assert caught.value.phase == "overall" and caught.value.last_status == "processing"


def test_wait_options_map_onto_the_policy() -> None:
    base = WaitPolicy(max_interval=15, processing_timeout=60)
    assert base.with_options() == base
    tuned = base.with_options(timeout=30, poll_interval=20)
    assert (tuned.timeout, tuned.initial_interval, tuned.max_interval) == (30, 20, 20)
    assert tuned.processing_timeout == 60
    assert base.with_options(poll_interval=2).max_interval == 15
    with pytest.raises(ValueError, match=r"WaitPolicy.timeout: at least 0 seconds, got -1"):
        base.with_options(timeout=-1)
