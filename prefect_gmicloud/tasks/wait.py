"""``wait_for_request``: poll to the end, log status changes, show progress in Prefect."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.artifacts import acreate_progress_artifact, aupdate_progress_artifact
from prefect.cache_policies import NO_CACHE

from prefect_gmicloud.blocks.credentials import GMICloudCredentials
from prefect_gmicloud.client.records import GMIRequest, RequestStatus
from prefect_gmicloud.client.wait_schedule import WaitPolicy
from prefect_gmicloud.reporting import best_effort

# The API reports no percentage; its phases are what progress can show.
_PHASE_PROGRESS: dict[str, float] = {
    RequestStatus.CREATED: 5.0,
    RequestStatus.DISPATCHED: 5.0,
    RequestStatus.QUEUED: 10.0,
    RequestStatus.PROCESSING: 40.0,
}


@task(name="gmicloud-wait", cache_policy=NO_CACHE)
async def wait_for_request(
    credentials: GMICloudCredentials,
    request_id: str,
    policy: WaitPolicy | None = None,
    show_progress: bool = True,
) -> GMIRequest:
    """Wait until ``request_id`` is terminal and return its record.

    Never cached (a cached status could hide completion forever). Logs only when the status
    changes, and moves a progress artifact with it unless ``show_progress`` is False (flows
    that show progress of their own, like ``run_storyboard``, spare the Prefect API the
    calls).

    Raises:
        RequestFailed / RequestCancelled: the request ended so.
        WaitTimeout: a deadline passed; the request is still alive: collect it later.
    """
    logger = get_run_logger()
    artifact_id = None
    if show_progress:
        artifact_id = await best_effort(
            acreate_progress_artifact(progress=0.0, description=f"GMI request {request_id}")
        )
    shown = 0.0

    async def report(request: GMIRequest) -> None:
        nonlocal shown
        logger.info("GMI request %s: %s", request_id, request.status)
        progress = 100.0 if request.is_terminal else _PHASE_PROGRESS.get(str(request.status), shown)
        if progress != shown and artifact_id is not None:
            await best_effort(aupdate_progress_artifact(artifact_id, progress))
            shown = progress

    async with credentials.get_client() as client:
        return await client.wait(request_id, policy=policy, on_change=report)
