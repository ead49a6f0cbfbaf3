"""GMI's answers as users meet them, with real processes: the CLI against the simulator over
HTTP, moto and the session's Prefect API.

Each test prints its figures and checks that nothing was submitted twice and that every request
GMI created is in the ledger: a one-page ``GET /requests`` and a worker clock minutes off GMI's,
both with lost submit answers; ``402 Insufficient credits``; a model the key is not entitled
to (``500 Backend error (401)``); a content-policy ``400``; the ``created``/``dispatched``
statuses.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from prefect_gmicloud.simulator import Simulator
from prefect_gmicloud.simulator.boards import synthetic_storyboard
from prefect_gmicloud.simulator.config import ScriptedFault
from prefect_gmicloud.storage import S3Destination
from prefect_gmicloud.storyboard.schema import Storyboard
from tests.conftest import PrefectPlaces
from tests.reliability.boards import (
    SECRET_KEY,
    ledger_entries,
    storyboard_command,
    unrecorded_paid_ids,
)
from tests.reliability.faketime import faketime_command, faketime_env

pytestmark = pytest.mark.timeout(480)

MODEL = "wan2.7-r2v"
#: A worker 5 minutes ahead of GMI: beyond the lookup's margin for clocks it has not learned.
SKEW_SECONDS = 300.0


@dataclass
class Board:
    """A storyboard file, its title and the environment its CLI runs in."""

    title: str
    file: Path
    env: dict[str, str]

    def run(
        self, bucket: S3Destination, sim: Simulator, *extra: str, skew: str | None = None
    ) -> tuple[int, str]:
        """The CLI once, to its end: exit status and output (whitespace made single).

        ``skew``: run it under libfaketime with its wall clock this far off (``"+5m"``).
        """
        command = storyboard_command(self.file, bucket, sim, *extra)
        env = self.env
        if skew is not None:
            command = faketime_command(skew, *command)
            env = faketime_env(env, self.file.parent / "faketime-shim")
        done = subprocess.run(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            timeout=300,
        )  # fmt: skip
        return done.returncode, " ".join(done.stdout.split())


@pytest.fixture
def make_board(
    tmp_path: Path, prefect_api: PrefectPlaces, request: pytest.FixtureRequest
) -> Callable[..., Board]:
    from prefect.settings import PREFECT_API_URL

    def make(shots: int, edit: Callable[[Storyboard], None] | None = None) -> Board:
        title = request.node.name.removeprefix("test_")[:40].strip("_").replace("_", "-")
        board = synthetic_storyboard(shots, title)
        if edit is not None:
            edit(board)
        file = tmp_path / "board.yaml"
        file.write_text(yaml.safe_dump(board.model_dump(mode="json", exclude_defaults=True)))
        env = {
            **os.environ,
            "GMI_TEST_KEY": SECRET_KEY,
            "PREFECT_API_URL": str(PREFECT_API_URL.value()),
            "PREFECT_GMICLOUD_LEASE_SECONDS": "6",
            "PREFECT_GMICLOUD_JOURNAL": str(tmp_path / "journal.jsonl"),
        }
        return Board(title, file, env)

    return make


def paid_not_in_ledger(
    sim: Simulator, bucket: S3Destination, board: Board, others: Collection[str] = frozenset()
) -> set[str]:
    """Requests the simulator created for this board that its ledger does not know."""
    return unrecorded_paid_ids(sim, ledger_entries(bucket, board.title)) - set(others)


def states(bucket: S3Destination, board: Board) -> list[str]:
    return sorted(entry.state for entry in ledger_entries(bucket, board.title))


def skewed_now(offset: str, folder: Path) -> float:
    """What a Python process started under ``faketime offset`` reads as the time now."""
    probe = faketime_command(offset, sys.executable, "-c", "import time; print(time.time())")
    env = faketime_env(dict(os.environ), folder / "probe-shim")
    return float(subprocess.run(probe, env=env, capture_output=True, text=True, timeout=60).stdout)


def older_requests(sim: Simulator, count: int) -> set[str]:
    """Requests of the board's model the account made before (another board's, yesterday)."""
    made = [
        sim.state.create(MODEL, {"prompt": f"an older request {n}", "duration": 2}, "org-sim")
        for n in range(count)
    ]
    sim.state.stats.submits_by_payload.clear()  # not this board's submits
    return {request.request_id for request in made}


def test_a_one_page_list_with_lost_submit_answers_pays_nothing_twice(
    make_simulator: Callable[..., Simulator],
    bucket: S3Destination,
    make_board: Callable[..., Board],
) -> None:
    # The list shows two requests of the model and says there are more: the account's two
    # oldest. Two submits lose their answers after creating their requests.
    sim = make_simulator(api_key=SECRET_KEY, list_page_limit=2)
    others = older_requests(sim, 2)
    sim.state.inject("submit", "drop_after_create", "drop_after_create")
    board = make_board(6)

    first_exit, first = board.run(bucket, sim)
    created_first = sim.stats.created - len(others)
    unknown = states(bucket, board).count("claimed")  # claimed, its submit's outcome unknown
    again_exit, again = board.run(bucket, sim)  # the list still shows one page
    created_again = sim.stats.created - len(others)
    missing_while_partial = paid_not_in_ledger(sim, bucket, board, others)
    sim.config.list_page_limit = None  # the requests can be seen now: the next run finds them
    last_exit, last = board.run(bucket, sim)
    created = sim.stats.created - len(others)
    missing = paid_not_in_ledger(sim, bucket, board, others)

    print(
        f"\none-page list, 2 lost submit answers, 6 shots: run 1 exit {first_exit}, "
        f"{created_first} requests created, {unknown} shot(s) 'cannot decide'; run 2 (still "
        f"one page) exit {again_exit}, {created_again} created; run 3 (whole list) exit "
        f"{last_exit}, {created} created; duplicates {sim.stats.duplicate_submits}; paid ids "
        f"missing from the ledger {len(missing)} (while the list hid them: "
        f"{len(missing_while_partial)})"
    )
    assert first_exit == 1 and unknown == 2, first
    assert "shows only part of the list (total 3, 2 shown)" in first, first
    assert "SubmitOutcomeUnknown" not in first and "may have reached GMI Cloud" in first, first
    assert "4 shot(s) stored, 2 failed" in first, first
    assert created_first == created_again == created == 6
    assert again_exit == 1, again
    assert last_exit == 0, last
    assert sim.stats.duplicate_submits == 0
    assert missing == set()
    assert states(bucket, board) == ["stored"] * 6


@pytest.mark.parametrize("where", ["simulator-offset", "faketime"])
def test_a_worker_clock_ahead_of_gmi_with_lost_submit_answers_pays_once(
    make_simulator: Callable[..., Simulator],
    bucket: S3Destination,
    make_board: Callable[..., Board],
    where: str,
    tmp_path: Path,
) -> None:
    # The worker's clock is 5 minutes ahead of GMI's: GMI's clock set back in the simulator,
    # or the CLI's own clock set forward by libfaketime (monotonic clocks kept real).
    skew = f"+{SKEW_SECONDS:.0f}s" if where == "faketime" else None
    if skew is not None:
        assert abs(skewed_now(skew, tmp_path) - time.time() - SKEW_SECONDS) < 30, "not skewed"
    offset = -SKEW_SECONDS if where == "simulator-offset" else 0.0
    sim = make_simulator(api_key=SECRET_KEY, clock_offset_seconds=offset)
    lost: list[ScriptedFault] = ["drop_after_create"] * 12
    sim.state.inject("submit", *lost)  # every submit's answer is lost
    board = make_board(2)

    code, output = board.run(bucket, sim, skew=skew)
    missing = paid_not_in_ledger(sim, bucket, board)

    print(
        f"\nworker clock {SKEW_SECONDS:.0f} s ahead of GMI ({where}), every submit answer "
        f"lost, 2 shots: exit {code}, submits {sim.stats.calls['submit']}, requests created "
        f"{sim.stats.created}, duplicates {sim.stats.duplicate_submits}, paid ids missing "
        f"from the ledger {len(missing)}"
    )
    assert code == 0, output
    assert sim.stats.created == 2 and sim.stats.calls["submit"] == 2
    assert sim.stats.duplicate_submits == 0
    assert missing == set()
    assert states(bucket, board) == ["stored"] * 2


def test_insufficient_credits_stops_the_board_at_the_first_402(
    make_simulator: Callable[..., Simulator],
    bucket: S3Destination,
    make_board: Callable[..., Board],
) -> None:
    sim = make_simulator(api_key=SECRET_KEY, credits_for_requests=2)
    board = make_board(6)

    code, output = board.run(bucket, sim, "--max-concurrency", "1")
    submits, created = sim.stats.calls["submit"], sim.stats.created
    missing = paid_not_in_ledger(sim, bucket, board)
    sim.config.credits_for_requests = None  # credits added: the same command again
    resumed_code, resumed = board.run(bucket, sim, "--max-concurrency", "1")

    print(
        f"\n402 from the third submit, 6 shots, concurrency 1: exit {code}, submits "
        f"{submits}, requests created {created}, paid ids missing from the ledger "
        f"{len(missing)}; after adding credits: exit {resumed_code}, submits "
        f"{sim.stats.calls['submit']} in all, created {sim.stats.created}, duplicates "
        f"{sim.stats.duplicate_submits}"
    )
    assert code == 1, output
    assert submits == 3 and created == 2
    assert "halted: Insufficient credits" in output, output
    assert "2 shot(s) paid" in output and "4 shot(s) not submitted" in output, output
    assert "Add credits, then run the storyboard again" in output, output
    assert missing == set()
    assert resumed_code == 0, resumed
    assert sim.stats.created == 6 and sim.stats.duplicate_submits == 0
    assert sim.stats.calls["submit"] == 3 + 4  # the paid shots were collected, not paid again
    assert states(bucket, board) == ["stored"] * 6


def test_a_model_the_key_is_not_entitled_to_is_submitted_once(
    make_simulator: Callable[..., Simulator],
    bucket: S3Destination,
    make_board: Callable[..., Board],
) -> None:
    sim = make_simulator(api_key=SECRET_KEY, unentitled_models=[MODEL])
    board = make_board(2)

    code, output = board.run(bucket, sim)

    print(
        f"\n500 Backend error (401), 2 shots: exit {code}, submits "
        f"{sim.stats.calls['submit']}, requests created {sim.stats.created}, lookups "
        f"{sim.stats.calls['list']}"
    )
    assert code == 1, output
    assert sim.stats.calls["submit"] == 1 and sim.stats.created == 0
    assert "is not entitled to model 'wan2.7-r2v'" in output, output
    assert "2 failed" in output and "nothing of it is sent" in output, output
    assert "Ask GMI Cloud to enable the model" in output, output
    assert paid_not_in_ledger(sim, bucket, board) == set()


def test_a_content_policy_refusal_fails_that_shot_alone(
    make_simulator: Callable[..., Simulator],
    bucket: S3Destination,
    make_board: Callable[..., Board],
) -> None:
    def refused_prompt(board: Storyboard) -> None:
        board.shots[1].prompt = "{hero} does something [content-policy]"

    sim = make_simulator(api_key=SECRET_KEY)
    board = make_board(3, refused_prompt)

    code, output = board.run(bucket, sim)
    entries = {entry.shot_id: entry.state for entry in ledger_entries(bucket, board.title)}
    missing = paid_not_in_ledger(sim, bucket, board)

    print(
        f"\ncontent-policy 400 on 1 of 3 shots: exit {code}, submits "
        f"{sim.stats.calls['submit']}, requests created {sim.stats.created}, duplicates "
        f"{sim.stats.duplicate_submits}, paid ids missing from the ledger {len(missing)}"
    )
    assert code == 1, output
    assert "shot-0001: GMI Cloud API error 400: the input was rejected by the content policy" in (
        output
    ), output
    assert "1 failed (shot-0001)" in output, output
    assert sim.stats.created == 2 and sim.stats.duplicate_submits == 0
    assert entries["shot-0000"] == entries["shot-0002"] == "stored"
    assert missing == set()


def test_created_and_dispatched_count_as_queued(
    make_simulator: Callable[..., Simulator],
    bucket: S3Destination,
    make_board: Callable[..., Board],
) -> None:
    sim = make_simulator(
        api_key=SECRET_KEY, queue_seconds=2.0, queue_statuses=["created", "dispatched"]
    )
    board = make_board(2)

    code, output = board.run(bucket, sim, "--queue-timeout", "60")

    print(
        f"\ncreated then dispatched, 2 shots: exit {code}, requests created "
        f"{sim.stats.created}, duplicates {sim.stats.duplicate_submits}, statuses shown "
        f"{dict(sim.stats.statuses_shown)}"
    )
    assert code == 0, output
    shown = sim.stats.statuses_shown
    assert shown["created"] and shown["dispatched"], shown
    assert sim.stats.created == 2 and sim.stats.duplicate_submits == 0
    assert paid_not_in_ledger(sim, bucket, board) == set()
    assert states(bucket, board) == ["stored"] * 2
