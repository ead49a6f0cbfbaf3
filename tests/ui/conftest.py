"""What the UI tests share: a real Prefect server with its UI, once per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reliability.conftest import running_prefect_server


@pytest.fixture(scope="module")
def prefect_ui(s3_endpoint: str) -> Iterator[dict[str, str]]:
    """``prefect server start`` with its UI, on loopback with a fresh home; the env to reach it."""
    with running_prefect_server(ui=True) as env:
        yield env
