"""The credentials block: Prefect's block standards, safe defaults, and a key that stays secret."""

from __future__ import annotations

import logging

import pytest
from prefect.blocks.core import Block
from prefect.testing.standard_test_suites.blocks import BlockStandardTestSuite
from pydantic import ValidationError

from prefect_gmicloud import GMICloudCredentials
from prefect_gmicloud.client import DEFAULT_BASE_URL
from prefect_gmicloud.errors import AuthenticationError
from prefect_gmicloud.simulator import Simulator

SECRET = "sk-live-do-not-leak-4242"


class TestGMICloudCredentialsStandards(BlockStandardTestSuite):
    @pytest.fixture
    def block(self) -> type[Block]:
        return GMICloudCredentials

    @pytest.mark.skip(reason="fetches the logo over the network; tests stay on loopback")
    def test_has_a_valid_image(self, block: type[Block]) -> None:  # pragma: no cover
        pass


def test_defaults_to_the_vendor_api() -> None:
    credentials = GMICloudCredentials(api_key=SECRET)
    assert credentials.base_url == DEFAULT_BASE_URL
    assert credentials.organization_id is None


@pytest.mark.parametrize(
    ("base_url", "message"),
    [
        ("http://console.gmicloud.ai/api/v1/ie/requestqueue/apikey", "plain http is allowed only"),
        ("ftp://example.com", r"must be an http\(s\) URL"),
        ("not a url", r"must be an http\(s\) URL"),
    ],
)
def test_unsafe_base_urls_are_refused(base_url: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        GMICloudCredentials(api_key=SECRET, base_url=base_url)


def test_blank_key_is_refused() -> None:
    with pytest.raises(ValidationError, match="api_key: must not be empty"):
        GMICloudCredentials(api_key="  ")


def test_key_is_not_in_reprs_or_dumps() -> None:
    credentials = GMICloudCredentials(api_key=SECRET)
    client = credentials.get_client()
    for text in (repr(credentials), str(credentials), repr(client), credentials.model_dump_json()):
        assert SECRET not in text


async def test_client_from_the_block_talks_to_the_simulator(sim: Simulator) -> None:
    credentials = GMICloudCredentials(api_key=sim.api_key, base_url=sim.base_url)
    async with credentials.get_client() as client:
        assert "wan2.7-r2v" in [m.id for m in await client.list_models()]


async def test_errors_and_logs_never_carry_the_key(
    sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    credentials = GMICloudCredentials(api_key=SECRET, base_url=sim.base_url)
    async with credentials.get_client() as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.list_models()
    assert SECRET not in str(caught.value) and SECRET not in repr(caught.value)
    assert SECRET not in caplog.text


@pytest.mark.usefixtures("prefect_api")
async def test_saved_block_round_trips_with_the_key_hidden() -> None:
    from prefect.client.orchestration import get_client

    await GMICloudCredentials(api_key=SECRET, organization_id="org-7").save(
        "test-creds", overwrite=True
    )
    loaded = await GMICloudCredentials.load("test-creds")
    assert loaded.api_key.get_secret_value() == SECRET and loaded.organization_id == "org-7"
    async with get_client() as prefect:
        document = await prefect.read_block_document_by_name(
            "test-creds", block_type_slug="gmi-cloud-credentials", include_secrets=False
        )
    assert SECRET not in str(document.data)
