"""``run_storyboard``: every shot in parallel under a quota, paid once, stored with a manifest."""

from __future__ import annotations

import asyncio
import hashlib
import random
import tempfile
from pathlib import Path

from prefect import flow, get_run_logger, runtime
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import apause_flow_run
from prefect_aws.s3 import S3Bucket
from pydantic import BaseModel

from prefect_gmicloud.blocks.credentials import GMICloudCredentials
from prefect_gmicloud.client.wait_schedule import wait_policy
from prefect_gmicloud.errors import (
    StoryboardHalted,
    StoryboardIncomplete,
    StoryboardNotApproved,
)
from prefect_gmicloud.flows.board_shots import BoardShots
from prefect_gmicloud.flows.board_source import trusted_board
from prefect_gmicloud.flows.budget import estimate_run
from prefect_gmicloud.flows.cut_sound import CutSound, cut_sound
from prefect_gmicloud.flows.generate import load_credentials
from prefect_gmicloud.flows.limit_checks import require_limits
from prefect_gmicloud.flows.media_checks import served_checked
from prefect_gmicloud.flows.model_checks import check_models
from prefect_gmicloud.flows.report import report_storyboard
from prefect_gmicloud.flows.review import (
    ReviewBook,
    StoryboardReview,
    apply_changes,
    changes_from,
)
from prefect_gmicloud.flows.shot_storage import stored_keys
from prefect_gmicloud.flows.storage_guard import guard_storage
from prefect_gmicloud.flows.storyboard_run import StoryboardRun
from prefect_gmicloud.ledger.entry import ReviewMark, new_run_token
from prefect_gmicloud.ledger.shot import ShotResult, ShotRunner, replay_journal
from prefect_gmicloud.ledger.store import Ledger
from prefect_gmicloud.media import concatenate, contact_sheet
from prefect_gmicloud.media.mix import Spoken, mix_soundtrack, shot_starts
from prefect_gmicloud.reporting import best_effort
from prefect_gmicloud.storage import (
    MAX_LINK_SECONDS,
    S3Destination,
    StorageLocation,
    StoredObject,
    resolve_storage,
)
from prefect_gmicloud.storyboard.manifest import Manifest, ManifestStore, ShotRecord
from prefect_gmicloud.storyboard.plan import PlannedShot
from prefect_gmicloud.storyboard.reference_checks import plan_checked, video_seconds
from prefect_gmicloud.storyboard.schema import Storyboard
from prefect_gmicloud.storyboard.staging import StagedReferences
from prefect_gmicloud.tasks.upload import upload_to_s3

#: How often a run paused for review asks Prefect whether it was answered.
REVIEW_POLL_SECONDS = 3
#: Presigned links to references outlive the request's deadlines by this much.
LINK_MARGIN_SECONDS = 3600


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
    max_concurrency: int = 4,
    concurrency_limit: str | None = None,
    final_cut: bool = True,
    force: bool = False,
    poll_interval: float = 1.0,
    queue_timeout: float = 6 * 3600.0,
    processing_timeout: float = 3600.0,
    resubmit_missing: bool = False,
    review: bool = False,
    review_timeout: int = 24 * 3600,
    max_generated_seconds: float | None = None,
    max_cost: float | None = None,
    budget_limit: str | None = None,
    budget_wait: float = 60.0,
    board_lock: bool = False,
    storyboard_url: str | None = None,
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

    With ``review``, once every shot is stored the run pauses for a person (the run page shows
    each shot): approve them, or reject some with a new prompt or seed; rejected shots are paid
    for again and shown again, and the final cut is made from approved shots only.

    Args:
        storyboard: The characters, default settings and shots; None when ``storyboard_url``
            names the board instead.
        storage: Where videos, thumbnails, the manifest, the ledger and the final cut go: an
            S3Bucket block, or a bucket and prefix (S3Destination, keys from the AWS chain).
        credentials: A GMICloudCredentials block, or the name of a saved one.
        max_concurrency: At most this many shots generate at once in this run (and as many
            store their files at once).
        concurrency_limit: The name of a Prefect global concurrency limit shared by all runs
            and workers (one slot per request in flight: one GMI quota); none when empty.
        final_cut: Join the shots into ``final.mp4`` and tile a ``contact-sheet.jpg`` once
            every shot is stored (and approved, with review).
        force: Pay for every shot again, setting aside what earlier runs stored (their requests
            stay in each shot's history in the ledger).
        poll_interval: Seconds before the first status read of a request; later pauses grow.
        queue_timeout: Seconds a request may stay queued before its shot fails (the request
            stays recorded, and a later run collects it).
        processing_timeout: Seconds a request may process before its shot fails (likewise).
        resubmit_missing: Pay again for a shot whose recorded request GMI answers 404 for;
            otherwise such a shot is reported and its request id kept.
        review: Pause for a person's review before the final cut (see above).
        review_timeout: Seconds to wait for each review; past it the run ends, everything
            stored, and running the storyboard again asks again.
        max_generated_seconds: Refuse the run, before anything is paid, if the shots it would
            pay for (not those already stored) would generate more seconds than this.
        max_cost: Likewise for their cost, from the prices GMI's model details state; with
            a price unknown the run is refused.
        budget_limit: The name of a Prefect global concurrency limit used as a budget shared
            by all runs and workers: its slots are generated seconds, each shot takes its
            seconds just before its submit (a limit with a slot decay refills over time).
        budget_wait: Seconds (at least 1) a shot may wait for ``budget_limit`` to have its
            seconds before it fails, unpaid.
        board_lock: Hold a Prefect lock on the board while paying, so only one run of it pays
            at a time on any worker. Needed only on a store that ignores conditional writes
            (checked before anything is paid: such a store is otherwise refused).
        storyboard_url: Instead of ``storyboard``: a YAML or JSON board file, as a path on
            the worker or ``s3://bucket/key``, read within the worker's trust rule (local
            roots and buckets it allows; the storage's bucket always).
    """
    logger = get_run_logger()
    location = resolve_storage(storage)
    storyboard = await trusted_board(storyboard, storyboard_url, location)
    title = storyboard.title
    book = ReviewBook(location, location.key(title, "review.json"))
    changes = await book.load()
    board = apply_changes(storyboard, changes)
    references = StagedReferences(location, title)
    await references.inspect(board.references())
    planned = plan_checked(board, references)
    link_seconds = _link_seconds(planned, references, queue_timeout, processing_timeout)
    gmi = await load_credentials(credentials)
    ledger = Ledger(location, location.key(title, "ledger"))
    await estimate_run(
        title, planned, ledger, gmi, force=force,
        max_generated_seconds=max_generated_seconds, max_cost=max_cost,
        video_seconds=video_seconds(references),
    )  # fmt: skip
    await check_models(gmi, (shot.payload.model_id for shot in planned))
    await require_limits(concurrency_limit, budget_limit)
    planned = await served_checked(gmi, title, planned)
    guard = await guard_storage(location, title, board_lock)
    uploaded = await references.upload()
    if uploaded:
        logger.info(
            "uploaded %d reference file(s) to %s",
            uploaded,
            location.uri(location.key("references")),
        )
    store = ManifestStore(location, location.key(title, "manifest.json"))
    run = new_run_token()
    flow_run_id = str(runtime.flow_run.id) if runtime.flow_run.id else None
    recovered = await replay_journal(ledger, logger)
    if recovered:
        logger.warning("recorded %d request id(s) journalled by an earlier run", recovered)
    previous = await _previous_manifest(store)
    manifest = Manifest(
        storyboard=title,
        shots=[ShotRecord(shot_id=s.shot_id, inputs_hash=s.inputs_hash) for s in planned],
    )
    result = StoryboardResult(
        title=title, manifest_uri=store.uri, ledger_uri=ledger.uri, shots=manifest.shots
    )
    # What the board holds already: listed once the guard is held (below), so that under a
    # board lock no other run writes after the listing.
    present: set[str] = set()
    plans = {shot.shot_id: shot for shot in planned}
    # Each shot's outcome, kept by the run; its side stages sources and stills from them.
    shot_outcomes: dict[str, ShotResult] = {}
    side = BoardShots(
        title=title, location=location, storage=storage, references=references, plans=plans,
        outcomes=shot_outcomes, present=present, link_seconds=link_seconds,
        max_concurrency=max_concurrency, concurrency_limit=concurrency_limit,
        budget_limit=budget_limit, budget_wait=budget_wait,
    )  # fmt: skip
    async with gmi.get_client() as client:
        runner = ShotRunner(
            ledger=ledger, client=client, run=run, side=side,
            policy=wait_policy(poll_interval, queue_timeout, processing_timeout),
            flow_run_id=flow_run_id, force=force, resubmit_missing=resubmit_missing,
        )  # fmt: skip
        current = StoryboardRun(
            title, ledger, runner, store, manifest, guard, outcomes=shot_outcomes
        )
        async with current.alive():
            await ledger.list_entries()
            if not force:
                present.update(await stored_keys(location, title))
            _count(result, await current.settle(planned))
            if review and not _not_stored(current):
                await _review_rounds(
                    current, location, board, references, plans, book, changes,
                    review_timeout, result,
                )  # fmt: skip
        await best_effort(current.show_versions())

    not_stored = _not_stored(current)
    if final_cut and not not_stored:
        sound = cut_sound(board, plans, current.outcomes)
        await _final_cut(manifest, previous, location, storage, title, sound)
        result.final_cut, result.contact_sheet = manifest.final_cut, manifest.contact_sheet
    await best_effort(store.save(manifest))
    await best_effort(_table(manifest, location))
    if not_stored:
        outcomes = current.outcomes.values()
        halted = runner.gate.halted
        if halted is not None:
            raise StoryboardHalted(
                title,
                halted.message,
                {o.shot_id: o.request_id for o in outcomes if o.request_id},
                [o.shot_id for o in outcomes if o.request_id is None and o.state != "stored"],
                ledger.uri,
            )
        paid = {o.shot_id: o.request_id for o in outcomes if o.paid_not_stored and o.request_id}
        raise StoryboardIncomplete(
            title, not_stored, len(planned) - len(not_stored), paid, ledger.uri
        )
    logger.info(
        "storyboard %s: %d submitted, %d resumed, %d followed, %d reused; manifest %s",
        title, result.submitted, result.resumed, result.followed, result.reused, store.uri,
    )  # fmt: skip
    return result


def _count(result: StoryboardResult, outcomes: list[ShotResult]) -> None:
    for outcome in outcomes:
        result.submitted += outcome.how == "submitted"
        result.resumed += outcome.how == "resumed"
        result.reused += outcome.how == "reused"
        result.followed += outcome.how == "followed"


def _not_stored(current: StoryboardRun) -> dict[str, str]:
    return {
        shot: outcome.error or outcome.state
        for shot, outcome in current.outcomes.items()
        if outcome.state != "stored"
    }


async def _review_rounds(
    current: StoryboardRun,
    location: StorageLocation,
    board: Storyboard,
    references: StagedReferences,
    plans: dict[str, PlannedShot],
    book: ReviewBook,
    changes: dict[str, dict[str, object]],
    review_timeout: int,
    result: StoryboardResult,
) -> None:
    """Ask for a review until every shot is approved; regenerate the rejected ones between.

    Raises:
        StoryboardNotApproved: the reviewer stopped, or nobody answered within
            ``review_timeout`` seconds.
    """
    logger = get_run_logger()
    rng = random.Random()
    note = ""
    while True:
        result.review_rounds += 1
        await best_effort(current.show_versions())
        await best_effort(_table(current.manifest, location))
        shown = sorted(current.outcomes)
        logger.info(
            "paused for review (round %d): answer on the run's page in the Prefect UI "
            "(Resume), or with `prefect-gmicloud storyboard review %s` (approves all; "
            "--reject SHOT regenerates one)",
            result.review_rounds,
            runtime.flow_run.id,
        )
        try:
            answer = await apause_flow_run(
                wait_for_input=StoryboardReview.with_initial_data(
                    description=(
                        f"Review storyboard **{current.title}** (round {result.review_rounds}): "
                        "the run's artifacts show every shot. Submit with no rejection to "
                        f"approve all of {', '.join(shown)}.{note}"
                    )
                ),
                timeout=review_timeout,
                poll_interval=REVIEW_POLL_SECONDS,
                key=f"review-{result.review_rounds}",
            )
        except FlowPauseTimeout:
            why = f"no review within {review_timeout} s"
            raise StoryboardNotApproved(current.title, why, current.ledger.uri) from None
        unknown = sorted({c.shot for c in answer.reject} - set(shown))
        if unknown:
            note = f" Unknown shot(s) {', '.join(unknown)}: nothing was changed; answer again."
            logger.warning("review named unknown shot(s) %s; asking again", ", ".join(unknown))
            continue
        fixed = sorted(c.shot for c in answer.reject if plans[c.shot].kind != "shot")
        if fixed:
            # A review changes a shot's prompt or seed; a still's or sound's are the board's.
            note = (
                f" {', '.join(fixed)}: stills and sound are changed in the board itself, not "
                "by review: nothing was changed; answer again."
            )
            logger.warning("review rejected %s; asking again", ", ".join(fixed))
            continue
        note = ""
        rejected = {c.shot: c.note for c in answer.reject}
        await current.review(
            {
                shot: ReviewMark(
                    verdict="rejected" if shot in rejected else "approved",
                    by=answer.reviewer,
                    note=rejected.get(shot),
                )
                for shot in shown
            }
        )
        if answer.stop:
            why = f"stopped by {answer.reviewer or 'the reviewer'}"
            raise StoryboardNotApproved(current.title, why, current.ledger.uri)
        if not rejected:
            logger.info("storyboard %s approved by %s", current.title, answer.reviewer or "?")
            return
        new = changes_from(answer, rng)
        changes.update(new)
        await book.save(dict(changes))
        # The rejected shots, and every shot continuing one of them (its first frame changes).
        replanned = plan_checked(apply_changes(board, changes), references)
        again = [s for s in replanned if s.inputs_hash != plans[s.shot_id].inputs_hash]
        # Only what changed: a still's or sound's payload stays the one checked against GMI.
        plans.update({shot.shot_id: shot for shot in again})
        logger.info("regenerating %s after review", ", ".join(s.shot_id for s in again))
        _count(result, await current.settle(again))
        if _not_stored(current):
            return


def _link_seconds(
    planned: list[PlannedShot],
    references: StagedReferences,
    queue_timeout: float,
    processing_timeout: float,
) -> int:
    """How long presigned links to references must work: as long as a request may wait.

    Raises:
        ValueError: the deadlines exceed what a presigned link can last (7 days).
    """
    seconds = int(queue_timeout + processing_timeout) + LINK_MARGIN_SECONDS
    stored = any(references.is_stored(url) for shot in planned for _, url in shot.media_urls())
    if seconds > MAX_LINK_SECONDS and stored:
        most = MAX_LINK_SECONDS - LINK_MARGIN_SECONDS
        raise ValueError(
            f"queue_timeout + processing_timeout: {queue_timeout + processing_timeout:.0f} s, "
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


async def _final_cut(
    manifest: Manifest,
    previous: Manifest | None,
    location: StorageLocation,
    storage: S3Bucket | S3Destination,
    title: str,
    sound: CutSound,
) -> None:
    """Join the shots in order, mix in the board's narration and music, and tile the shots'
    thumbnails, labelled with their names; reused when the shots and the sound are
    unchanged."""
    with_video = [s for s in manifest.shots if s.video is not None]
    videos = [s.video for s in with_video if s.video is not None]
    thumbs = [s.thumbnail for s in with_video if s.thumbnail is not None]
    names = [s.shot_id for s in with_video if s.thumbnail is not None]
    made_from = [v.sha256 or v.etag for v in videos] + sound.made_from()
    source = hashlib.sha256(",".join(made_from).encode()).hexdigest()
    if previous and previous.final_cut_source == source and previous.final_cut:
        manifest.final_cut, manifest.contact_sheet = previous.final_cut, previous.contact_sheet
        manifest.final_cut_source = source
        return
    with tempfile.TemporaryDirectory(prefix="gmicloud-cut-") as workdir:
        folder = Path(workdir)

        fetched = 0

        async def fetch(objects: list[StoredObject]) -> list[Path]:
            nonlocal fetched
            paths = []
            for obj in objects:
                fetched += 1
                path = folder / f"{fetched:04d}{Path(obj.key).suffix}"
                await location.download(obj, path)
                paths.append(path)
            return paths

        video_paths = await fetch(videos)
        cut = await asyncio.to_thread(concatenate, video_paths, folder / "joined.mp4")
        if sound.narration or sound.music is not None:
            starts = dict(
                zip(
                    [s.shot_id for s in with_video],
                    await asyncio.to_thread(shot_starts, video_paths),
                    strict=True,
                )
            )
            lines = list(sound.narration.items())
            line_paths = await fetch([obj for _, obj in lines])
            spoken = [
                Spoken(path, starts[shot])
                for (shot, _), path in zip(lines, line_paths, strict=True)
            ]
            music = (await fetch([sound.music]))[0] if sound.music is not None else None
            cut = await asyncio.to_thread(
                mix_soundtrack, cut, folder / "final.mp4", spoken, music, sound.music_volume
            )
        upload_cut = upload_to_s3.with_options(task_run_name="upload final.mp4")
        manifest.final_cut = await upload_cut(cut, f"{title}/final.mp4", storage)
        if thumbs:
            thumb_paths = await fetch(thumbs)
            sheet = await asyncio.to_thread(
                contact_sheet, thumb_paths, folder / "sheet.jpg", labels=names
            )
            upload_sheet = upload_to_s3.with_options(task_run_name="upload contact-sheet.jpg")
            manifest.contact_sheet = await upload_sheet(
                sheet, f"{title}/contact-sheet.jpg", storage
            )
    manifest.final_cut_source = source


async def _table(manifest: Manifest, location: StorageLocation) -> None:
    title = manifest.storyboard
    await report_storyboard(manifest, location, location.key(title, "manifest.json"))
