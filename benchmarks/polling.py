"""How fast a finished video is noticed, and at how many status calls: our wait policy vs peers.

    .venv/bin/python benchmarks/polling.py [--jobs 2000] [--json out.json] [--plot out.png]

Jobs are simulated on a virtual clock (no server, no sleeping): each waits in the queue, then
processes for a duration drawn from a realistic spread (30-300 s, log-normal around ~2 min).
Every strategy polls the same jobs, in the same run:

- fixed 5 s (the vendor SDK's example), fixed 1 s, 1 s doubling to 5 s (DashScope style);
- fixed 10 s, for scale: it makes half of fixed 5 s's calls;
- ours: ``WaitTracker`` with the default ``WaitPolicy`` (nothing known of the model);
- ours, learned: the same, planned from what ``GMICloudClient`` learns per model from the jobs
  before (``DurationMemory``: a log-normal fit, polls where its hazard says completions are),
  at the default ``call_cost`` and three others.

Then boards: ``--boards`` storyboards of ``--shots`` jobs each, all submitted at once and
waited for in one process, as ``run_storyboard`` does. Per shot, on the same boards: fixed 5 s;
ours per request (learning while the board runs, sleeping waits re-planning once a model is
learned, as ``GMICloudClient`` does); and ours with batch status reads (``client/batch_reads.py``'s
``StatusBoard``: list calls paced by the rate requests are seen to end, each serving the waits
due before the next; each wait's first read is its submit's answer and its terminal read its
own ``GET /requests/{id}``), at the default ``list_cost`` and two others. A list call counts as one
call.

Reported per strategy: status calls per job, and the mean and p95 delay between a job's
completion and its detection. Then, at fixed 5 s's mean delay: the calls per job of ours
(learned), of an oracle that knows the distribution and sees each start as it happens, and the
lower bound no schedule can beat on these jobs. ``--plot`` draws mean delay against calls per
job: the fixed-interval family, ours (learned) across ``call_cost``, the lower bound, and the
strategies of the table.
"""

from __future__ import annotations

import argparse
import bisect
import heapq
import itertools
import json
import math
import random
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from prefect_gmicloud.client import GMIRequest, WaitPolicy
from prefect_gmicloud.client.batch_reads import BatchSettings, StatusBoard
from prefect_gmicloud.client.wait_schedule import DurationMemory, DurationModel, WaitTracker

Row = dict[str, float | str]


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


def read(request_id: str, status: str) -> GMIRequest:
    """A status read of a job: a finished one with its outcome (a success without one is a
    sync model still at work, which a wait goes on reading)."""
    outcome = {"video_url": f"https://media.example/{request_id}.mp4"}
    return GMIRequest(
        request_id=request_id, status=status, outcome=outcome if status == "success" else None
    )


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
    # The client's first read is the submit's answer ("queued", no call); then it sleeps what
    # the tracker says and polls.
    tracker = WaitTracker("job", policy, started_at=0.0, rng=rng)
    t, calls = 0.0, 0
    while True:
        if tracker.last_read is None:
            record = read("job", "queued")  # the submit's answer
        else:
            calls += 1
            record = read("job", job.status(t))
        delay = tracker.observe(record, t)
        if delay is None:
            return Outcome(calls, t - job.done_at)
        t += delay


def poll_learning(jobs: list[Job], policy: WaitPolicy, seed: int) -> list[Outcome]:
    """Jobs one after another, each planned from what the ones before taught (as the client)."""
    rng, memory, outcomes = random.Random(seed), DurationMemory(), []
    for job in jobs:
        learned = memory.model("api", "model")
        outcomes.append(poll_with_tracker(job, replace(policy, durations=learned), rng))
        memory.record("api", "model", job.processing_seconds)
    return outcomes


def poll_oracle(jobs: list[Job], call_cost: float) -> list[Outcome]:
    """A bound no client can reach: the exact distribution, and the start seen when it happens.

    Polls once when the job leaves the queue, then on the hazard schedule of the distribution
    fitted to all jobs, without jitter, within our default interval bounds (1-15 s).
    """
    model = DurationModel.from_samples([job.processing_seconds for job in jobs])
    low, high = WaitPolicy.initial_interval, WaitPolicy.max_interval
    outcomes = []
    for job in jobs:
        t, calls = job.queue_seconds, 1
        while t < job.done_at:
            t += model.poll_interval(t - job.queue_seconds, call_cost, low, high)
            calls += 1
        outcomes.append(Outcome(calls, t - job.done_at))
    return outcomes


def lower_bound_calls(jobs: list[Job], delay: float) -> float:
    """Fewest calls per job any schedule needs for ``delay`` mean delay (continuous limit).

    With polls every ``d(t)`` seconds, a job ending at ``t`` waits ``d(t)/2`` on average and
    costs ``S(t)/d(t)`` calls per second still running, so by Cauchy-Schwarz
    ``calls * delay >= (integral of sqrt(S f / 2) dt)^2`` for survival ``S`` and density ``f``
    of processing times; plus the one call that sees the start. Exact knowledge of when each
    job leaves the queue is assumed: no client has it.
    """
    ends = sorted(job.processing_seconds for job in jobs)
    step, window, total, t = 0.5, 5.0, 0.0, 0.0
    while t <= ends[-1]:
        survival = 1 - bisect.bisect_right(ends, t) / len(ends)
        around = bisect.bisect_right(ends, t + window) - bisect.bisect_right(ends, t - window)
        density = around / len(ends) / (2 * window)
        total += math.sqrt(survival * density / 2) * step
        t += step
    return total**2 / delay + 1


@dataclass
class _Shot:
    job: Job
    tracker: WaitTracker
    token: int | None = None  # its sleep on the status board
    version: int = 0  # wake-ups scheduled before the last one are stale
    done: bool = False


def poll_board(
    jobs: list[Job], policy: WaitPolicy, seed: int, batch: BatchSettings | None
) -> tuple[list[Outcome], int]:
    """One board: every job submitted at 0 and waited for at once in one process.

    Each wait starts from its submit's answer ("queued", no call), then sleeps what its tracker
    plans; finished requests teach the model's durations and sleeping waits re-plan once it is
    learned (as the client). With ``batch``, its reads go through a :class:`StatusBoard` as in
    ``GMICloudClient``. Returns each job's outcome (its own calls; list calls are not in them)
    and the number of list calls.
    """
    rng, memory = random.Random(seed), DurationMemory()
    board = StatusBoard(batch or BatchSettings())
    shots = [_Shot(job, WaitTracker(str(n), policy, 0.0, rng=rng)) for n, job in enumerate(jobs)]
    outcomes: list[Outcome | None] = [None] * len(jobs)
    calls = [0] * len(jobs)
    lists, now, order = 0, 0.0, itertools.count()
    wakes: list[tuple[float, int, int, int]] = []

    def schedule(index: int, at: float) -> None:
        shot = shots[index]
        shot.version += 1
        heapq.heappush(wakes, (at, next(order), index, shot.version))

    def waker(index: int) -> Callable[[], None]:
        return lambda: schedule(index, now)  # at the time of the list call that wakes it

    def statuses(at: float) -> list[GMIRequest]:
        return [read(str(n), j.status(at)) for n, j in enumerate(jobs)]

    def sleep_until(index: int, due: float) -> None:
        """The shot sleeps until its poll is due, or later to the next list call (batched)."""
        shot = shots[index]
        schedule(index, board.wake_at(str(index), due, now) if batch is not None else due)
        shot.token = board.sleep(str(index), shot.tracker.last_status, due, waker(index))

    for index in range(len(jobs)):
        schedule(index, 0.0)
    while wakes:
        now, _, index, version = heapq.heappop(wakes)
        shot = shots[index]
        if shot.done or version != shot.version:
            continue
        if shot.token is not None:
            board.woke(shot.token)
            shot.token = None
        request_id, tracker = str(index), shot.tracker
        record: GMIRequest | None = None
        answered = tracker.last_read is None  # the submit's answer, at 0
        if batch is not None and not answered and board.batching(request_id, now):
            if not board.served(request_id, tracker.last_read, now):
                if now < board.next_list_at:  # the list's pace moved on while it slept
                    sleep_until(index, now)
                    continue
                lists += 1
                for sleeper in board.listed(statuses(now), None, now):
                    sleeper.wake()
            record = board.record(request_id)
        if answered:
            record = read(request_id, "queued")
        elif record is None:
            calls[index] += 1
            record = read(request_id, shot.job.status(now))
        delay = tracker.observe(record, now)
        if delay is None:
            shot.done = True
            board.finished(request_id)
            outcomes[index] = Outcome(calls[index], now - shot.job.done_at)
            if tracker.processing_since is not None:
                memory.record("api", "model", now - tracker.processing_since)
            learned = memory.model("api", "model")
            for other, waiting in enumerate(shots):  # sleeping waits re-plan once it is learned
                if learned is None or waiting.done or waiting.token is None:
                    continue
                if waiting.tracker.policy.durations is None:
                    policy_now = replace(waiting.tracker.policy, durations=learned)
                    board.woke(waiting.token)
                    sleep_until(other, now + waiting.tracker.adopt(policy_now, now))
            continue
        sleep_until(index, now + delay)
    assert all(outcome is not None for outcome in outcomes)
    return [o for o in outcomes if o is not None], lists


#: ``list_cost`` of the batched rows besides the default: one for sooner, one for fewer calls.
BATCH_COSTS = (1.0, 5.0)


def run_boards(boards: int, shots: int, seed: int, batch: BatchSettings) -> dict[str, Row]:
    """Fixed 5 s, ours per request and ours batched on the same boards; calls per shot.

    The batched rows use ``batch`` and then ``batch`` with each of :data:`BATCH_COSTS`.
    """
    results: dict[str, list[Outcome]] = {"fixed 5 s (vendor SDK)": [], "ours, per request": []}
    lists: dict[str, int] = {}
    for board in range(boards):
        jobs = make_jobs(shots, seed + 1000 + board)
        results["fixed 5 s (vendor SDK)"] += [poll_with_schedule(j, fixed(5)) for j in jobs]
        results["ours, per request"] += poll_board(jobs, WaitPolicy(), seed + board, None)[0]
        for cost in (None, *BATCH_COSTS):
            name = "ours, batch reads" + ("" if cost is None else f", list_cost {cost:g}")
            settings = batch if cost is None else replace(batch, list_cost=cost)
            outcomes, listed = poll_board(jobs, WaitPolicy(), seed + board, settings)
            results.setdefault(name, []).extend(outcomes)
            lists[name] = lists.get(name, 0) + listed
    rows = {name: summarize(name, outcomes) for name, outcomes in results.items()}
    for name, listed in lists.items():
        rows[name]["list_calls_per_job"] = listed / (boards * shots)
        rows[name]["calls_per_job"] = float(rows[name]["calls_per_job"]) + listed / (boards * shots)
    return rows


def summarize(name: str, outcomes: list[Outcome]) -> Row:
    delays = sorted(o.delay for o in outcomes)
    return {
        "strategy": name,
        "calls_per_job": statistics.fmean(o.calls for o in outcomes),
        "mean_delay_s": statistics.fmean(delays),
        "p95_delay_s": delays[int(0.95 * (len(delays) - 1))],
    }


def calls_at_delay(strategy: Callable[[float], list[Outcome]], delay: float) -> float:
    """Calls per job of ``strategy`` at the ``call_cost`` giving ``delay`` mean delay."""
    low, high = 1e-3, 10.0  # the mean delay grows with call_cost
    for _ in range(16):
        middle = math.sqrt(low * high)
        row = summarize("", strategy(middle))
        low, high = (middle, high) if float(row["mean_delay_s"]) < delay else (low, middle)
    return float(summarize("", strategy(math.sqrt(low * high)))["calls_per_job"])


def run(count: int, seed: int) -> tuple[list[Row], dict[str, float]]:
    jobs = make_jobs(count, seed)
    rows = [
        summarize("fixed 5 s (vendor SDK)", [poll_with_schedule(j, fixed(5)) for j in jobs]),
        summarize("fixed 1 s", [poll_with_schedule(j, fixed(1)) for j in jobs]),
        summarize("1 s doubling to 5 s", [poll_with_schedule(j, doubling(1, 5)) for j in jobs]),
    ]
    rng = random.Random(seed)
    rows.append(summarize("ours", [poll_with_tracker(j, WaitPolicy(), rng) for j in jobs]))
    rows.append(summarize("ours, learned", poll_learning(jobs, WaitPolicy(), seed)))
    for cost in (0.05, 0.2, 0.5):
        policy = WaitPolicy(call_cost=cost)
        rows.append(summarize(f"ours, learned, cost {cost}", poll_learning(jobs, policy, seed)))
    rows.append(summarize("fixed 10 s", [poll_with_schedule(j, fixed(10)) for j in jobs]))
    target_delay = float(rows[0]["mean_delay_s"])
    equal_delay = {
        "fixed 5 s (vendor SDK)": float(rows[0]["calls_per_job"]),
        "ours, learned": calls_at_delay(
            lambda cost: poll_learning(jobs, WaitPolicy(call_cost=cost), seed), target_delay
        ),
        "oracle, 1-15 s steps": calls_at_delay(lambda cost: poll_oracle(jobs, cost), target_delay),
        "lower bound, any schedule": lower_bound_calls(jobs, target_delay),
    }
    return rows, equal_delay


Curve = list[tuple[float, float]]


def frontiers(count: int, seed: int) -> dict[str, Curve]:
    """(calls per job, mean delay) along each family's one knob, on the table's jobs."""
    jobs = make_jobs(count, seed)

    def point(outcomes: list[Outcome]) -> tuple[float, float]:
        row = summarize("", outcomes)
        return float(row["calls_per_job"]), float(row["mean_delay_s"])

    delays = (0.75, 1, 1.5, 2, 3, 4, 5, 6, 8)
    return {
        "fixed interval, 1-15 s": [
            point([poll_with_schedule(j, fixed(i)) for j in jobs]) for i in (1, 2, 3, 5, 7, 10, 15)
        ],
        "ours, learned, call_cost 0.02-1": [
            point(poll_learning(jobs, WaitPolicy(call_cost=cost), seed))
            for cost in (0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
        ],
        "lower bound, any schedule": [(lower_bound_calls(jobs, d), d) for d in delays],
    }


def plot(rows: list[Row], curves: dict[str, Curve], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5), dpi=120)
    for (name, curve), style in zip(curves.items(), ("o-", "s-", "--"), strict=True):
        axes.plot([c for c, _ in curve], [d for _, d in curve], style, label=name, markersize=4)
    for row in rows:
        calls, delay = float(row["calls_per_job"]), float(row["mean_delay_s"])
        axes.plot(calls, delay, "k.", markersize=8)
        axes.annotate(str(row["strategy"]), (calls, delay), textcoords="offset points",
                      xytext=(5, 4), fontsize=7)  # fmt: skip
    axes.set_xscale("log")
    axes.set_xlabel("status calls per job (log)")
    axes.set_ylabel("mean delay from completion to detection (s)")
    axes.set_title("Polling: detection delay vs calls, jobs of 30-300 s")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)


def print_boards(rows: dict[str, Row], boards: int, shots: int) -> None:
    print(f"\n{boards} boards of {shots} shots, each submitted at once (a list call is one call)\n")
    print(f"{'strategy':<32}{'calls/shot':>11}{'vs 5 s':>8}{'mean delay':>12}{'p95 delay':>11}")
    base = rows["fixed 5 s (vendor SDK)"]
    for row in rows.values():
        ratio = float(row["calls_per_job"]) / float(base["calls_per_job"])
        print(
            f"{row['strategy']!s:<32}{row['calls_per_job']:>11.2f}{ratio:>8.3f}"
            f"{row['mean_delay_s']:>10.2f} s{row['p95_delay_s']:>9.1f} s"
        )
    met = []
    for row in rows.values():
        if "list_calls_per_job" not in row:
            continue
        ratio = float(row["calls_per_job"]) / float(base["calls_per_job"])
        listed = float(row["list_calls_per_job"])
        single = float(row["calls_per_job"]) - listed
        print(
            f"  {row['strategy']}: {listed:.2f} list calls and {single:.2f} single reads per shot"
            " (1 of them the one confirming each wait's end)"
        )
        met.append(ratio <= 0.1 and float(row["mean_delay_s"]) <= float(base["mean_delay_s"]))
    verdict = "met" if any(met) else "MISSED"
    print(f"  target <= 0.10 of fixed 5 s's calls at a mean delay <= its: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--plot", type=Path, help="write the delay-vs-calls plot (PNG) here")
    parser.add_argument(
        "--boards", type=int, default=20, help="storyboards, each submitted at once"
    )
    parser.add_argument("--shots", type=int, default=100, help="jobs per storyboard")
    args = parser.parse_args()
    rows, equal_delay = run(args.jobs, args.seed)
    base = rows[0]
    print(f"{args.jobs} simulated jobs, processing 30-300 s (log-normal, median ~120 s)\n")
    print(f"{'strategy':<28}{'calls/job':>10}{'vs 5 s':>8}{'mean delay':>12}{'p95 delay':>11}")
    for row in rows:
        ratio = float(row["calls_per_job"]) / float(base["calls_per_job"])
        print(
            f"{row['strategy']!s:<28}{row['calls_per_job']:>10.1f}{ratio:>8.2f}"
            f"{row['mean_delay_s']:>10.1f} s{row['p95_delay_s']:>9.1f} s"
        )
    print(f"\ncalls per job at fixed 5 s's mean delay ({float(base['mean_delay_s']):.2f} s):")
    for name, calls in equal_delay.items():
        ratio = calls / equal_delay["fixed 5 s (vendor SDK)"]
        verdict = ""
        if name == "ours, learned":
            verdict = "  target 0.50: met" if ratio <= 0.5 else "  target 0.50: MISSED"
        print(f"  {name:<26}{calls:>6.1f}  ({ratio:.2f} of fixed 5 s){verdict}")
    boards = run_boards(args.boards, args.shots, args.seed, BatchSettings())
    print_boards(boards, args.boards, args.shots)
    if args.json:
        results = {"rows": rows, "calls_at_equal_delay": equal_delay}
        results["boards"] = {
            "boards": args.boards,
            "shots": args.shots,
            "rows": list(boards.values()),
        }
        args.json.write_text(json.dumps(results, indent=2))
    if args.plot:
        plot(rows, frontiers(args.jobs, args.seed), args.plot)


if __name__ == "__main__":
    main()
