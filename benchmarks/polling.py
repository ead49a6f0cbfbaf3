"""How fast a finished video is noticed, and at how many status calls: our wait policy vs peers.

    .venv/bin/python benchmarks/polling.py [--jobs 2000] [--json out.json]

Jobs are simulated on a virtual clock (no server, no sleeping): each waits in the queue, then
processes for a duration drawn from a realistic spread (30-300 s, log-normal around ~2 min).
Every strategy polls the same jobs, in the same run:

- fixed 5 s (the vendor SDK's example), fixed 1 s, 1 s doubling to 5 s (DashScope style);
- ours: ``WaitTracker`` with the default ``WaitPolicy``;
- ours, learned: the same, with what ``GMICloudClient`` learns per model from the jobs before
  (``DurationMemory``: no polling during the shortest recent processing time).

Reported per strategy: status calls per job, and the mean and p95 delay between a job's
completion and its detection.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from prefect_gmicloud import GMIRequest, WaitPolicy
from prefect_gmicloud.client.polling import DurationMemory, WaitTracker


@dataclass(frozen=True)
class Job:
    queue_seconds: float
    processing_seconds: float

    @property
    def done_at(self) -> float:
        return self.queue_seconds + self.processing_seconds

    def status(self, t: float) -> str:
        if t < self.queue_seconds:
            return "queued"
        return "processing" if t < self.done_at else "success"


def make_jobs(count: int, seed: int) -> list[Job]:
    rng = random.Random(seed)
    return [
        Job(
            queue_seconds=rng.uniform(0, 20),
            processing_seconds=min(300.0, max(30.0, rng.lognormvariate(math.log(120), 0.6))),
        )
        for _ in range(count)
    ]


Schedule = Callable[[Job], Iterator[float]]


def fixed(interval: float) -> Schedule:
    def delays(_: Job) -> Iterator[float]:
        while True:
            yield interval

    return delays


def doubling(start: float, cap: float) -> Schedule:
    def delays(_: Job) -> Iterator[float]:
        interval = start
        while True:
            yield interval
            interval = min(cap, interval * 2)

    return delays


@dataclass
class Outcome:
    calls: int
    delay: float


def poll_with_schedule(job: Job, schedule: Schedule) -> Outcome:
    t = 0.0
    for calls, delay in enumerate(schedule(job), start=1):
        t += delay
        if job.status(t) == "success":
            return Outcome(calls, t - job.done_at)
    raise AssertionError("unreachable")


def poll_with_tracker(job: Job, policy: WaitPolicy, rng: random.Random) -> Outcome:
    # The client polls once at once, then sleeps what the tracker says.
    tracker = WaitTracker("job", policy, started_at=0.0, rng=rng)
    t, calls = 0.0, 0
    while True:
        calls += 1
        status = job.status(t)
        delay = tracker.observe(GMIRequest(request_id="job", status=status), t)
        if delay is None:
            return Outcome(calls, t - job.done_at)
        t += delay


def summarize(name: str, outcomes: list[Outcome]) -> dict[str, float | str]:
    delays = sorted(o.delay for o in outcomes)
    return {
        "strategy": name,
        "calls_per_job": statistics.fmean(o.calls for o in outcomes),
        "mean_delay_s": statistics.fmean(delays),
        "p95_delay_s": delays[int(0.95 * (len(delays) - 1))],
    }


def run(count: int, seed: int) -> list[dict[str, float | str]]:
    jobs = make_jobs(count, seed)
    rows = [
        summarize("fixed 5 s (vendor SDK)", [poll_with_schedule(j, fixed(5)) for j in jobs]),
        summarize("fixed 1 s", [poll_with_schedule(j, fixed(1)) for j in jobs]),
        summarize("1 s doubling to 5 s", [poll_with_schedule(j, doubling(1, 5)) for j in jobs]),
    ]
    rng = random.Random(seed)
    rows.append(summarize("ours", [poll_with_tracker(j, WaitPolicy(), rng) for j in jobs]))
    memory, outcomes = DurationMemory(), []
    for job in jobs:
        policy = WaitPolicy(expected_duration=memory.floor("model"))
        outcomes.append(poll_with_tracker(job, policy, rng))
        memory.record("model", job.processing_seconds)  # what GMICloudClient.wait learns
    rows.append(summarize("ours, learned", outcomes))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = run(args.jobs, args.seed)
    base = rows[0]
    print(f"{args.jobs} simulated jobs, processing 30-300 s (log-normal, median ~120 s)\n")
    print(f"{'strategy':<24}{'calls/job':>10}{'vs 5 s':>8}{'mean delay':>12}{'p95 delay':>11}")
    for row in rows:
        ratio = float(row["calls_per_job"]) / float(base["calls_per_job"])
        print(
            f"{row['strategy']!s:<24}{row['calls_per_job']:>10.1f}{ratio:>8.2f}"
            f"{row['mean_delay_s']:>10.1f} s{row['p95_delay_s']:>9.1f} s"
        )
    for row in rows[3:]:
        calls_ok = float(row["calls_per_job"]) <= 0.5 * float(base["calls_per_job"])
        delay_ok = float(row["mean_delay_s"]) <= float(base["mean_delay_s"])
        verdict = "met" if calls_ok and delay_ok else "MISSED"
        print(f"{row['strategy']}: <= 50% of fixed 5 s's calls, mean delay <= its: {verdict}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
