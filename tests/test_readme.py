"""The README's examples marked ``<!-- tested -->`` run as written against the local stack.

The README tells a user to start ``prefect-gmicloud local-stack --prefect --save-block gmicloud``
and export ``PREFECT_API_URL`` and ``AWS_ENDPOINT_URL``; that setting is made here: a saved
``gmicloud`` credentials block (pointing at a simulator), the ``gmicloud-local`` bucket (boto3
reaches the local S3 server through ``AWS_ENDPOINT_URL``) and the ``gmi-quota`` global
concurrency limit the README creates with ``prefect gcl create``. The local stack's fixed
address and key in a snippet are replaced by this test's simulator's (the simulator of a test
never takes the fixed port, which a developer's own local stack may hold). Async snippets run
with top-level ``await``; the others in a thread without an event loop, as a script runs.
The credentials block's example (what Prefect's UI shows) is run the same way.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

from prefect_gmicloud import GMICloudCredentials
from prefect_gmicloud.localstack import BUCKET, SIMULATOR_PORT
from prefect_gmicloud.simulator import Simulator
from prefect_gmicloud.storage import S3Destination

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
TESTED = re.compile(r"<!-- tested -->\n```python\n(.*?)```", re.DOTALL)
SNIPPETS = TESTED.findall(README)
LOCAL_STACK_URL = f"http://127.0.0.1:{SIMULATOR_PORT}/api/v1/ie/requestqueue/apikey"
LOCAL_STACK_KEY = "sim-local-key"
BLOCK_EXAMPLE = str(GMICloudCredentials.get_code_example() or "")

pytestmark = pytest.mark.usefixtures("prefect_api")


def test_the_readme_tests_the_snippets_a_first_day_meets() -> None:
    def tested(*parts: str) -> bool:
        return any(all(part in snippet for part in parts) for snippet in SNIPPETS)

    assert len(SNIPPETS) >= 7
    assert tested("await GMICloudCredentials(", "overwrite=True", "await GMICloudCredentials.load(")
    assert tested("GMICloudCredentials(", "base_url=", ".save(", "get_sync_client()")
    assert tested("GMICloudSyncClient(", "base_url=")
    assert tested("@flow", "submit_request(", "wait_for_request(", "upload_to_s3(")
    assert "pip install -e" in README and "pip install prefect-gmicloud" not in README


def test_commands_come_before_the_snippets_that_need_them() -> None:
    quota = README.index("prefect gcl create gmi-quota")
    uses = README.index('concurrency_limit="gmi-quota"')
    assert quota < uses
    assert README.index("local-stack --prefect --save-block gmicloud") < README.index(SNIPPETS[0])


def test_the_block_example_shown_in_the_ui_says_what_async_code_awaits() -> None:
    # A script (Prefect's block test wants `x = Block.load("BLOCK_NAME")`), saying how to
    # write it in async code, where an unawaited save() or load() is a coroutine.
    assert "overwrite=True" in BLOCK_EXAMPLE and "get_sync_client()" in BLOCK_EXAMPLE
    assert "``await`` ``save`` and ``load``" in BLOCK_EXAMPLE


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
    client = S3Destination(bucket=BUCKET).s3_client()
    if BUCKET not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket=BUCKET)
    async with get_client() as prefect:
        limits = await prefect.read_global_concurrency_limits(limit=200)
        if "gmi-quota" not in [limit.name for limit in limits]:
            await prefect.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name="gmi-quota", limit=4)
            )
    return sim


async def run_as_written(source: str, name: str, sim: Simulator) -> None:
    """Run one snippet: awaited if it awaits, otherwise in a thread without an event loop."""
    source = source.replace(LOCAL_STACK_URL, sim.base_url).replace(LOCAL_STACK_KEY, sim.api_key)
    code = compile(source, name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    namespace: dict[str, Any] = {}
    if code.co_flags & inspect.CO_COROUTINE:
        await eval(code, namespace)  # noqa: S307 - our own README's code
    else:
        await asyncio.to_thread(exec, code, namespace)


@pytest.mark.parametrize("number", range(len(SNIPPETS)))
async def test_readme_example_runs(
    readme_setting: Simulator, number: int, capsys: pytest.CaptureFixture[str]
) -> None:
    await run_as_written(SNIPPETS[number], f"README.md example {number + 1}", readme_setting)
    assert sum(readme_setting.stats.calls.values()) >= 1, "the example never reached the API"
    assert readme_setting.api_key not in capsys.readouterr().out


async def test_the_block_example_shown_in_the_ui_runs(
    readme_setting: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    source = BLOCK_EXAMPLE.split("```python\n", 1)[1].split("```", 1)[0]
    source = source.replace(
        'api_key="YOUR_KEY"', f'api_key="{LOCAL_STACK_KEY}", base_url="{LOCAL_STACK_URL}"'
    ).replace("BLOCK_NAME", "gmicloud-example")
    await run_as_written(source, "GMICloudCredentials example", readme_setting)
    assert readme_setting.stats.calls["models"] >= 1
    assert "wan2.7-r2v" in capsys.readouterr().out
