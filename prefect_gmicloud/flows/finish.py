"""What the flows say of a request (artifacts, events), and ``finish_request``: wait, download,
store and report a request submitted earlier, for ``collect_requests``.

``generate_video`` and storyboards pay through the ledger (``ledger/shot.py``) and report with
the same functions, so a request reads the same in the UI whichever flow paid for it.
"""

from __future__ import annotations

import re
import time
from typing import Any
from uuid import UUID

from prefect import Flow, get_client, get_run_logger
from prefect.artifacts import acreate_markdown_artifact
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from prefect.client.schemas.objects import FlowRun, State
from prefect.events import emit_event
from prefect.logging.loggers import flow_run_logger
from prefect_aws.s3 import S3Bucket

from prefect_gmicloud.blocks.credentials import GMICloudCredentials
from prefect_gmicloud.client.records import GMIRequest
from prefect_gmicloud.client.wait_schedule import WaitPolicy
from prefect_gmicloud.errors import RequestCancelled, RequestFailed
from prefect_gmicloud.flows.results import GeneratedVideo
from prefect_gmicloud.reporting import best_effort
from prefect_gmicloud.storage.destination import S3Destination
from prefect_gmicloud.tasks.store_outcome import store_outcome
from prefect_gmicloud.tasks.wait import wait_for_request
from prefect_gmicloud.transfer.download import DEFAULT_MAX_BYTES


def _resource(request_id: str, model: str) -> dict[str, str]:
    return {
        "prefect.resource.id": f"gmicloud.request.{request_id}",
        "prefect.resource.name": request_id,
        "gmicloud.model": model,
    }


#: Every request's artifacts are described so: how a run's requests are found again.
_DESCRIPTION = re.compile(r"^GMI request (\S+)")


def artifact_key(label: str | None) -> str | None:
    """The artifact key of a named request (``gmicloud-video-<name>``), none for unnamed ones.

    A key is one entry on Prefect's Artifacts page, its versions the runs that wrote it: one
    per name stays readable where one per request id would flood the page. Keys allow
    lowercase letters, digits and dashes only.
    """
    if not label:
        return None
    return "gmicloud-video-" + "".join(c if c.isalnum() else "-" for c in label.lower())


async def requests_of_run(flow_run_id: UUID) -> list[str]:
    """The GMI request ids a flow run recorded, from its artifacts."""
    async with get_client() as prefect:
        artifacts = await prefect.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    found = (_DESCRIPTION.match(a.description or "") for a in artifacts)
    return sorted({match.group(1) for match in found if match})


async def log_requests_left_running(flow: Flow[Any, Any], flow_run: FlowRun, state: State) -> None:
    """On cancellation: name the requests this run paid for; unfinished ones keep running.

    The API documents no cancel endpoint, so none is called; the ids go to the run's log so
    ``collect_requests`` can store whatever was not stored yet.
    """
    request_ids = await requests_of_run(flow_run.id)
    if request_ids:
        flow_run_logger(flow_run, flow).warning(
            "flow run cancelled; GMI requests it submitted (any unfinished keep running, as no "
            "cancel endpoint exists): %s. Store their results with collect_requests.",
            ", ".join(request_ids),
        )


def _title(request_id: str, model: str, label: str | None) -> str:
    named = f" **{label}**:" if label else ""
    return f"###{named} GMI request `{request_id}` ({model})"


async def record_submitted(request: GMIRequest, label: str | None = None) -> None:
    """Make the paid request findable at once: an artifact and an event, before any wait.

    If the flow run is cancelled or crashes later, these say which request to collect. The
    artifact is replaced by the request's outcome (stored, or failed and why) when it ends.

    Args:
        request: the request just submitted.
        label: what the request is for (a video's name), shown and used as the artifact key.
    """
    await acreate_markdown_artifact(
        key=artifact_key(label),
        markdown=(
            f"{_title(request.request_id, request.model, label)}: submitted\n\n"
            "If this run does not finish, recover the output with the `collect_requests` flow."
        ),
        description=f"GMI request {request.request_id}",
    )
    emit_event(
        event="gmicloud.request.submitted",
        resource=_resource(request.request_id, request.model),
    )


async def finish_request(
    credentials: GMICloudCredentials,
    request_id: str,
    storage: S3Bucket | S3Destination,
    key_parts: tuple[str, ...],
    policy: WaitPolicy | None = None,
    max_download_bytes: int = DEFAULT_MAX_BYTES,
    label: str | None = None,
) -> GeneratedVideo:
    """Wait for the request, download its files, upload them under ``key_parts``, report.

    Files keep their outcome names (``video.mp4``, ``thumbnail.jpg``). ``label`` names the
    request in its artifacts (see ``record_submitted``). Storyboards, which report hundreds of
    requests on one page, go through the ledger instead (``ledger/shot.py``).
    """
    started = time.monotonic()
    try:
        done = await wait_for_request(credentials, request_id, policy)
    except (RequestFailed, RequestCancelled) as exc:
        await report_failed(exc.request, label)
        raise
    waited = time.monotonic() - started
    files = await store_outcome(done, storage, key_parts, max_bytes=max_download_bytes)
    by_url = {f.url: f.stored for f in files}
    result = GeneratedVideo(
        request_id=done.request_id,
        model=done.model,
        video=by_url[done.video.url] if done.video else None,
        thumbnail=by_url[done.thumbnail.url] if done.thumbnail else None,
        files={f.role: f.stored for f in files},
        wait_seconds=round(waited, 3),
        transfer_seconds=round(time.monotonic() - started - waited, 3),
    )
    await report_stored(result, label)
    return result


async def report_failed(request: GMIRequest, label: str | None) -> None:
    """Say GMI ended ``request`` without an outcome: an event, and its artifact replaced."""
    emit_event(
        event="gmicloud.request.failed",
        resource=_resource(request.request_id, request.model),
        payload={"status": str(request.status), "reason": request.failure_reason},
    )
    await best_effort(
        acreate_markdown_artifact(
            key=artifact_key(label),
            markdown=(
                f"{_title(request.request_id, request.model, label)}: "
                f"{request.status}\n\n{request.failure_reason or ''}"
            ),
            description=f"GMI request {request.request_id}",
        )
    )


async def report_not_stored(request_id: str, model: str, label: str | None, why: str) -> None:
    """Say ``request_id`` is paid but its files are not stored (yet): an event and the artifact.

    Args:
        request_id: the paid request.
        model: its model.
        label: the video's name, if it has one.
        why: what stopped it, and how to store it (the error's message).
    """
    emit_event(
        event="gmicloud.request.not-stored",
        resource=_resource(request_id, model),
        payload={"reason": why},
    )
    await best_effort(
        acreate_markdown_artifact(
            key=artifact_key(label),
            markdown=f"{_title(request_id, model, label)}: paid, not stored\n\n{why}",
            description=f"GMI request {request_id}",
        )
    )


async def report_stored(result: GeneratedVideo, label: str | None) -> None:
    """Say the request's files are stored: the artifact (objects, sizes, sha256) and an event."""
    rows = "\n".join(
        f"| {role} | `{obj.uri}` | {obj.size:,} | `{(obj.sha256 or '')[:16]}` |"
        for role, obj in result.files.items()
    )
    await acreate_markdown_artifact(
        key=artifact_key(label),
        markdown=(
            f"{_title(result.request_id, result.model, label)}: stored\n\n"
            f"waited {result.wait_seconds:.1f}s, transferred in "
            f"{result.transfer_seconds:.1f}s\n\n"
            "| file | object | bytes | sha256 |\n|---|---|---|---|\n" + rows
        ),
        description=f"GMI request {result.request_id}",
    )
    emit_event(
        event="gmicloud.request.succeeded",
        resource=_resource(result.request_id, result.model),
        payload={"files": {role: obj.uri for role, obj in result.files.items()}},
    )
    get_run_logger().info(
        "GMI request %s stored: %s",
        result.request_id,
        ", ".join(obj.uri for obj in result.files.values()),
    )
