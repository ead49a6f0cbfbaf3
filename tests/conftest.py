"""Shared fixtures: a simulator on loopback per test, and clients with fast retry timings."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from prefect_gmicloud import GMICloudClient, GMICloudCredentials
from prefect_gmicloud.client import RetryPolicy, WaitPolicy
from prefect_gmicloud.simulator import Simulator, SimulatorConfig
from prefect_gmicloud.storage import S3Destination

# Tests reach loopback only: no telemetry from the Prefect servers they start.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

#: Retry timings shrunk so fault tests take milliseconds; the logic is the production one.
FAST_RETRIES = RetryPolicy(
    max_attempts=6, base_delay=0.01, max_delay=0.05, max_retry_after=0.5, reconcile_delay=0.05
)
FAST_POLLING = WaitPolicy(initial_interval=0.05, max_interval=0.2)

R2V_PAYLOAD: dict[str, Any] = {
    "prompt": "Video1 hands Image1 a coffee",
    "reference_video": ["https://refs.example/barista.mp4"],
    "reference_image": ["https://refs.example/guest.png"],
    "resolution": "720P",
    "ratio": "16:9",
    "duration": 2,
}


@pytest.fixture(scope="session")
def media_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One render cache for the session: each distinct clip is encoded once."""
    return tmp_path_factory.mktemp("sim-media")


@pytest.fixture
def make_simulator(media_cache: Path) -> Iterator[Callable[..., Simulator]]:
    """Start simulators with chosen settings; all are stopped after the test."""
    started: list[Simulator] = []

    def make(**settings: Any) -> Simulator:
        settings.setdefault("queue_seconds", 0.05)
        settings.setdefault("processing_seconds", 0.2)
        settings.setdefault("retry_after_seconds", 0.05)
        settings.setdefault("slow_response_seconds", 1.0)
        simulator = Simulator(SimulatorConfig(**settings), cache_dir=media_cache).start()
        started.append(simulator)
        return simulator

    yield make
    for simulator in started:
        simulator.stop()


@pytest.fixture
def sim(make_simulator: Callable[..., Simulator]) -> Simulator:
    """A fault-free simulator with fast timings."""
    return make_simulator()


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[GMICloudClient]:
    """A client of ``sim`` with fast retry and polling timings."""
    async with client_for(sim) as gmi:
        yield gmi


def credentials_for(sim: Simulator) -> GMICloudCredentials:
    """A credentials block for ``sim``."""
    return GMICloudCredentials(api_key=sim.api_key, base_url=sim.base_url)


def read_object(bucket: S3Destination, key: str) -> bytes:
    """An object's bytes, read back from the S3 server."""
    body = bucket.s3_client().get_object(Bucket=bucket.bucket, Key=key)["Body"]
    data: bytes = body.read()
    return data


def client_for(sim: Simulator, **options: Any) -> GMICloudClient:
    """A client of ``sim``; ``options`` override the fast defaults."""
    options.setdefault("retry_policy", FAST_RETRIES)
    options.setdefault("wait_policy", FAST_POLLING)
    return GMICloudClient(sim.api_key, base_url=sim.base_url, **options)


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectPlaces]:
    """A real Prefect API (SQLite) for the session; started only by tests that ask for it.

    Results go to a folder of the session's, so tests can read everything Prefect stored.
    """
    from prefect.settings import (
        PREFECT_LOCAL_STORAGE_PATH,
        PREFECT_SERVER_DATABASE_CONNECTION_URL,
        temporary_settings,
    )
    from prefect.testing.utilities import prefect_test_harness

    results = tmp_path_factory.mktemp("prefect-results")
    with (
        temporary_settings({PREFECT_LOCAL_STORAGE_PATH: results}),
        # Prefect's API takes ~20 s to start on 2 idle cores and minutes on busy ones.
        prefect_test_harness(server_startup_timeout=300),
    ):
        database = str(PREFECT_SERVER_DATABASE_CONNECTION_URL.value()).split("///", 1)[1]
        yield PrefectPlaces(database=Path(database), results=results)


@dataclass(frozen=True)
class PrefectPlaces:
    """Where the test session's Prefect keeps its database and results."""

    database: Path
    results: Path

    async def holding(self, secret: str) -> list[str]:
        """The database files, result files and artifacts whose content contains ``secret``."""
        from prefect.client.orchestration import get_client

        database = list(self.database.parent.glob(self.database.name + "*"))
        assert database, "the harness database was not found"
        stored = [*database, *self.results.rglob("*")]
        leaks = [str(p) for p in stored if p.is_file() and secret.encode() in p.read_bytes()]
        async with get_client() as prefect:
            artifacts = await prefect.read_artifacts()
        assert artifacts, "no artifacts to look in"
        for artifact in artifacts:
            if secret in json.dumps(artifact.model_dump(mode="json")):
                leaks.append(f"artifact {artifact.key or artifact.id}")
        return leaks


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3-protocol server (moto) on loopback, reached over HTTP with boto3."""
    from moto.server import ThreadedMotoServer

    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing-secret",
        AWS_DEFAULT_REGION="us-east-1",
    )
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint: str) -> S3Destination:
    """A new, empty bucket on the S3 server."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    destination = S3Destination(bucket=name, prefix="out", endpoint_url=s3_endpoint)
    destination.s3_client().create_bucket(Bucket=name)
    return destination
