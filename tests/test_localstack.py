"""The local stack (simulator + moto S3 + bucket) and the one-line explanations of first-run
failures that the demo and the CLI print instead of a traceback."""

from __future__ import annotations

import socket

import boto3
import httpx
import pytest
from botocore.exceptions import EndpointConnectionError, NoCredentialsError

from prefect_gmicloud.errors import LocalStackError
from prefect_gmicloud.localstack import (
    STARTUP_TIMEOUT_SETTING,
    explain_failure,
    local_stack,
)
from prefect_gmicloud.simulator import SimulatorConfig


def test_a_slow_prefect_start_is_explained_with_the_setting_to_raise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(STARTUP_TIMEOUT_SETTING, "600")
    # The message Prefect 3.9 raises when its temporary server does not answer in time.
    exc = RuntimeError("Timed out while attempting to connect to ephemeral Prefect API server.")
    line = explain_failure(exc)
    assert line is not None and "\n" not in line
    assert "within 600 s" in line and STARTUP_TIMEOUT_SETTING in line
    assert "prefect server start" in line


def test_s3_failures_name_the_fix() -> None:
    missing_keys = explain_failure(NoCredentialsError())
    assert missing_keys is not None and "AWS_ACCESS_KEY_ID" in missing_keys
    unreachable = explain_failure(EndpointConnectionError(endpoint_url="http://127.0.0.1:9"))
    assert unreachable is not None and "http://127.0.0.1:9" in unreachable
    assert "local-stack" in unreachable


def test_other_failures_are_left_to_the_caller() -> None:
    assert explain_failure(RuntimeError("something else")) is None
    assert explain_failure(ValueError("Timed out")) is None


def test_local_stack_serves_the_simulator_and_a_bucket() -> None:
    config = SimulatorConfig(queue_seconds=0.05, processing_seconds=0.1)
    with local_stack(config, bucket="stack-test") as stack:
        storage = stack.storage(prefix="p")
        assert (storage.bucket, storage.prefix, storage.endpoint_url) == (
            "stack-test",
            "p",
            stack.s3_endpoint,
        )
        s3 = boto3.client(
            "s3",
            endpoint_url=stack.s3_endpoint,
            region_name="us-east-1",
            aws_access_key_id="any",
            aws_secret_access_key="any",
        )
        # moto keeps its buckets per process: other tests' buckets may be listed beside it.
        assert "stack-test" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
        models = httpx.get(
            f"{stack.simulator.base_url}/models",
            headers={"Authorization": f"Bearer {stack.simulator.api_key}"},
        )
        assert models.status_code == 200


def test_a_taken_port_is_refused_with_the_option_to_change() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with (
            pytest.raises(LocalStackError, match=f"port {port} .* --s3-port"),
            local_stack(s3_port=port),
        ):
            pass
