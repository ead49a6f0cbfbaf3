"""``collect_requests``: recover paid work (after a crash, a timeout, or from the console)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect_aws.s3 import S3Bucket

from prefect_gmicloud.blocks.credentials import GMICloudCredentials
from prefect_gmicloud.client.wait_schedule import wait_policy
from prefect_gmicloud.errors import GMICloudError, StorageError
from prefect_gmicloud.flows.finish import finish_request, log_requests_left_running
from prefect_gmicloud.flows.generate import load_credentials
from prefect_gmicloud.flows.results import CollectedRequest
from prefect_gmicloud.storage import S3Destination, resolve_storage
from prefect_gmicloud.transfer.download import DEFAULT_MAX_BYTES


def request_ids_in(document: Any) -> list[str]:
    """Every ``request_id`` value in a JSON document (a manifest), in order, without repeats."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            value = node.get("request_id")
            if isinstance(value, str) and value and value not in found:
                found.append(value)
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(document)
    return found


async def read_manifest(manifest: str, storage: S3Bucket | S3Destination) -> Any:
    """A manifest from a local path or an ``s3://bucket/key`` URI (read with the storage's keys).

    Raises:
        StorageError: the object is missing, unreadable or not JSON.
    """
    if manifest.startswith("s3://"):
        bucket, _, key = manifest.removeprefix("s3://").partition("/")
        document = await resolve_storage(storage).read_json(key, bucket=bucket)
        if document is None:
            raise StorageError(manifest, "no such object")
        return document.value
    text = await asyncio.to_thread(Path(manifest).read_text, encoding="utf-8")
    return json.loads(text)


@flow(name="gmicloud-collect-requests", on_cancellation=[log_requests_left_running])
async def collect_requests(
    storage: S3Bucket | S3Destination,
    request_ids: list[str] | None = None,
    manifest: str | None = None,
    credentials: GMICloudCredentials | str = "gmicloud",
    key_prefix: str = "collected",
    queue_timeout: float = 6 * 3600.0,
    processing_timeout: float = 3600.0,
    poll_interval: float = 1.0,
    max_download_bytes: int = DEFAULT_MAX_BYTES,
) -> list[CollectedRequest]:
    """Wait for, download and store requests submitted earlier, by id or from a manifest.

    Each request is handled on its own: one that failed or timed out is reported in the result
    and does not stop the others. Nothing is submitted.

    Args:
        storage: Where the files go: a prefect-aws ``S3Bucket`` block, or an ``S3Destination``
            (bucket, prefix, optional endpoint; keys from the AWS chain). Also used to read
            an ``s3://`` manifest.
        request_ids: GMI request ids to collect.
        manifest: A JSON document holding ``request_id`` fields (a storyboard manifest, for
            instance), as a local path or an ``s3://bucket/key`` URI; its ids are added to
            ``request_ids``.
        credentials: A ``GMICloudCredentials`` block, or the name it was saved under.
        key_prefix: The folder under the storage prefix; each request's files go to
            ``<key_prefix>/<request id>/``.
        queue_timeout: Seconds a request may stay queued before its wait gives up (it is then
            reported as failed here and stays alive at GMI).
        processing_timeout: Seconds a request may spend processing before its wait gives up
            (likewise).
        poll_interval: Seconds before the first status read; later pauses grow from it.
        max_download_bytes: The largest output file accepted, in bytes.
    """
    ids = list(request_ids or [])
    if manifest:
        document = await read_manifest(manifest, storage)
        ids += [i for i in request_ids_in(document) if i not in ids]
    if not ids:
        raise ValueError("collect_requests: give request_ids or a manifest that holds some")
    gmi = await load_credentials(credentials)
    policy = wait_policy(poll_interval, queue_timeout, processing_timeout)

    async def collect(request_id: str) -> CollectedRequest:
        try:
            result = await finish_request(
                gmi, request_id, storage, (key_prefix, request_id), policy, max_download_bytes
            )
        except GMICloudError as exc:
            return CollectedRequest(request_id=request_id, ok=False, error=str(exc))
        return CollectedRequest(request_id=request_id, ok=True, result=result)

    outcomes = await asyncio.gather(*(collect(i) for i in ids))
    failed = [o.request_id for o in outcomes if not o.ok]
    get_run_logger().info("collected %d of %d requests", len(ids) - len(failed), len(ids))
    return list(outcomes)
