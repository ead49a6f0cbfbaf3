"""``generate_video``: one request end to end, from payload to stored video."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect_aws.s3 import S3Bucket

from prefect_gmicloud.blocks.credentials import GMICloudCredentials
from prefect_gmicloud.client.polling import wait_policy
from prefect_gmicloud.flows.finish import (
    finish_request,
    log_requests_left_running,
    record_submitted,
)
from prefect_gmicloud.flows.model_checks import checked_request
from prefect_gmicloud.flows.results import GeneratedVideo
from prefect_gmicloud.storage.s3 import S3Destination, safe_key
from prefect_gmicloud.tasks.submit import submit_request
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
    queue_timeout: float = 3600.0,
    processing_timeout: float = 3600.0,
    poll_interval: float = 1.0,
    max_download_bytes: int = DEFAULT_MAX_BYTES,
) -> GeneratedVideo:
    """Generate one video and store it: submit → wait → download → upload → artifact + event.

    The payload is validated before anything is sent: a typed model's limits, the model id
    against the ids GMI serves, and a model without a typed spec against the parameters GMI
    serves for it. Files land at
    ``<storage prefix>/<key_prefix>/<name or request id>/video.mp4`` (and ``thumbnail.jpg``).
    A retried flow run resumes the request already submitted instead of paying again.

    Args:
        model: The GMI model id, such as ``wan2.7-r2v``; it picks the payload schema.
        payload: The request body for that model (prompt, references, duration...), checked
            against every documented limit before anything is sent.
        storage: Where the files go: a prefect-aws ``S3Bucket`` block, or an ``S3Destination``
            (bucket, prefix, optional endpoint; keys from the AWS chain).
        credentials: A ``GMICloudCredentials`` block, or the name it was saved under.
        key_prefix: The folder under the storage prefix for this video's files.
        name: The folder for this video under ``key_prefix``; defaults to the request id.
        queue_timeout: Seconds the request may stay queued before the wait gives up (the
            request itself stays alive and can be collected later).
        processing_timeout: Seconds the request may spend processing before the wait gives up.
        poll_interval: Seconds before the first status read; later pauses grow from it.
        max_download_bytes: The largest output file accepted, in bytes.

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
    if name is not None:
        safe_key(key_prefix, name)  # refuse a bad name before paying for the request
    gmi = await load_credentials(credentials)
    validated = await checked_request(gmi, model, payload)
    request = await submit_request(gmi, validated, name)
    await record_submitted(request, name)
    policy = wait_policy(poll_interval, queue_timeout, processing_timeout)
    return await finish_request(
        gmi,
        request.request_id,
        storage,
        (key_prefix, name or request.request_id),
        policy,
        max_download_bytes,
        label=name,
    )
