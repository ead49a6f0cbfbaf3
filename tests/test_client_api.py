"""What a Python user meets first: the key from the environment, typed listings, plain wait
options, the blocking client, the version."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import version

import pytest

import prefect_gmicloud
from prefect_gmicloud import (
    GMICloudClient,
    GMICloudCredentials,
    GMICloudSyncClient,
    RequestFailed,
    WaitTimeout,
)
from prefect_gmicloud.client import ModelSummary, RequestStatus
from prefect_gmicloud.models import Wan27R2VPayload
from prefect_gmicloud.simulator import FaultRates, Simulator
from tests.conftest import FAST_POLLING, FAST_RETRIES, R2V_PAYLOAD, client_for

PAYLOAD = Wan27R2VPayload.parse(R2V_PAYLOAD)


def test_version_comes_from_the_package_metadata() -> None:
    assert prefect_gmicloud.__version__ == version("prefect-gmicloud")


async def test_the_key_comes_from_the_environment(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GMI_CLOUD_API_KEY", sim.api_key)
    async with GMICloudClient(base_url=sim.base_url) as client:
        assert await client.list_models()


def test_no_key_anywhere_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GMI_CLOUD_API_KEY", raising=False)
    with pytest.raises(ValueError, match=r"api_key: none given and \$GMI_CLOUD_API_KEY is not set"):
        GMICloudClient()
    monkeypatch.setenv("GMI_CLOUD_API_KEY", " ")
    with pytest.raises(ValueError, match=r"\$GMI_CLOUD_API_KEY: must not be empty"):
        GMICloudClient()


async def test_models_are_listed_typed(client: GMICloudClient) -> None:
    models = {model.id: model for model in await client.list_models()}
    assert models["wan2.7-r2v"] == ModelSummary(id="wan2.7-r2v", has_schema=True)
    assert models["Veo3"].has_schema
    assert not models["minimax-music-3.0"].has_schema
    assert str(models["Veo3"]) == "Veo3"


async def test_wait_takes_the_request_and_a_plain_timeout(
    make_simulator: Callable[..., Simulator],
) -> None:
    sim = make_simulator(faults=FaultRates(stuck=1.0))
    async with client_for(sim) as client:
        request = await client.submit(PAYLOAD)
        with pytest.raises(WaitTimeout) as caught:
            await client.wait(request, timeout=0.3, poll_interval=0.05)
        assert caught.value.phase == "overall" and caught.value.request_id == request.request_id
        assert (await client.get(request.request_id)).status == RequestStatus.PROCESSING


def test_block_options_reach_the_client() -> None:
    credentials = GMICloudCredentials(api_key="k", base_url="http://127.0.0.1:1")
    client = credentials.get_client(retry_policy=FAST_RETRIES, wait_policy=FAST_POLLING)
    assert client.retry_policy is FAST_RETRIES and client.wait_policy is FAST_POLLING


def test_the_sync_client_does_what_the_async_one_does(sim: Simulator) -> None:
    seen: list[str] = []
    with GMICloudSyncClient(
        sim.api_key, base_url=sim.base_url, retry_policy=FAST_RETRIES, wait_policy=FAST_POLLING
    ) as client:
        assert "wan2.6-r2v" in [model.id for model in client.list_models()]
        assert client.get_model("wan2.7-r2v").model == "wan2.7-r2v"
        request = client.submit(PAYLOAD)
        done = client.wait(request, on_change=lambda r: seen.append(str(r.status)))
        assert done.status == RequestStatus.SUCCESS and seen[-1] == "success"
        assert client.get(request.request_id).video is not None
        assert request.request_id in [r.request_id for r in client.list_requests("wan2.7-r2v")]
    with pytest.raises(RuntimeError, match="used after close"):
        client.get(request.request_id)
    client.close()  # closing twice is harmless


def test_the_sync_client_raises_what_the_async_one_raises(
    make_simulator: Callable[..., Simulator],
) -> None:
    sim = make_simulator(faults=FaultRates(fail=1.0))
    with (
        GMICloudSyncClient(
            sim.api_key, base_url=sim.base_url, retry_policy=FAST_RETRIES, wait_policy=FAST_POLLING
        ) as client,
        pytest.raises(RequestFailed, match="did not converge"),
    ):
        client.wait(client.submit(PAYLOAD).request_id)
