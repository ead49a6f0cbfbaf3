"""A 60-shot storyboard through every fault at once; then the API key is looked for everywhere."""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from prefect_gmicloud.errors import StoryboardIncomplete
from prefect_gmicloud.flows.storyboard import run_storyboard
from prefect_gmicloud.simulator import FaultRates, Simulator
from prefect_gmicloud.simulator.boards import synthetic_storyboard
from prefect_gmicloud.storage import S3Destination
from prefect_gmicloud.storyboard.options import StoryboardOptions
from tests.conftest import PrefectPlaces, credentials_for, read_object
from tests.reliability.boards import SECRET_KEY, read_manifest, sha256_of

SHOTS = 60
CHAOS = FaultRates(
    server_error=0.15,  # on reads
    rate_limit=0.10,  # any call, with Retry-After
    drop=0.05,  # on submit, half of them after the request was created
    truncate=0.05,  # downloads cut halfway
    fail=0.05,  # requests that end "failed"
    unknown_status=0.2,  # undocumented statuses on the way
    media_urls=0.3,  # outcomes as a media_urls list
)
#: The shot GMI always fails, whatever the random draws: with a 5 % rate drawn in arrival order,
#: a run could otherwise see no failure at all, and the failed-shot path would go unchecked.
SCRIPTED_FAILURE = "shot-0007"  # its prompt ends ", take 7"


def retries_logged(records: list[logging.LogRecord]) -> Counter[str]:
    """The retries our client and downloader logged, by kind."""
    kinds: Counter[str] = Counter()
    for record in records:
        text = record.getMessage()
        if record.name == "prefect_gmicloud.client" and ", retry " in text:
            kinds["read retried"] += 1
        elif record.name == "prefect_gmicloud.client" and "retrying in" in text:
            kinds["submit retried"] += 1
        elif record.name == "prefect_gmicloud.client" and "ambiguous submit" in text:
            kinds["submit found after ambiguous failure"] += 1
        elif record.name == "prefect_gmicloud.client" and "unread" in text:
            kinds["status read given up, wait went on"] += 1
        elif record.name == "prefect_gmicloud.download" and "resuming" in text:
            kinds["download resumed"] += 1
    return kinds


async def test_chaos_run_stores_every_good_shot_once_and_leaks_nothing(
    make_simulator: Callable[..., Simulator],
    bucket: S3Destination,
    prefect_api: PrefectPlaces,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="prefect_gmicloud")
    sim = make_simulator(
        api_key=SECRET_KEY,
        seed=20261123,
        faults=CHAOS,
        queue_seconds=0.1,
        processing_seconds=0.4,
        video_bytes=96 * 1024,
        chunk_size=16 * 1024,
    )
    board = synthetic_storyboard(SHOTS, "chaos")
    create = sim.state.create

    def create_failing_one(model: str, payload: dict[str, Any], org_id: str) -> Any:
        request = create(model, payload, org_id)  # draws its random fate as before
        if str(payload.get("prompt", "")).endswith(", take 7"):
            request.ends = "failed"
        return request

    sim.state.create = create_failing_one  # type: ignore[method-assign]
    failure = ""
    try:
        await run_storyboard(
            board,
            bucket,
            credentials_for(sim),
            options=StoryboardOptions(max_concurrency=12, final_cut=False, poll_interval=0.1),
        )
    except StoryboardIncomplete as exc:
        failure = str(exc)
    manifest = await read_manifest(bucket, "chaos")
    requests = sim.state.requests

    recorded = {shot.request_id for shot in manifest.shots}
    orphans = set(requests) - recorded  # paid for, but no shot knows it
    lost, failed, stored = [], [], 0
    for shot in manifest.shots:
        request = requests.get(shot.request_id or "")
        if request is None:
            lost.append(shot.shot_id)
        elif request.ends == "failed":
            assert shot.status == "failed" and shot.error and "failed" in shot.error
            failed.append(shot.shot_id)
        elif shot.status != "stored" or shot.video is None:
            lost.append(f"{shot.shot_id} ({shot.status}: {shot.error})")
        else:
            served = sha256_of(sim.served_file(request.request_id, "video.mp4"))
            assert hashlib.sha256(read_object(bucket, shot.video.key)).hexdigest() == served
            assert shot.video.sha256 == served
            stored += 1

    retries = retries_logged(caplog.records)
    print(f"\nchaos run: {SHOTS} shots, {stored} stored intact, {len(failed)} failed by GMI")
    print(f"  faults injected: {dict(sorted(sim.stats.faults.items()))}")
    print(
        f"  odd statuses on {sum(r.odd_statuses for r in requests.values())} requests, "
        f"media_urls outcomes on {sum(r.media_urls for r in requests.values())}"
    )
    print(f"  retries made: {dict(retries)}")
    print(f"  API calls: {dict(sim.stats.calls)}")
    print(
        f"  duplicates: {sim.stats.duplicate_submits}, orphaned requests: {len(orphans)}, "
        f"lost: {len(lost)}"
    )

    assert sim.stats.duplicate_submits == 0
    assert lost == []
    assert orphans == set()
    assert stored + len(failed) == SHOTS and failed and stored
    assert SCRIPTED_FAILURE in failed
    assert sorted(failed) == sorted(manifest.to_rerun)
    assert all(name in failure for name in failed)
    assert all(sim.stats.faults[kind] for kind in ("get:503", "get:429", "file:truncate"))
    assert sum(count for kind, count in sim.stats.faults.items() if "drop" in kind)

    # The key: nowhere in logs, the Prefect database, results, artifacts, the manifest, errors,
    # or the file host's requests.
    assert SECRET_KEY not in caplog.text
    assert await prefect_api.holding(SECRET_KEY) == []
    assert SECRET_KEY.encode() not in read_object(bucket, "out/chaos/manifest.json")
    assert SECRET_KEY not in failure
    assert sim.stats.file_requests_with_authorization == 0
    assert not sim.stats.foreign_headers_seen
