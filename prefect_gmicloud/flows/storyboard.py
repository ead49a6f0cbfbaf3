"""``run_storyboard``: every shot in parallel under a quota, paid once, stored with a manifest.

The run reads like its docstring, in three stages: prepare (the board checked end to end,
nothing paid), pay and review (every shot brought to stored through the ledger, then the
person's rounds of review) and finish (the final cut, the manifest, and the run's verdict).
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from typing import Annotated

from prefect import flow, get_run_logger, runtime
from prefect_aws.s3 import S3Bucket
from pydantic import BaseModel, WithJsonSchema

from prefect_gmicloud.blocks.credentials import GMICloudCredentials
from prefect_gmicloud.client import GMICloudClient
from prefect_gmicloud.client.wait_schedule import wait_policy
from prefect_gmicloud.errors import (
    StoryboardHalted,
    StoryboardIncomplete,
)
from prefect_gmicloud.flows.board_shots import BoardShots
from prefect_gmicloud.flows.board_source import trusted_board
from prefect_gmicloud.flows.budget import estimate_run
from prefect_gmicloud.flows.deployment_options import with_deployment_options
from prefect_gmicloud.flows.final_cut import cut_sound, make_final_cut
from prefect_gmicloud.flows.generate import load_credentials
from prefect_gmicloud.flows.limit_checks import require_limits
from prefect_gmicloud.flows.media_checks import served_checked
from prefect_gmicloud.flows.model_checks import check_models
from prefect_gmicloud.flows.report import report_storyboard
from prefect_gmicloud.flows.review import ReviewBook, ReviewRounds, apply_changes
from prefect_gmicloud.flows.shot_storage import (
    stored_keys,
)
from prefect_gmicloud.flows.storage_guard import guard_storage
from prefect_gmicloud.flows.storyboard_run import StoryboardRun
from prefect_gmicloud.ledger.entry import new_run_token
from prefect_gmicloud.ledger.shot import ShotResult, ShotRunner, replay_journal
from prefect_gmicloud.ledger.store import Ledger
from prefect_gmicloud.reporting import best_effort
from prefect_gmicloud.storage import (
    MAX_LINK_SECONDS,
    S3Destination,
    StorageLocation,
    StoredObject,
    resolve_storage,
)
from prefect_gmicloud.storyboard.manifest import Manifest, ManifestStore, ShotRecord
from prefect_gmicloud.storyboard.options import OptionsParameter, StoryboardOptions
from prefect_gmicloud.storyboard.plan import PlannedShot
from prefect_gmicloud.storyboard.reference_checks import plan_checked, video_seconds
from prefect_gmicloud.storyboard.schema import Storyboard
from prefect_gmicloud.storyboard.staging import StagedReferences

#: Presigned links to references outlive the request's deadlines by this much.
LINK_MARGIN_SECONDS = 3600
#: The options of a run that changes none.
DEFAULT_OPTIONS = StoryboardOptions()
#: ``storyboard_url`` in the run form: a plain text input (not a None/str toggle) whose default
#: is empty, left so when the board is given itself (``trusted_board`` reads empty as none).
BoardUrlParameter = Annotated[str | None, WithJsonSchema({"type": "string"})]


class StoryboardResult(BaseModel):
    """What a storyboard run produced."""

    title: str
    manifest_uri: str
    ledger_uri: str
    shots: list[ShotRecord]
    final_cut: StoredObject | None = None
    contact_sheet: StoredObject | None = None
    submitted: int = 0
    resumed: int = 0
    reused: int = 0
    followed: int = 0
    review_rounds: int = 0


@flow(name="gmicloud-storyboard")
async def run_storyboard(
    storyboard: Storyboard | None,
    storage: S3Bucket | S3Destination,
    credentials: GMICloudCredentials | str = "gmicloud",
    options: OptionsParameter = DEFAULT_OPTIONS,
    storyboard_url: BoardUrlParameter = "",
) -> StoryboardResult:
    """Generate every shot of ``storyboard`` and store them with a manifest and a final cut.

    The whole board is validated first: no request is sent if any shot is invalid. Each shot is
    paid for at most once, whatever runs overlap or die: a ledger of one record per shot in the
    storage (``<prefix>/<title>/ledger/``) is claimed before a submit and holds the request id
    before anything else happens. Shots already stored with the same inputs are reused,
    requests already paid for are resumed, and a shot another live run is generating is
    followed, not paid again. A failed shot does not stop the others: the run ends failed,
    naming the shots to re-run (and the paid requests not stored yet), once the rest is stored.
    SIGTERM, SIGINT and cancellation stop new submits, let submits under way record their ids,
    and end the run with the requests left running. GMI refusing a submit for the account
    (``402 Insufficient credits``) stops every further submit of the run at once (the shots
    already paid are still stored) and ends it with ``StoryboardHalted``; a model the key is
    not entitled to fails that model's shots, one submit in all; a shot whose content GMI
    refuses fails alone, with GMI's reason.

    With the ``review`` option, once every shot is stored the run pauses for a person (the run
    page shows each shot): approve them, or reject some with a new prompt or seed; rejected
    shots are paid for again and shown again, and the final cut is made from approved shots.

    Args:
        storyboard: The characters, default settings and shots; None when ``storyboard_url``
            names the board instead.
        storage: Where videos, thumbnails, the manifest, the ledger and the final cut go: an
            S3Bucket block, or a bucket and prefix (S3Destination, keys from the AWS chain).
        credentials: A GMICloudCredentials block, or the name of a saved one.
        options: How the run pays, waits, reviews and finishes (StoryboardOptions: its
            concurrency, quota and budget limits, deadlines, review, final cut, force, board
            lock), as JSON, e.g. {"review": true}; an option left out keeps the deployment's
            value, else its default. Each is described in `prefect-gmicloud storyboard run
            --help`.
        storyboard_url: Instead of ``storyboard``: a YAML or JSON board file, as a path on
            the worker or ``s3://bucket/key``, read within the worker's trust rule (local
            roots and buckets it allows; the storage's bucket always).
    """
    options = await with_deployment_options(options)
    prepared = await _prepare(storyboard, storyboard_url, storage, credentials, options)
    current, settled = await _pay_and_review(prepared)
    return await _finish(prepared, current, settled)


@dataclass
class _Prepared:
    """A board checked end to end, and what its run shares, before anything is paid."""

    options: StoryboardOptions
    storage: S3Bucket | S3Destination
    location: StorageLocation
    board: Storyboard
    review: ReviewRounds
    references: StagedReferences
    planned: list[PlannedShot]
    link_seconds: int
    gmi: GMICloudCredentials
    ledger: Ledger
    guard: contextlib.AbstractAsyncContextManager[None]
    manifests: ManifestStore
    previous: Manifest | None

    @property
    def title(self) -> str:
        return self.board.title

    @functools.cached_property
    def plans(self) -> dict[str, PlannedShot]:
        """The planned requests by id; a review replaces the plans of the shots it changes."""
        return {shot.shot_id: shot for shot in self.planned}


async def _prepare(
    storyboard: Storyboard | None,
    storyboard_url: str | None,
    storage: S3Bucket | S3Destination,
    credentials: GMICloudCredentials | str,
    options: StoryboardOptions,
) -> _Prepared:
    """The board with its reviewed changes, planned and checked against GMI, the store, the
    limits and the budget; its references uploaded. Nothing is paid here."""
    location = resolve_storage(storage)
    given = await trusted_board(storyboard, storyboard_url, location)
    book = ReviewBook(location, location.key(given.title, "review.json"))
    changes = await book.load()
    board = apply_changes(given, changes)
    references = StagedReferences(location, board.title)
    await references.inspect(board.references())
    planned = plan_checked(board, references)
    link_seconds = _link_seconds(planned, references, options)
    gmi = await load_credentials(credentials)
    ledger = Ledger(location, location.key(board.title, "ledger"))
    planned = await _checked_with_gmi(board.title, planned, ledger, gmi, references, options)
    guard = await guard_storage(location, board.title, options.board_lock)
    await _upload_references(references, location)
    manifests = ManifestStore(location, location.key(board.title, "manifest.json"))
    review = ReviewRounds(board, book, changes, references, location, options.review_timeout)
    return _Prepared(
        options, storage, location, board, review, references, planned, link_seconds, gmi,
        ledger, guard, manifests, await _previous_manifest(manifests),
    )  # fmt: skip


async def _checked_with_gmi(
    title: str,
    planned: list[PlannedShot],
    ledger: Ledger,
    gmi: GMICloudCredentials,
    references: StagedReferences,
    options: StoryboardOptions,
) -> list[PlannedShot]:
    """Refuse the run over budget, with a model GMI does not serve or a limit missing; the
    plans with the media GMI serves for them checked."""
    await estimate_run(
        title, planned, ledger, gmi, force=options.force,
        max_generated_seconds=options.max_generated_seconds, max_cost=options.max_cost,
        video_seconds=video_seconds(references),
    )  # fmt: skip
    await check_models(gmi, (shot.payload.model_id for shot in planned))
    await require_limits(options.concurrency_limit, options.budget_limit)
    return await served_checked(gmi, title, planned)


async def _upload_references(references: StagedReferences, location: StorageLocation) -> None:
    uploaded = await references.upload()
    if uploaded:
        get_run_logger().info(
            "uploaded %d reference file(s) to %s",
            uploaded,
            location.uri(location.key("references")),
        )


async def _pay_and_review(prepared: _Prepared) -> tuple[StoryboardRun, list[ShotResult]]:
    """Every shot brought to stored, then reviewed when asked (``prepared.review`` counts its
    pauses): the run, and every outcome of its rounds of shots."""
    options, title, ledger = prepared.options, prepared.title, prepared.ledger
    recovered = await replay_journal(ledger, get_run_logger())
    if recovered:
        get_run_logger().warning(
            "recorded %d request id(s) journalled by an earlier run", recovered
        )
    manifest = Manifest(
        storyboard=title,
        shots=[ShotRecord(shot_id=s.shot_id, inputs_hash=s.inputs_hash) for s in prepared.planned],
    )
    async with prepared.gmi.get_client() as client:
        outcomes: dict[str, ShotResult] = {}
        present: set[str] = set()
        runner = _runner(prepared, client, outcomes, present)
        current = StoryboardRun(
            title, ledger, runner, prepared.manifests, manifest, prepared.guard, outcomes
        )
        async with current.alive():
            # What the board holds, listed once the guard is held: under a board lock no
            # other run writes after the listing.
            await ledger.list_entries()
            if not options.force:
                present.update(await stored_keys(prepared.location, title))
            settled = await current.settle(prepared.planned)
            if options.review and not _not_stored(current):
                settled += await prepared.review.until_approved(current, prepared.plans)
        await best_effort(current.show_versions())
    return current, settled


async def _finish(
    prepared: _Prepared, current: StoryboardRun, settled: list[ShotResult]
) -> StoryboardResult:
    """The final cut once every shot is stored, the manifest saved and shown; the result, or
    the error naming what is not stored.

    Raises:
        StoryboardHalted: GMI refused a submit for the account (no credits).
        StoryboardIncomplete: some shots are not stored.
    """
    title, manifest, location = prepared.title, current.manifest, prepared.location
    not_stored = _not_stored(current)
    if prepared.options.final_cut and not not_stored:
        sound = cut_sound(prepared.board, prepared.plans, current.outcomes)
        await make_final_cut(manifest, prepared.previous, location, prepared.storage, sound)
    await best_effort(prepared.manifests.save(manifest))
    await best_effort(report_storyboard(manifest, location, prepared.manifests.key))
    if not_stored:
        raise _not_finished(current, prepared.ledger, not_stored, len(prepared.planned))
    result = StoryboardResult(
        title=title, manifest_uri=prepared.manifests.uri, ledger_uri=prepared.ledger.uri,
        shots=manifest.shots, final_cut=manifest.final_cut,
        contact_sheet=manifest.contact_sheet, review_rounds=prepared.review.rounds,
        **{how: sum(o.how == how for o in settled) for how in _HOWS},
    )  # fmt: skip
    get_run_logger().info(
        "storyboard %s: %d submitted, %d resumed, %d followed, %d reused; manifest %s",
        title, result.submitted, result.resumed, result.followed, result.reused,
        result.manifest_uri,
    )  # fmt: skip
    return result


#: How a shot came to be stored, as counted in the result.
_HOWS = ("submitted", "resumed", "reused", "followed")


def _not_finished(
    current: StoryboardRun, ledger: Ledger, not_stored: dict[str, str], planned: int
) -> StoryboardHalted | StoryboardIncomplete:
    outcomes = current.outcomes.values()
    halted = current.runner.gate.halted
    if halted is not None:
        return StoryboardHalted(
            current.title,
            halted.message,
            {o.shot_id: o.request_id for o in outcomes if o.request_id},
            [o.shot_id for o in outcomes if o.request_id is None and o.state != "stored"],
            ledger.uri,
        )
    paid = {o.shot_id: o.request_id for o in outcomes if o.paid_not_stored and o.request_id}
    return StoryboardIncomplete(
        current.title, not_stored, planned - len(not_stored), paid, ledger.uri
    )


def _runner(
    prepared: _Prepared,
    client: GMICloudClient,
    outcomes: dict[str, ShotResult],
    present: set[str],
) -> ShotRunner:
    """The run's shot runner, with the board's side: ``outcomes`` and ``present`` are the
    run's own, filled as it goes."""
    options = prepared.options
    side = BoardShots(
        title=prepared.title, location=prepared.location, storage=prepared.storage,
        references=prepared.references, plans=prepared.plans, outcomes=outcomes,
        present=present, link_seconds=prepared.link_seconds, options=options,
    )  # fmt: skip
    return ShotRunner(
        ledger=prepared.ledger,
        client=client,
        run=new_run_token(),
        side=side,
        policy=wait_policy(
            options.poll_interval, options.queue_timeout, options.processing_timeout
        ),
        flow_run_id=str(runtime.flow_run.id) if runtime.flow_run.id else None,
        force=options.force,
        resubmit_missing=options.resubmit_missing,
    )


def _not_stored(current: StoryboardRun) -> dict[str, str]:
    return {
        shot: outcome.error or outcome.state
        for shot, outcome in current.outcomes.items()
        if outcome.state != "stored"
    }


def _link_seconds(
    planned: list[PlannedShot],
    references: StagedReferences,
    options: StoryboardOptions,
) -> int:
    """How long presigned links to references must work: as long as a request may wait.

    Raises:
        ValueError: the deadlines exceed what a presigned link can last (7 days).
    """
    waits = options.queue_timeout + options.processing_timeout
    seconds = int(waits) + LINK_MARGIN_SECONDS
    stored = any(references.is_stored(url) for shot in planned for _, url in shot.media_urls())
    if seconds > MAX_LINK_SECONDS and stored:
        most = MAX_LINK_SECONDS - LINK_MARGIN_SECONDS
        raise ValueError(
            f"queue_timeout + processing_timeout: {waits:.0f} s, "
            f"but links to stored references last at most {most} s (7 days, less an hour "
            "of margin): lower the deadlines"
        )
    return min(seconds, MAX_LINK_SECONDS)


async def _previous_manifest(store: ManifestStore) -> Manifest | None:
    """The last manifest, used only to reuse an unchanged final cut; unreadable means none."""
    try:
        return await store.load()
    except Exception as exc:
        get_run_logger().warning("previous manifest %s not used: %s", store.uri, exc)
        return None
