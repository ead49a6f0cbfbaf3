"""``submit_request``: submit once per flow run, even when the flow run is retried."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import INPUTS, RUN_ID

from prefect_gmicloud.blocks.credentials import GMICloudCredentials
from prefect_gmicloud.client.records import GMIRequest
from prefect_gmicloud.models.registry import AnyPayload

#: The same payload in the same flow run is the same paid request: a retried flow run gets the
#: persisted request back instead of paying again. The credentials are not part of the key.
SUBMIT_CACHE_POLICY = (INPUTS - "credentials") + RUN_ID


@task(name="gmicloud-submit", cache_policy=SUBMIT_CACHE_POLICY, persist_result=True)
async def submit_request(
    credentials: GMICloudCredentials, payload: AnyPayload, label: str | None = None
) -> GMIRequest:
    """Submit ``payload`` and return the queued request; its id is logged at once.

    ``label`` tells apart deliberate identical submits in one flow run (e.g. two shots).

    Example:
        ```python
        from prefect import flow
        from prefect_gmicloud import GMICloudCredentials
        from prefect_gmicloud.models import Wan27T2VPayload
        from prefect_gmicloud.tasks import submit_request

        @flow
        async def one():
            credentials = await GMICloudCredentials.load("BLOCK_NAME")
            return await submit_request(credentials, Wan27T2VPayload(prompt="a red fox"))
        ```
    """
    async with credentials.get_client() as client:
        request = await client.submit(payload)
    get_run_logger().info(
        "GMI request %s submitted (%s%s)",
        request.request_id,
        request.model,
        f", {label}" if label else "",
    )
    return request
