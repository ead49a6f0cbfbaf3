"""``run_storyboard``: every shot in parallel under a quota, paid once, stored with a manifest."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import signal
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from uuid import UUID

from prefect import flow, get_run_logger, runtime
from prefect.artifacts import acreate_progress_artifact, aupdate_progress_artifact
from prefect.concurrency.asyncio import concurrency
from prefect.events import emit_event
from prefect_aws.s3 import S3Bucket
from pydantic import BaseModel

from prefect_gmicloud.blocks.credentials import GMICloudCredentials
from prefect_gmicloud.client.polling import wait_policy
from prefect_gmicloud.client.records import GMIRequest
from prefect_gmicloud.errors import StoryboardIncomplete, StoryboardInterrupted
from prefect_gmicloud.flows.budget import budget_seconds, estimate_run
from prefect_gmicloud.flows.generate import load_credentials
from prefect_gmicloud.flows.report import report_storyboard
from prefect_gmicloud.ledger import journal
from prefect_gmicloud.ledger.entry import new_run_token
from prefect_gmicloud.ledger.gate import SubmitGate
from prefect_gmicloud.ledger.shot import ShotJob, ShotResult, ShotRunner, Store, replay_journal
from prefect_gmicloud.ledger.store import Ledger, heartbeat_seconds
from prefect_gmicloud.media import concatenate, contact_sheet
from prefect_gmicloud.storage.lookup import find_object
from prefect_gmicloud.storage.s3 import S3Destination, S3Location, StoredObject, resolve_storage
from prefect_gmicloud.storyboard.manifest import Manifest, ManifestStore, ShotRecord
from prefect_gmicloud.storyboard.plan import plan_storyboard
from prefect_gmicloud.storyboard.schema import Storyboard
from prefect_gmicloud.tasks.progress import best_effort
from prefect_gmicloud.tasks.store import VERIFIED_METADATA, store_outcome
from prefect_gmicloud.tasks.upload import upload_to_s3

#: After SIGTERM/SIGINT/cancellation, how long submits under way get to record their ids.
STOP_GRACE_SECONDS = 10.0
#: Object metadata naming the inputs a shot's files were made from.
INPUTS_HASH_METADATA = "gmi-inputs-hash"


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


@contextlib.asynccontextmanager
async def quota_slot(limit_name: str | None) -> AsyncIterator[None]:
    """One slot of the Prefect global concurrency limit ``limit_name`` (none when unnamed).

    A global limit is shared by every worker, so several machines keep to one GMI quota.
    """
    if limit_name is None:
        yield
        return
    async with concurrency(limit_name, occupy=1, strict=True):
        yield


@contextlib.contextmanager
def stop_on_signals(stop: Callable[[str], None]) -> Iterator[None]:
    """Call ``stop`` on SIGTERM or SIGINT instead of dying mid-submit (main thread only).

    A cancelling Prefect worker, Kubernetes and ECS all send SIGTERM; the previous handlers
    (Prefect's own among them) come back afterwards.
    """
    loop = asyncio.get_running_loop()
    installed = []
    for number in (signal.SIGTERM, signal.SIGINT):
        try:
            previous = signal.getsignal(number)
            loop.add_signal_handler(number, stop, number.name)
        except (NotImplementedError, RuntimeError, ValueError):
            continue  # not the main thread, or no signals here: Prefect's handling stands
        installed.append((number, previous))
    try:
        yield
    finally:
        for number, previous in installed:
            loop.remove_signal_handler(number)
            signal.signal(number, previous)


@flow(name="gmicloud-storyboard")
async def run_storyboard(
    storyboard: Storyboard,
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
    max_generated_seconds: float | None = None,
    max_cost: float | None = None,
    budget_limit: str | None = None,
    budget_wait: float = 60.0,
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
    and end the run with the requests left running.

    Args:
        storyboard: The characters, default settings and shots. Prompts name characters as
            ``{name}``; each model gets the reference names it expects.
        storage: Where videos, thumbnails, the manifest, the ledger and the final cut go: an
            S3Bucket block, or a bucket and prefix (S3Destination, keys from the AWS chain).
        credentials: A GMICloudCredentials block, or the name of a saved one.
        max_concurrency: At most this many shots generate at once in this run.
        concurrency_limit: The name of a Prefect global concurrency limit shared by all runs
            and workers (one slot per request in flight: one GMI quota); none when empty.
        final_cut: Join the shots into ``final.mp4`` and tile a ``contact-sheet.jpg`` once
            every shot is stored.
        force: Pay for every shot again, setting aside what earlier runs stored (their requests
            stay in each shot's history in the ledger).
        poll_interval: Seconds before the first status read of a request; later pauses grow.
        queue_timeout: Seconds a request may stay queued before its shot fails (the request
            stays recorded, and a later run collects it).
        processing_timeout: Seconds a request may process before its shot fails (likewise).
        resubmit_missing: Pay again for a shot whose recorded request GMI answers 404 for;
            otherwise such a shot is reported and its request id kept.
        max_generated_seconds: Refuse the run, before anything is paid, if the shots it would
            pay for (not those already stored) would generate more seconds than this.
        max_cost: Likewise for their cost, from the prices GMI's model details state; with
            a price unknown the run is refused.
        budget_limit: The name of a Prefect global concurrency limit used as a budget shared
            by all runs and workers: its slots are generated seconds, each shot takes its
            seconds just before its submit (a limit with a slot decay refills over time).
        budget_wait: Seconds a shot may wait for ``budget_limit`` to have its seconds before
            it fails, unpaid.
    """
    planned = plan_storyboard(storyboard)
    logger = get_run_logger()
    gmi = await load_credentials(credentials)
    location = resolve_storage(storage)
    title = storyboard.title
    ledger = Ledger(location, location.key(title, "ledger"))
    await estimate_run(
        title, planned, ledger, gmi, force=force,
        max_generated_seconds=max_generated_seconds, max_cost=max_cost,
    )  # fmt: skip
    store = ManifestStore(location, location.key(title, "manifest.json"))
    run = new_run_token()
    flow_run_id = str(runtime.flow_run.id) if runtime.flow_run.id else None
    # The ledger must be reachable before anything is paid: this write fails the run early.
    await ledger.beat(run, flow_run_id)
    recovered = await replay_journal(ledger, logger)
    if recovered:
        logger.warning("recorded %d request id(s) journalled by an earlier run", recovered)
    previous = await _previous_manifest(store)
    records = {s.shot_id: ShotRecord(shot_id=s.shot_id, inputs_hash=s.inputs_hash) for s in planned}
    manifest = Manifest(storyboard=title, shots=list(records.values()))
    result = StoryboardResult(
        title=title, manifest_uri=store.uri, ledger_uri=ledger.uri, shots=manifest.shots
    )
    local_limit = asyncio.Semaphore(max_concurrency)
    gate = SubmitGate()

    @contextlib.asynccontextmanager
    async def slot() -> AsyncIterator[None]:
        async with local_limit, quota_slot(concurrency_limit):
            yield

    async with gmi.get_client() as client:
        runner = ShotRunner(
            ledger=ledger,
            client=client,
            run=run,
            store=_storer(storage, title),
            still_stored=lambda job, objects: _still_stored(location, job, objects),
            find_stored=lambda job: _find_stored(location, title, job),
            policy=wait_policy(poll_interval, queue_timeout, processing_timeout),
            gate=gate,
            slot=slot,
            on_submitted=_announce,
            before_submit=budget_seconds(budget_limit, budget_wait),
            flow_run_id=flow_run_id,
            force=force,
            resubmit_missing=resubmit_missing,
        )
        progress = _Progress(len(planned), await _progress_artifact(title))

        async def run_shot(job: ShotJob) -> ShotResult:
            outcome = await runner.settle(job)
            _apply(records[job.shot_id], outcome)
            if outcome.error:
                logger.error("shot %s: %s", job.shot_id, outcome.error)
            await progress.advance()
            await best_effort(store.save(manifest))
            return outcome

        jobs = [ShotJob(s.shot_id, s.inputs_hash, s.payload) for s in planned]
        shots = asyncio.ensure_future(asyncio.gather(*(run_shot(job) for job in jobs)))
        stopped_by: list[str] = []

        def stop(reason: str) -> None:
            if not stopped_by:
                logger.warning("%s: no new submits; recording the ids of those under way", reason)
                stopped_by.append(reason)
                gate.stop()
                shots.cancel()

        heartbeat = asyncio.ensure_future(_keep_alive(ledger, run, flow_run_id))
        try:
            with stop_on_signals(stop):
                outcomes = await shots
        except asyncio.CancelledError:
            stop("cancelled")
            drained = await gate.drain(STOP_GRACE_SECONDS)
            await best_effort(store.save(manifest))
            left = {
                shot: rid
                for shot, rid in runner.requests.items()
                if records[shot].status != "stored"
            }
            interrupted = StoryboardInterrupted(
                title,
                left,
                "Run the storyboard again with the same storage to collect them (they are "
                f"recorded in {ledger.uri}, so nothing is paid twice)"
                + ("" if drained else f"; ids not yet recorded are journalled in "
                   f"{journal.journal_path()}"),
            )  # fmt: skip
            logger.error("%s", interrupted)
            if stopped_by and stopped_by[0] != "cancelled":
                raise interrupted from None
            raise
        finally:
            heartbeat.cancel()
            with contextlib.suppress(Exception):
                await ledger.end(run)

    for outcome in outcomes:
        result.submitted += outcome.how == "submitted"
        result.resumed += outcome.how == "resumed"
        result.reused += outcome.how == "reused"
        result.followed += outcome.how == "followed"
    not_stored = {o.shot_id: o.error or o.state for o in outcomes if o.state != "stored"}
    if final_cut and not not_stored:
        await _final_cut(manifest, previous, location, storage, title)
        result.final_cut, result.contact_sheet = manifest.final_cut, manifest.contact_sheet
    await best_effort(store.save(manifest))
    await best_effort(_table(manifest, location))
    if not_stored:
        paid = {o.shot_id: o.request_id for o in outcomes if o.paid_not_stored and o.request_id}
        raise StoryboardIncomplete(
            title, not_stored, len(planned) - len(not_stored), paid, ledger.uri
        )
    logger.info(
        "storyboard %s: %d submitted, %d resumed, %d followed, %d reused; manifest %s",
        title, result.submitted, result.resumed, result.followed, result.reused, store.uri,
    )  # fmt: skip
    return result


def _apply(record: ShotRecord, outcome: ShotResult) -> None:
    """Show a shot's outcome in the manifest (a view of the ledger)."""
    record.status = "failed" if outcome.state == "claimed" else outcome.state
    record.request_id = outcome.request_id
    record.error = outcome.error
    record.video = outcome.objects.get("video")
    record.thumbnail = outcome.objects.get("thumbnail")
    record.wait_seconds, record.transfer_seconds = outcome.wait_seconds, outcome.transfer_seconds


def _storer(storage: S3Bucket | S3Destination, title: str) -> Store:
    """Store a shot's files with a task run named after it, verified, under ``<title>/``."""

    async def store(job: ShotJob, request: GMIRequest) -> dict[str, StoredObject]:
        files = await store_outcome.with_options(task_run_name=f"store {job.shot_id}")(
            request, storage, (title,), job.shot_id, {INPUTS_HASH_METADATA: job.inputs_hash}
        )
        by_url = {f.url: f.stored for f in files}
        objects = {f.role: f.stored for f in files}
        for role, asset in (("video", request.video), ("thumbnail", request.thumbnail)):
            if asset is not None:
                objects[role] = by_url[asset.url]
        return objects

    return store


async def _still_stored(
    location: S3Location, job: ShotJob, objects: dict[str, StoredObject]
) -> bool:
    """Whether a stored shot's video (and thumbnail) are still there, from these inputs."""
    wanted = [objects[role] for role in ("video", "thumbnail") if role in objects]
    if not wanted or "video" not in objects:
        return False
    for stored in wanted:
        found = await find_object(location, stored.key)
        if found is None or not _made_from(found.metadata, job):
            return False
    return True


async def _find_stored(
    location: S3Location, title: str, job: ShotJob
) -> tuple[dict[str, StoredObject], str | None] | None:
    """The shot's verified files already in storage from these inputs (when the ledger was lost)."""
    video = await find_object(location, location.key(title, f"{job.shot_id}.mp4"))
    if video is None or not _made_from(video.metadata, job):
        return None
    objects = {"video": video.stored}
    thumbnail = await find_object(location, location.key(title, f"{job.shot_id}.jpg"))
    if thumbnail is not None and _made_from(thumbnail.metadata, job):
        objects["thumbnail"] = thumbnail.stored
    return objects, video.metadata.get("gmi-request-id")


def _made_from(metadata: dict[str, str], job: ShotJob) -> bool:
    verified = all(metadata.get(k) == v for k, v in VERIFIED_METADATA.items())
    return verified and metadata.get(INPUTS_HASH_METADATA) == job.inputs_hash


async def _announce(job: ShotJob, request: GMIRequest) -> None:
    emit_event(
        event="gmicloud.request.submitted",
        resource={
            "prefect.resource.id": f"gmicloud.request.{request.request_id}",
            "prefect.resource.name": request.request_id,
            "gmicloud.model": request.model,
            "gmicloud.shot": job.shot_id,
        },
    )


async def _keep_alive(ledger: Ledger, run: str, flow_run_id: str | None) -> None:
    """Renew this run's heartbeat so other runs follow its claims instead of taking them."""
    while True:
        await asyncio.sleep(heartbeat_seconds())
        try:
            await ledger.beat(run, flow_run_id)
        except Exception as exc:
            get_run_logger().warning("heartbeat not renewed: %s", exc)


async def _previous_manifest(store: ManifestStore) -> Manifest | None:
    """The last manifest, used only to reuse an unchanged final cut; unreadable means none."""
    try:
        return await store.load()
    except Exception as exc:
        get_run_logger().warning("previous manifest %s not used: %s", store.uri, exc)
        return None


class _Progress:
    """A progress artifact updated at most once a second (hundreds of shots end at once)."""

    def __init__(self, total: int, artifact: UUID | None) -> None:
        self.total, self.artifact = total, artifact
        self.finished, self.shown_at = 0, 0.0

    async def advance(self) -> None:
        self.finished += 1
        now = time.monotonic()
        if self.artifact is None:
            return
        if self.finished == self.total or now - self.shown_at >= 1.0:
            self.shown_at = now
            value = 100.0 * self.finished / self.total
            await best_effort(aupdate_progress_artifact(self.artifact, value))


async def _progress_artifact(title: str) -> UUID | None:
    return await best_effort(acreate_progress_artifact(0.0, description=f"storyboard {title}"))


async def _final_cut(
    manifest: Manifest,
    previous: Manifest | None,
    location: S3Location,
    storage: S3Bucket | S3Destination,
    title: str,
) -> None:
    """Join the shots in order and tile their thumbnails; reused when the shots are unchanged."""
    videos = [s.video for s in manifest.shots if s.video is not None]
    thumbs = [s.thumbnail for s in manifest.shots if s.thumbnail is not None]
    source = hashlib.sha256(",".join(v.sha256 or v.etag for v in videos).encode()).hexdigest()
    if previous and previous.final_cut_source == source and previous.final_cut:
        manifest.final_cut, manifest.contact_sheet = previous.final_cut, previous.contact_sheet
        manifest.final_cut_source = source
        return
    with tempfile.TemporaryDirectory(prefix="gmicloud-cut-") as workdir:
        folder = Path(workdir)

        def fetch(objects: list[StoredObject]) -> list[Path]:
            paths = []
            for number, obj in enumerate(objects):
                path = folder / f"{number:04d}{Path(obj.key).suffix}"
                location.client.download_file(obj.bucket, obj.key, str(path))
                paths.append(path)
            return paths

        video_paths = await asyncio.to_thread(fetch, videos)
        cut = await asyncio.to_thread(concatenate, video_paths, folder / "final.mp4")
        manifest.final_cut = await upload_to_s3(cut, f"{title}/final.mp4", storage)
        if thumbs:
            thumb_paths = await asyncio.to_thread(fetch, thumbs)
            sheet = await asyncio.to_thread(contact_sheet, thumb_paths, folder / "sheet.jpg")
            manifest.contact_sheet = await upload_to_s3(
                sheet, f"{title}/contact-sheet.jpg", storage
            )
    manifest.final_cut_source = source


async def _table(manifest: Manifest, location: S3Location) -> None:
    title = manifest.storyboard
    await report_storyboard(manifest, location, location.key(title, "manifest.json"))
