"""``generate_video`` pays through the ledger: the storage checked first, the request recorded,
a failure after paying named with the way to store it, a named video paid once."""

from __future__ import annotations

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from prefect_gmicloud.errors import StorageError, UnsafeStore, VideoNotStored
from prefect_gmicloud.flows import generate_video
from prefect_gmicloud.simulator import Simulator
from prefect_gmicloud.storage import S3Destination
from prefect_gmicloud.storage.probe import forget_verdicts
from tests.conftest import R2V_PAYLOAD, credentials_for
from tests.stores import condition_stripping_proxy

pytestmark = pytest.mark.usefixtures("prefect_api")

POLL = 0.05


async def artifact_pages(key: str) -> list[str]:
    async with get_client() as prefect:
        artifacts = await prefect.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )
    return [str(artifact.data) for artifact in artifacts]


async def test_a_bucket_that_cannot_be_written_is_refused_before_paying(
    sim: Simulator, s3_endpoint: str
) -> None:
    missing = S3Destination(bucket="not-a-bucket-of-ours", prefix="out", endpoint_url=s3_endpoint)
    with pytest.raises(StorageError, match=r"not-a-bucket-of-ours.*NoSuchBucket"):
        await generate_video("wan2.7-r2v", R2V_PAYLOAD, missing, credentials_for(sim))
    print(f"\nunwritable bucket: {sim.stats.created} requests created")
    assert sim.stats.created == 0 and sim.stats.calls["submit"] == 0


async def test_a_store_that_ignores_conditional_writes_is_refused_before_paying(
    sim: Simulator, s3_endpoint: str, bucket: S3Destination
) -> None:
    forget_verdicts()
    with condition_stripping_proxy(s3_endpoint) as endpoint:
        stripped = bucket.model_copy(update={"endpoint_url": endpoint})
        with pytest.raises(UnsafeStore, match="does not honour conditional writes"):
            await generate_video("wan2.7-r2v", R2V_PAYLOAD, stripped, credentials_for(sim))
    forget_verdicts()
    assert sim.stats.created == 0


async def test_a_paid_request_that_cannot_be_stored_names_itself_and_is_resumed_later(
    sim: Simulator, bucket: S3Destination
) -> None:
    sim.state.serve_next("html")  # the link serves an error page instead of the video
    with pytest.raises(VideoNotStored) as raised:
        await generate_video(
            "wan2.7-r2v", R2V_PAYLOAD, bucket, credentials_for(sim), name="opening",
            poll_interval=POLL,
        )  # fmt: skip
    (request_id,) = sim.state.requests
    message = str(raised.value)
    print(f"\nnot stored: {message}")
    assert request_id in message and "collect_requests(" in message and "name='opening'" in message
    pages = await artifact_pages("gmicloud-video-opening")
    assert any("paid, not stored" in page and request_id in page for page in pages)
    # The link works again: the same call stores the request it paid for, paying nothing more.
    sim.state.requests[request_id].served = "media"
    result = await generate_video(
        "wan2.7-r2v", R2V_PAYLOAD, bucket, credentials_for(sim), name="opening",
        poll_interval=POLL,
    )  # fmt: skip
    assert result.request_id == request_id and result.video is not None
    assert sim.stats.created == 1 and sim.stats.duplicate_submits == 0


async def test_a_named_video_is_paid_once_and_force_pays_again(
    sim: Simulator, bucket: S3Destination
) -> None:
    first = await generate_video(
        "wan2.7-r2v", R2V_PAYLOAD, bucket, credentials_for(sim), name="wave", poll_interval=POLL
    )
    again = await generate_video(
        "wan2.7-r2v", R2V_PAYLOAD, bucket, credentials_for(sim), name="wave", poll_interval=POLL
    )
    assert again.request_id == first.request_id and sim.stats.created == 1
    forced = await generate_video(
        "wan2.7-r2v", R2V_PAYLOAD, bucket, credentials_for(sim), name="wave",
        poll_interval=POLL, force=True,
    )  # fmt: skip
    assert forced.request_id != first.request_id and sim.stats.created == 2
