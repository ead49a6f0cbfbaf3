"""The README's examples marked ``<!-- tested -->`` run, against the simulator and local S3.

The setting they assume is made here: a saved ``gmicloud`` credentials block (pointing at the
simulator), a ``media`` bucket (boto3 reaches the local server through ``AWS_ENDPOINT_URL``) and
a ``gmi-quota`` global concurrency limit.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

from prefect_gmicloud import GMICloudCredentials
from prefect_gmicloud.simulator import Simulator
from prefect_gmicloud.storage import S3Destination

ROOT = Path(__file__).resolve().parent.parent
TESTED = re.compile(r"<!-- tested -->\n```python\n(.*?)```", re.DOTALL)
SNIPPETS = TESTED.findall((ROOT / "README.md").read_text(encoding="utf-8"))

pytestmark = pytest.mark.usefixtures("prefect_api")


def test_the_readme_has_tested_examples() -> None:
    assert len(SNIPPETS) >= 3


@pytest.fixture
async def readme_setting(
    make_simulator: Callable[..., Simulator],
    s3_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Simulator:
    sim = make_simulator()
    await GMICloudCredentials(api_key=sim.api_key, base_url=sim.base_url).save(
        "gmicloud", overwrite=True
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.chdir(ROOT)
    client = S3Destination(bucket="media").s3_client()
    if "media" not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket="media")
    async with get_client() as prefect:
        limits = await prefect.read_global_concurrency_limits(limit=200)
        if "gmi-quota" not in [limit.name for limit in limits]:
            await prefect.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name="gmi-quota", limit=4)
            )
    return sim


@pytest.mark.parametrize("number", range(len(SNIPPETS)))
async def test_readme_example_runs(
    readme_setting: Simulator, number: int, capsys: pytest.CaptureFixture[str]
) -> None:
    code = compile(
        SNIPPETS[number], f"README.md example {number + 1}", "exec",
        flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
    )  # fmt: skip
    namespace: dict[str, Any] = {}
    outcome = eval(code, namespace)  # noqa: S307 - our own README's code
    if outcome is not None:
        await outcome
    assert readme_setting.stats.created >= 1
    assert readme_setting.api_key not in capsys.readouterr().out
