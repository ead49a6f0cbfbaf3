"""Workers whose clocks are wrong, with real processes: the CLI, the simulator, moto, libfaketime.

Whether a claim's run is alive is judged on the store's clock (a heartbeat's ``Last-Modified``
against the ``Date`` of the store's answer), never on a worker's. So a worker ten minutes ahead
that starts a board a live run is working on takes over none of its claims (it used to take all
six and pay three shots twice), and a worker ten minutes behind does not wait for ever on the
claims of a run that died (to its clock, that run's heartbeat would look fresh for ten minutes).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from prefect_gmicloud.simulator import Simulator
from prefect_gmicloud.simulator.boards import synthetic_storyboard
from prefect_gmicloud.storage import S3Destination
from tests.conftest import PrefectPlaces
from tests.reliability.boards import (
    SECRET_KEY,
    ledger_entries,
    storyboard_command,
    unrecorded_paid_ids,
)
from tests.reliability.faketime import faketime_command, faketime_env, require_faketime

pytestmark = pytest.mark.timeout(480)

SHOTS = 6
#: The most a run may take here; past it, a run is waiting for ever.
RUN_DEADLINE_SECONDS = 300
_SUMMARY = re.compile(r"(\d+) submitted, (\d+) resumed, (\d+) followed, (\d+) reused")


@dataclass(frozen=True)
class Summary:
    """What a run's last log line says it did with the board's shots."""

    submitted: int
    resumed: int
    followed: int
    reused: int

    @classmethod
    def of(cls, log: str) -> Summary:
        found = _SUMMARY.findall(log)
        assert found, log[-4000:]
        return cls(*(int(n) for n in found[-1]))


def board_file(tmp_path: Path, title: str) -> Path:
    board = tmp_path / f"{title}.yaml"
    data = synthetic_storyboard(SHOTS, title).model_dump(mode="json", exclude_defaults=True)
    board.write_text(yaml.safe_dump(data))
    return board


def run_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    from prefect.settings import PREFECT_API_URL

    return {
        **os.environ,
        "GMI_TEST_KEY": SECRET_KEY,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_GMICLOUD_JOURNAL": str(tmp_path / "journal.jsonl"),
        **extra,
    }


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_for_submits(sim: Simulator, run: subprocess.Popen[bytes], log: Path, count: int) -> None:
    """Until the simulator has created ``count`` requests (``run`` must still be going)."""
    deadline = time.monotonic() + RUN_DEADLINE_SECONDS
    while sim.stats.created < count:
        assert run.poll() is None, log.read_text()[-4000:]
        assert time.monotonic() < deadline, "the first run paid nothing"
        time.sleep(0.1)


def finish(run: subprocess.Popen[bytes], log: Path) -> tuple[int, str]:
    """The run's exit status and log once it ends; it must end within the deadline."""
    try:
        code = run.wait(timeout=RUN_DEADLINE_SECONDS)
    except subprocess.TimeoutExpired:
        run.kill()
        run.wait()
        pytest.fail(f"the run waited for ever: {log.read_text()[-4000:]}")
    return code, log.read_text()


def skewed_clock(offset: str, tmp_path: Path) -> float:
    """How far ahead of this process a Python started under ``faketime offset`` thinks it is."""
    probe = faketime_command(offset, sys.executable, "-c", "import time; print(time.time())")
    env = faketime_env(dict(os.environ), tmp_path / "shim")
    before = time.time()
    answer = subprocess.run(probe, env=env, capture_output=True, text=True, check=True, timeout=60)
    return float(answer.stdout) - before


def test_a_worker_ten_minutes_ahead_takes_over_no_live_claim(
    make_simulator: Callable[..., Simulator],
    bucket: S3Destination,
    tmp_path: Path,
    prefect_api: PrefectPlaces,
) -> None:
    require_faketime()
    skew = skewed_clock("+10m", tmp_path)
    assert 590 < skew < 660, skew
    # Slow generation, one shot at a time: run A claims a shot only once it has a slot to pay
    # for it, so run B meets shots stored, A's request in flight under A's live claim, and
    # shots nobody claimed yet (which the two runs then share).
    sim = make_simulator(api_key=SECRET_KEY, processing_seconds=5.0)
    board = board_file(tmp_path, "skewed")
    env = run_env(tmp_path)
    command = storyboard_command(board, bucket, sim, "--max-concurrency", "1")
    log_a, log_b = tmp_path / "run-a.log", tmp_path / "run-b.log"
    run_a = start(command, env, log_a)
    wait_for_submits(sim, run_a, log_a, 1)
    paid_when_b_started = sim.stats.created
    started = time.monotonic()
    run_b = start(faketime_command("+10m", *command), faketime_env(env, tmp_path / "shim"), log_b)
    code_b, text_b = finish(run_b, log_b)
    b_seconds = time.monotonic() - started
    code_a, text_a = finish(run_a, log_a)
    a, b = Summary.of(text_a), Summary.of(text_b)
    entries = ledger_entries(bucket, "skewed")

    print(
        f"\nworker {skew:.0f} s ahead starts the board a live run is working on: run B began "
        f"with {paid_when_b_started} of {SHOTS} shots paid; requests {sim.stats.created} for "
        f"{SHOTS} shots; duplicate submits {sim.stats.duplicate_submits}; run A {a}; run B {b} "
        f"in {b_seconds:.1f} s; paid ids missing from the ledger "
        f"{len(unrecorded_paid_ids(sim, entries))}"
    )
    assert (code_a, code_b) == (0, 0), (text_a[-3000:], text_b[-3000:])
    assert sim.stats.created == SHOTS and sim.stats.duplicate_submits == 0
    assert max(sim.stats.submits_by_payload.values()) == 1
    assert a.submitted + b.submitted == SHOTS and (a.resumed, b.resumed) == (0, 0)
    assert b.followed >= 1, "run B arrived after run A had finished: nothing was tested"
    assert b.submitted + b.followed + b.reused == SHOTS
    assert unrecorded_paid_ids(sim, entries) == set()
    assert sorted(entry.state for entry in entries) == ["stored"] * SHOTS
    assert "took it over while this run waited" not in text_a


def test_a_worker_ten_minutes_behind_takes_over_a_dead_run_without_waiting_for_ever(
    make_simulator: Callable[..., Simulator],
    bucket: S3Destination,
    tmp_path: Path,
    prefect_api: PrefectPlaces,
) -> None:
    require_faketime()
    lease = 8  # seconds, on the store's clock; to run B's clock the heartbeat is 10 min young
    sim = make_simulator(api_key=SECRET_KEY, processing_seconds=3.0)
    board = board_file(tmp_path, "abandoned")
    env = run_env(tmp_path, PREFECT_GMICLOUD_LEASE_SECONDS=str(lease))
    command = storyboard_command(board, bucket, sim, "--max-concurrency", "1")
    log_a, log_b = tmp_path / "run-a.log", tmp_path / "run-b.log"
    run_a = start(command, env, log_a)
    wait_for_submits(sim, run_a, log_a, 2)
    run_a.send_signal(signal.SIGKILL)  # a machine lost: no clean stop, the heartbeat stays
    run_a.wait()
    paid_by_a = sim.stats.created
    started = time.monotonic()
    run_b = start(faketime_command("-10m", *command), faketime_env(env, tmp_path / "shim"), log_b)
    code_b, text_b = finish(run_b, log_b)
    b_seconds = time.monotonic() - started
    b = Summary.of(text_b)
    entries = ledger_entries(bucket, "abandoned")

    print(
        f"\nworker 10 min behind after a run died ({paid_by_a} of {SHOTS} shots paid, lease "
        f"{lease} s): requests {sim.stats.created} for {SHOTS} shots; duplicate submits "
        f"{sim.stats.duplicate_submits}; run B {b} in {b_seconds:.1f} s; paid ids missing from "
        f"the ledger {len(unrecorded_paid_ids(sim, entries))}"
    )
    assert code_b == 0, text_b[-3000:]
    assert sim.stats.created == SHOTS and sim.stats.duplicate_submits == 0
    assert b.submitted == SHOTS - paid_by_a
    assert unrecorded_paid_ids(sim, entries) == set()
    assert sorted(entry.state for entry in entries) == ["stored"] * SHOTS
