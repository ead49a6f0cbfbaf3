"""``run_storyboard``: every shot in parallel under a quota, stored with a manifest and a cut."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_progress_artifact, aupdate_progress_artifact
from prefect.concurrency.asyncio import concurrency
from prefect_aws.s3 import S3Bucket
from pydantic import BaseModel

from prefect_gmicloud.blocks.credentials import GMICloudCredentials
from prefect_gmicloud.client.records import RequestStatus
from prefect_gmicloud.errors import GMICloudError, NotFoundError
from prefect_gmicloud.flows.finish import (
    finish_request,
    log_requests_left_running,
    record_submitted,
)
from prefect_gmicloud.flows.generate import load_credentials, wait_policy
from prefect_gmicloud.flows.report import report_storyboard
from prefect_gmicloud.media import concatenate, contact_sheet
from prefect_gmicloud.storage.s3 import S3Destination, S3Location, StoredObject, resolve_storage
from prefect_gmicloud.storyboard.manifest import Manifest, ManifestStore, ShotRecord
from prefect_gmicloud.storyboard.plan import PlannedShot, plan_storyboard
from prefect_gmicloud.storyboard.schema import Storyboard
from prefect_gmicloud.tasks.progress import best_effort
from prefect_gmicloud.tasks.submit import submit_request
from prefect_gmicloud.tasks.upload import upload_to_s3


class StoryboardIncomplete(GMICloudError):
    """Some shots failed; the others are stored and the manifest says which to re-run."""

    def __init__(self, title: str, failed: list[str], stored: int, manifest_uri: str) -> None:
        self.failed = failed
        super().__init__(
            f"storyboard {title!r}: {stored} shot(s) stored, {len(failed)} failed "
            f"({', '.join(failed)}). Run it again to retry only those; see {manifest_uri}."
        )


class StoryboardResult(BaseModel):
    """What a storyboard run produced."""

    title: str
    manifest_uri: str
    shots: list[ShotRecord]
    final_cut: StoredObject | None = None
    contact_sheet: StoredObject | None = None
    submitted: int = 0
    resumed: int = 0
    reused: int = 0


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


async def _still_stored(location: S3Location, record: ShotRecord) -> bool:
    video = record.video
    if video is None:
        return False

    def head() -> bool:
        try:
            location.client.head_object(Bucket=video.bucket, Key=video.key)
        except location.client.exceptions.ClientError:
            return False
        return True

    return await asyncio.to_thread(head)


async def _resumable(credentials: GMICloudCredentials, request_id: str) -> bool:
    """Whether a recorded request can still give its result (so it must not be paid again)."""
    async with credentials.get_client() as client:
        try:
            request = await client.get(request_id)
        except NotFoundError:
            return False
    return request.status not in (RequestStatus.FAILED, RequestStatus.CANCELLED)


@flow(name="gmicloud-storyboard", on_cancellation=[log_requests_left_running])
async def run_storyboard(
    storyboard: Storyboard,
    storage: S3Bucket | S3Destination,
    credentials: GMICloudCredentials | str = "gmicloud",
    max_concurrency: int = 4,
    concurrency_limit: str | None = None,
    final_cut: bool = True,
    force: bool = False,
    poll_interval: float = 1.0,
    processing_timeout: float = 3600.0,
) -> StoryboardResult:
    """Generate every shot of ``storyboard`` and store them with a manifest and a final cut.

    The whole board is validated first: no request is sent if any shot is invalid. Shots run in
    parallel, at most ``max_concurrency`` at once in this run and, when ``concurrency_limit``
    names a Prefect global concurrency limit, within it across all runs and workers. Each shot is
    stored as ``<prefix>/<title>/<shot>.mp4`` (and ``.jpg``); ``manifest.json`` beside them is
    rewritten as shots progress, with each request id as soon as it exists.

    Running it again skips shots stored with the same inputs and resumes requests already paid
    for; ``force`` generates everything anew. A failed shot does not stop the others: the run
    ends failed, naming the shots to re-run, once everything else is stored.

    ``poll_interval`` is the first pause between status reads; pauses grow from it, and once
    a few of a model's requests have finished, polls go where that model's requests end.

    Args:
        storyboard: The characters, default settings and shots. Prompts name characters as
            ``{name}``; each model gets the reference names it expects.
        storage: Where videos, thumbnails, the manifest and the final cut go: an S3Bucket
            block, or a bucket and prefix (S3Destination, keys from the AWS chain).
        credentials: A GMICloudCredentials block, or the name of a saved one.
        max_concurrency: At most this many shots generate at once in this run.
        concurrency_limit: The name of a Prefect global concurrency limit shared by all runs
            and workers (one GMI quota); none when empty.
        final_cut: Join the shots into ``final.mp4`` and tile a ``contact-sheet.jpg`` once
            every shot is stored.
        force: Generate every shot anew, ignoring what earlier runs stored or submitted.
        poll_interval: Seconds before the first status read of a request; later pauses grow.
        processing_timeout: Seconds a request may process before its shot fails (the request
            is left running and can be collected later).
    """
    planned = plan_storyboard(storyboard)
    logger = get_run_logger()
    gmi = await load_credentials(credentials)
    location = resolve_storage(storage)
    title = storyboard.title
    store = ManifestStore(location, location.key(title, "manifest.json"))
    previous = None if force else await store.load()
    manifest = Manifest(
        storyboard=title,
        shots=[ShotRecord(shot_id=s.shot_id, inputs_hash=s.inputs_hash) for s in planned],
    )
    result = StoryboardResult(title=title, manifest_uri=store.uri, shots=manifest.shots)
    policy = wait_policy(poll_interval, None, processing_timeout)
    local_limit = asyncio.Semaphore(max_concurrency)
    progress = await best_effort(acreate_progress_artifact(0.0, description=f"storyboard {title}"))
    finished, shown_at = 0, 0.0

    async def run_shot(shot: PlannedShot, record: ShotRecord) -> None:
        nonlocal finished, shown_at
        earlier = previous.shot(shot.shot_id) if previous else None
        if earlier is not None and earlier.inputs_hash != shot.inputs_hash:
            earlier = None
        if earlier and earlier.status == "stored" and await _still_stored(location, earlier):
            manifest.shots[manifest.shots.index(record)] = earlier
            result.reused += 1
            logger.info("shot %s: already stored with the same inputs", shot.shot_id)
        else:
            await generate_shot(shot, record, earlier)
        finished += 1
        await store.save(manifest)
        # At most one progress update a second: hundreds of shots end within moments.
        now = time.monotonic()
        if progress is not None and (finished == len(planned) or now - shown_at >= 1.0):
            shown_at = now
            await best_effort(aupdate_progress_artifact(progress, 100.0 * finished / len(planned)))

    async def generate_shot(
        shot: PlannedShot, record: ShotRecord, earlier: ShotRecord | None
    ) -> None:
        async with local_limit, quota_slot(concurrency_limit):
            try:
                request_id = earlier.request_id if earlier else None
                if request_id and await _resumable(gmi, request_id):
                    result.resumed += 1
                    logger.info("shot %s: resuming request %s", shot.shot_id, request_id)
                else:
                    request = await submit_request(gmi, shot.payload, shot.shot_id)
                    await record_submitted(request)
                    request_id = request.request_id
                    result.submitted += 1
                record.request_id, record.status = request_id, "submitted"
                await store.save(manifest)
                stored = await finish_request(
                    gmi, request_id, storage, (title,), policy,
                    stem=shot.shot_id, metadata={"gmi-inputs-hash": shot.inputs_hash},
                    report=False,  # the storyboard's progress and table show every shot
                )  # fmt: skip
            except Exception as exc:
                record.status, record.error = "failed", str(exc) or repr(exc)
                logger.error("shot %s failed: %r", shot.shot_id, exc)
                return
        record.status, record.error = "stored", None
        record.video, record.thumbnail = stored.video, stored.thumbnail
        record.wait_seconds, record.transfer_seconds = stored.wait_seconds, stored.transfer_seconds

    await asyncio.gather(
        *(run_shot(s, r) for s, r in zip(planned, list(manifest.shots), strict=True))
    )
    result.shots = manifest.shots
    failed = manifest.to_rerun
    if final_cut and not failed:
        await _final_cut(manifest, previous, location, storage, title)
        result.final_cut, result.contact_sheet = manifest.final_cut, manifest.contact_sheet
    await store.save(manifest)
    await _table(manifest, location)
    if failed:
        raise StoryboardIncomplete(title, failed, len(planned) - len(failed), store.uri)
    logger.info(
        "storyboard %s: %d submitted, %d resumed, %d reused; manifest %s",
        title, result.submitted, result.resumed, result.reused, store.uri,
    )  # fmt: skip
    return result


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
