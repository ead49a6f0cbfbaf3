"""``generate_video``: one request end to end, from payload to stored video, paid once.

It pays through the same ledger as storyboards, in the same order: check the storage, claim,
submit, record the id, wait, store, report. Nothing is paid before the store has shown it can
be written and keeps conditional writes; a failure after paying names the request and how to
store it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from prefect import flow, runtime
from prefect_aws.s3 import S3Bucket

from prefect_gmicloud.blocks.credentials import GMICloudCredentials
from prefect_gmicloud.client.records import GMIRequest
from prefect_gmicloud.client.wait_schedule import wait_policy
from prefect_gmicloud.errors import GMICloudError, RequestCancelled, RequestFailed, VideoNotStored
from prefect_gmicloud.flows.finish import (
    log_requests_left_running,
    record_submitted,
    report_failed,
    report_not_stored,
    report_stored,
)
from prefect_gmicloud.flows.model_checks import checked_request
from prefect_gmicloud.flows.results import GeneratedVideo
from prefect_gmicloud.flows.shot_storage import Store, find_stored, shot_storer, still_stored
from prefect_gmicloud.flows.storage_guard import guard_storage
from prefect_gmicloud.ledger.entry import new_run_token
from prefect_gmicloud.ledger.shot import ShotJob, ShotResult, ShotRunner
from prefect_gmicloud.ledger.store import Ledger
from prefect_gmicloud.models.registry import AnyPayload
from prefect_gmicloud.storage import S3Destination, StorageLocation, StoredObject, resolve_storage
from prefect_gmicloud.transfer.download import DEFAULT_MAX_BYTES


async def load_credentials(credentials: GMICloudCredentials | str) -> GMICloudCredentials:
    """The block itself, or the saved block of that name."""
    if isinstance(credentials, GMICloudCredentials):
        return credentials
    loaded: GMICloudCredentials = await GMICloudCredentials.load(credentials)
    return loaded


@flow(name="gmicloud-generate-video", on_cancellation=[log_requests_left_running])
async def generate_video(
    model: str,
    payload: dict[str, Any],
    storage: S3Bucket | S3Destination,
    credentials: GMICloudCredentials | str = "gmicloud",
    key_prefix: str = "videos",
    name: str | None = None,
    queue_timeout: float = 6 * 3600.0,
    processing_timeout: float = 3600.0,
    poll_interval: float = 1.0,
    max_download_bytes: int = DEFAULT_MAX_BYTES,
    force: bool = False,
) -> GeneratedVideo:
    """Generate one video and store it: submit → wait → download → upload → artifact + event.

    The payload is validated and the storage checked before anything is sent: a typed
    model's limits, the model id against the ids GMI serves, a model without a typed spec
    against the parameters GMI serves for it, and the store (it must take writes and keep
    conditional ones). Files land at
    ``<storage prefix>/<key_prefix>/<name or request id>/video.mp4`` (and ``thumbnail.jpg``).
    The request is paid once: its id is recorded in a ledger in the storage
    (``<key_prefix>/ledger/``) before anything else, so a retried flow run resumes it, and a
    named video already stored from the same payload is returned without paying again.

    Args:
        model: The GMI model id, such as ``wan2.7-r2v``; it picks the payload schema.
        payload: The request body for that model (prompt, references, duration...), checked
            against every documented limit before anything is sent.
        storage: Where the files go: a prefect-aws ``S3Bucket`` block, or an ``S3Destination``
            (bucket, prefix, optional endpoint; keys from the AWS chain).
        credentials: A ``GMICloudCredentials`` block, or the name it was saved under.
        key_prefix: The folder under the storage prefix for this video's files.
        name: The folder for this video under ``key_prefix``; defaults to the request id. A
            named video is one video: the same name and payload are paid for once.
        queue_timeout: Seconds the request may stay queued before the wait gives up (the
            request itself stays alive and is resumed by running the flow again).
        processing_timeout: Seconds the request may spend processing before the wait gives up.
        poll_interval: Seconds before the first status read; later pauses grow from it.
        max_download_bytes: The largest output file accepted, in bytes.
        force: Pay again for a named video already stored from the same payload.

    Raises:
        RequestFailed / RequestCancelled: GMI ended the request so.
        VideoNotStored: the request is paid but its files are not stored; the message says
            how to store them.

    Example:
        ```python
        from prefect_gmicloud.flows import generate_video
        from prefect_gmicloud.storage import S3Destination

        result = await generate_video(
            "wan2.7-t2v", {"prompt": "a red fox in snow", "duration": 5},
            storage=S3Destination(bucket="media"), credentials="BLOCK_NAME",
        )
        print(result.video.uri)
        ```
    """
    location = resolve_storage(storage)
    side = _OneVideo(location, storage, key_prefix, name, max_download_bytes)  # refuses a bad name
    gmi = await load_credentials(credentials)
    validated = await checked_request(gmi, model, payload)
    flow_run_id = str(runtime.flow_run.id) if runtime.flow_run.id else None
    job = ShotJob(name or "video", _inputs_hash(validated, name, flow_run_id), validated)
    guard = await guard_storage(location, name or "video", board_lock=False)
    ledger = Ledger(location, location.key(key_prefix, "ledger"))
    async with guard, gmi.get_client() as client:
        runner = ShotRunner(
            ledger=ledger,
            client=client,
            run=new_run_token(),
            side=side,
            policy=wait_policy(poll_interval, queue_timeout, processing_timeout),
            flow_run_id=flow_run_id,
            force=force,
        )
        async with ledger.alive(runner.run, flow_run_id):
            outcome = await runner.store_shot(job)
    return await _result(outcome, validated.model_id, name, storage)


def _inputs_hash(payload: AnyPayload, name: str | None, flow_run_id: str | None) -> str:
    """What one paid request stands for: a named video is its name and payload; an unnamed one
    is this flow run's (a retried run resumes it, a new run pays for a new video)."""
    identity: dict[str, Any] = {"model": payload.model_id, "payload": payload.to_payload()}
    identity |= {"name": name} if name is not None else {"flow_run": flow_run_id}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


@dataclass
class _OneVideo:
    """``generate_video``'s side of its one shot: the payload sent as validated, its files
    under ``<key_prefix>/<name or request id>/`` (found again only when named), no quota slot
    or budget of its own, and an artifact and event once it is paid.

    Args:
        location: the storage, resolved.
        storage: the storage as the flow was given it (the files are uploaded to it).
        key_prefix: the folder for videos under the storage prefix.
        name: the video's folder under ``key_prefix``; none: the request id.
        max_download_bytes: the largest output file accepted.

    Raises:
        UnsafeKeyError: ``name`` cannot be a folder under ``key_prefix``.
    """

    location: StorageLocation
    storage: S3Bucket | S3Destination
    key_prefix: str
    name: str | None
    max_download_bytes: int
    folder: str | None = field(init=False)
    _store: Store = field(init=False, repr=False)

    def __post_init__(self) -> None:
        name = self.name
        self.folder = self.location.key(self.key_prefix, name) if name is not None else None
        self._store = shot_storer(
            self.storage, self._place, self.max_download_bytes, task_runs=True
        )

    async def prepare(self, job: ShotJob) -> AnyPayload:
        """The payload as validated: ``generate_video`` stages and signs nothing."""
        return job.payload

    async def find_stored(self, job: ShotJob) -> tuple[dict[str, StoredObject], str | None] | None:
        """A named video's files already stored from these inputs (its ledger lost)."""
        if self.folder is None:
            return None
        video, thumbnail = f"{self.folder}/video.mp4", f"{self.folder}/thumbnail.jpg"
        return await find_stored(self.location, video, thumbnail, job)

    async def still_stored(self, job: ShotJob, objects: dict[str, StoredObject]) -> bool:
        """Whether the video's stored files are still there, from these inputs."""
        return await still_stored(self.location, job, objects)

    async def store(self, job: ShotJob, request: GMIRequest) -> dict[str, StoredObject]:
        """Store the request's files, verified, in the video's folder."""
        return await self._store(job, request)

    def _place(self, job: ShotJob, request: GMIRequest) -> tuple[tuple[str, ...], None]:
        """``<key_prefix>/<name or request id>/``, the files under their outcome names."""
        return (self.key_prefix, self.name or request.request_id), None

    def slot(self) -> contextlib.AbstractAsyncContextManager[None]:
        """No slot: ``generate_video`` pays for one request and shares no quota limit."""
        return contextlib.nullcontext()

    def before_submit(self, job: ShotJob) -> contextlib.AbstractAsyncContextManager[None]:
        """Nothing: ``generate_video`` takes no shared budget."""
        return contextlib.nullcontext()

    async def on_submitted(self, job: ShotJob, request: GMIRequest) -> None:
        """An artifact and an event naming the paid request, before any wait."""
        await record_submitted(request, self.name)


async def _result(
    outcome: ShotResult, model: str, name: str | None, storage: S3Bucket | S3Destination
) -> GeneratedVideo:
    """The stored video, or the error that says what became of the request (reported)."""
    request_id = outcome.request_id
    if outcome.state == "stored" and request_id is not None:
        result = GeneratedVideo(
            request_id=request_id,
            model=model,
            video=outcome.objects.get("video"),
            thumbnail=outcome.objects.get("thumbnail"),
            files=dict(outcome.objects),
            wait_seconds=outcome.wait_seconds or 0.0,
            transfer_seconds=outcome.transfer_seconds or 0.0,
        )
        await report_stored(result, name)
        return result
    failure = outcome.failure
    if isinstance(failure, RequestFailed | RequestCancelled):
        await report_failed(failure.request, name)
        raise failure
    if request_id is None:  # nothing was paid
        raise failure or GMICloudError(outcome.error or "the request was not made")
    resume = (
        f"Run generate_video again with name={name!r} and the same payload to resume it "
        "(nothing is paid twice), or store it with "
        if name is not None
        else "Store it with "
    ) + f"collect_requests(storage=..., request_ids=[{request_id!r}])"
    detail = str(failure) if failure is not None else outcome.error or outcome.state
    error = VideoNotStored(request_id, detail, resume)
    await report_not_stored(request_id, model, name, str(error))
    raise error from failure
