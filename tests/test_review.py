"""Review in Prefect: a run pauses for a person, who rejects a shot with a new prompt (through
Prefect's API, as the UI does, and from the CLI), then approves; only approved shots are cut."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from prefect_gmicloud.errors import StoryboardNotApproved
from prefect_gmicloud.flows.storyboard import StoryboardResult, run_storyboard
from prefect_gmicloud.simulator import Simulator
from prefect_gmicloud.simulator.boards import synthetic_storyboard
from prefect_gmicloud.storage import S3Destination
from prefect_gmicloud.storyboard.options import StoryboardOptions
from tests.conftest import credentials_for, read_object

pytestmark = [pytest.mark.usefixtures("prefect_api"), pytest.mark.timeout(300)]

NEW_PROMPT = "{hero} turns back at the door, take two"


async def paused_run(name: str, round_: int) -> UUID:
    """The id of the flow run ``name`` once it is paused for review round ``round_``."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    async with get_client() as prefect:
        for _ in range(600):
            runs = await prefect.read_flow_runs(
                flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name]))
            )
            state = runs[0].state if runs else None
            paused = state is not None and state.is_paused()
            if paused and state and state.state_details.pause_key == f"review-{round_}":
                return runs[0].id
            assert state is None or not state.is_final(), state
            await asyncio.sleep(0.2)
    raise AssertionError(f"{name} never paused for review round {round_}")


def answer_from_the_cli(run_id: UUID, *arguments: str) -> str:
    from prefect.settings import PREFECT_API_URL

    executable = shutil.which("prefect-gmicloud", path=str(Path(sys.executable).parent))
    assert executable
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    done = subprocess.run(
        [executable, "storyboard", "review", str(run_id), *arguments],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def start(sim: Simulator, bucket: S3Destination, name: str, **options: Any) -> asyncio.Task[Any]:
    board = synthetic_storyboard(4, "review")
    flow = run_storyboard.with_options(flow_run_name=name)
    return asyncio.ensure_future(
        flow(
            board,
            bucket,
            credentials_for(sim),
            StoryboardOptions(poll_interval=0.05, review=True, **options),
        )
    )


async def test_a_rejected_shot_is_paid_again_and_the_cut_holds_approved_versions(
    make_simulator: Callable[..., Simulator], bucket: S3Destination
) -> None:
    from prefect.flow_runs import aresume_flow_run

    sim = make_simulator()
    name = f"review-{uuid.uuid4().hex[:8]}"
    running = start(sim, bucket, name)

    first = await paused_run(name, 1)
    assert sim.stats.created == 4
    # What the UI's "Resume" with the form filled in sends.
    await aresume_flow_run(
        first,
        run_input={
            "reject": [{"shot": "shot-0001", "prompt": NEW_PROMPT, "note": "too early"}],
            "reviewer": "ana",
        },
    )
    second = await paused_run(name, 2)
    assert second == first and sim.stats.created == 5
    said = await asyncio.to_thread(answer_from_the_cli, second, "--reviewer", "ben")
    result: StoryboardResult = await running

    manifest = json.loads(read_object(bucket, "out/review/manifest.json"))
    shots = {s["shot_id"]: s for s in manifest["shots"]}
    redone = shots["shot-0001"]
    print(
        f"\nreview: rounds {result.review_rounds}, requests {sim.stats.created}, shot-0001 "
        f"versions {[(v['verdict'], v['reviewed_by']) for v in redone['versions']]}"
    )
    assert "approved" in said
    assert result.review_rounds == 2 and sim.stats.created == 5
    assert [(v["verdict"], v["reviewed_by"]) for v in redone["versions"]] == [
        ("rejected", "ana"),
        ("approved", "ben"),
    ]
    assert redone["versions"][1]["prompt"].endswith("turns back at the door, take two")
    assert [v["seconds"] for v in redone["versions"]] == [2, 2]  # what each version paid for
    assert redone["request_id"] == redone["versions"][1]["request_id"]
    for shot in ("shot-0000", "shot-0002", "shot-0003"):  # one version each, approved at last
        assert [(v["verdict"], v["reviewed_by"]) for v in shots[shot]["versions"]] == [
            ("approved", "ben")
        ]
    # The cut is made of the approved versions, in order.
    approved = ",".join(shots[s]["video"]["sha256"] for s in sorted(shots))
    assert manifest["final_cut_source"] == hashlib.sha256(approved.encode()).hexdigest()
    assert result.final_cut is not None
    # A later run of the same board keeps the reviewed prompt: nothing is paid again.
    again = await run_storyboard(
        synthetic_storyboard(4, "review"),
        bucket,
        credentials_for(sim),
        options=StoryboardOptions(poll_interval=0.05),
    )
    assert (again.reused, sim.stats.created) == (4, 5)


async def test_an_unanswered_review_ends_the_run_with_everything_stored(
    make_simulator: Callable[..., Simulator],
    bucket: S3Destination,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim = make_simulator()
    name = f"review-{uuid.uuid4().hex[:8]}"
    with pytest.raises(StoryboardNotApproved, match="no review within 2 s"):
        await start(sim, bucket, name, review_timeout=2)
    assert sim.stats.created == 4
    # The paused run's log says how to answer it from a terminal, with its own id.
    (said,) = [r.getMessage() for r in caplog.records if "paused for review" in r.getMessage()]
    assert re.search(r"`prefect-gmicloud storyboard review [0-9a-f-]{36}`", said), said
    later = await run_storyboard(
        synthetic_storyboard(4, "review"),
        bucket,
        credentials_for(sim),
        options=StoryboardOptions(poll_interval=0.05),
    )
    assert (later.reused, sim.stats.created) == (4, 4) and later.final_cut is not None


async def test_rejecting_a_source_regenerates_the_shots_continuing_it(
    make_simulator: Callable[..., Simulator], bucket: S3Destination
) -> None:
    from prefect.flow_runs import aresume_flow_run

    from prefect_gmicloud.storyboard import Storyboard

    sim = make_simulator()
    name = f"review-chain-{uuid.uuid4().hex[:8]}"
    t2v, i2v = {"model": "wan2.7-t2v", "duration": 2}, {"model": "wan2.7-i2v", "duration": 2}
    board = Storyboard.parse(
        {
            "title": "chain",
            "shots": [
                {"id": "door", "prompt": "a door", "settings": t2v},
                {"id": "open", "prompt": "it opens", "continues": "door", "settings": i2v},
                {"id": "street", "prompt": "a street", "settings": t2v},
            ],
        }
    )
    flow = run_storyboard.with_options(flow_run_name=name)
    running = asyncio.ensure_future(
        flow(
            board, bucket, credentials_for(sim), StoryboardOptions(poll_interval=0.05, review=True)
        )
    )
    first = await paused_run(name, 1)
    assert sim.stats.created == 3
    await aresume_flow_run(
        first, run_input={"reject": [{"shot": "door", "prompt": "a red door"}], "reviewer": "ana"}
    )
    second = await paused_run(name, 2)
    # The door again, and the shot opening on its last frame: the street is not paid again.
    assert sim.stats.created == 5
    door, opened = sorted(
        (r for r in sim.state.requests.values() if r.payload.get("prompt") != "a street"),
        key=lambda r: r.created_wall,
    )[2:]
    assert door.payload["prompt"] == "a red door" and opened.payload["prompt"] == "it opens"
    await aresume_flow_run(second, run_input={"reject": [], "reviewer": "ana"})
    result: StoryboardResult = await running
    assert result.review_rounds == 2 and [s.status for s in result.shots] == ["stored"] * 3
