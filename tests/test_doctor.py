"""``prefect-gmicloud doctor``: green on the local stack, red with one fix per failure elsewhere."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from prefect_gmicloud.cli import app
from prefect_gmicloud.flows.limit_checks import forget_limits
from prefect_gmicloud.simulator import Simulator
from prefect_gmicloud.simulator.boards import synthetic_storyboard
from prefect_gmicloud.storage import S3Destination
from prefect_gmicloud.storage.probe import forget_verdicts
from tests.conftest import PrefectPlaces
from tests.stores import S3RVER_KEYS, condition_stripping_proxy, s3rver

runner = CliRunner()
KEY_ENV = "GMI_DOCTOR_KEY"


@pytest.fixture(autouse=True)
def fresh_verdicts() -> None:
    """Each test proves its store again (verdicts are kept per endpoint for an hour)."""
    forget_verdicts()
    forget_limits()
    # moto's access log, through Prefect's handlers, into the runner's closed output.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def board_file(tmp_path: Path) -> Path:
    board = tmp_path / "board.yaml"
    data = synthetic_storyboard(3, "doctor").model_dump(mode="json", exclude_defaults=True)
    board.write_text(yaml.safe_dump(data))
    return board


def doctor(
    sim: Simulator,
    bucket: S3Destination,
    monkeypatch: pytest.MonkeyPatch,
    *extra: str,
    key: str | None = None,
) -> tuple[int, str]:
    monkeypatch.setenv(KEY_ENV, key or sim.api_key)
    command = [
        "doctor", "--bucket", bucket.bucket, "--prefix", bucket.prefix,
        "--endpoint-url", str(bucket.endpoint_url), "--api-key-env", KEY_ENV,
        "--base-url", sim.base_url, *extra,
    ]  # fmt: skip
    result = runner.invoke(app, command, env={"COLUMNS": "200"})
    return result.exit_code, result.stdout


def checks(output: str) -> dict[str, dict[str, Any]]:
    document = json.loads(output)
    return {row["check"]: row for row in document["checks"]}


async def create_limits(quota: str, budget: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    async with get_client() as prefect:
        await prefect.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=quota, limit=4)
        )
        await prefect.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=budget, limit=3600, slot_decay_per_second=0.05)
        )


def test_the_local_stack_is_all_green(
    sim: Simulator,
    bucket: S3Destination,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    prefect_api: PrefectPlaces,
) -> None:
    import asyncio

    quota, budget = f"quota-{uuid.uuid4().hex[:6]}", f"budget-{uuid.uuid4().hex[:6]}"
    asyncio.run(create_limits(quota, budget))
    limits = ("--concurrency-limit", quota, "--budget-limit", budget)
    board = ("--storyboard", str(board_file(tmp_path)))
    code, output = doctor(sim, bucket, monkeypatch, *board, *limits)
    print(f"\ndoctor against the local stack (exit {code}):\n{output}")
    assert code == 0, output
    code, output = doctor(sim, bucket, monkeypatch, *board, *limits, "--json")
    found = checks(output)
    assert code == 0 and json.loads(output)["ok"] is True
    assert {name: row["status"] for name, row in found.items()} == {
        "storyboard": "ok",
        "GMI API key": "ok",
        "models served": "ok",
        "typed specs vs served": "ok",
        "clock vs GMI": "ok",
        "store conditional writes": "ok",
        "bucket write, read, presign": "ok",
        "clock vs store": "ok",
        "Prefect API": "ok",
        "concurrency limit": "ok",
        "budget limit": "ok",
    }
    assert sim.stats.created == 0  # a doctor pays for nothing


def test_a_store_that_ignores_conditions_is_red_naming_conditional_writes(
    sim: Simulator, s3_endpoint: str, bucket: S3Destination, monkeypatch: pytest.MonkeyPatch
) -> None:
    with condition_stripping_proxy(s3_endpoint) as endpoint:
        stripped = bucket.model_copy(update={"endpoint_url": endpoint})
        code, output = doctor(sim, stripped, monkeypatch)
        print(f"\ndoctor behind a header-stripping proxy (exit {code}):\n{output}")
        _, document = doctor(sim, stripped, monkeypatch, "--json")
    assert code == 1
    row = checks(document)["store conditional writes"]
    assert row["status"] == "fail"
    assert "does not honour conditional writes" in row["detail"]
    assert "a second create-if-absent (If-None-Match: *) of one key was accepted" in row["detail"]
    assert "--board-lock" in row["fix"]
    # The rest of the store works: only its conditions are wrong.
    assert checks(document)["bucket write, read, presign"]["status"] == "ok"


def test_s3rver_is_red_naming_conditional_writes(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"doctor-{uuid.uuid4().hex[:8]}"
    for variable, value in S3RVER_KEYS.items():
        monkeypatch.setenv(variable, value)
    with s3rver(name) as endpoint:
        store = S3Destination(bucket=name, prefix="out", endpoint_url=endpoint)
        code, output = doctor(sim, store, monkeypatch, "--json")
    row = checks(output)["store conditional writes"]
    print(f"\ndoctor against s3rver (exit {code}): {row['detail']}")
    assert code == 1 and row["status"] == "fail"
    assert "does not honour conditional writes" in row["detail"]


def test_a_bad_key_is_red_and_never_shown(
    sim: Simulator, bucket: S3Destination, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    wrong = "sk-wrong-0xDEADBEEF-never-shown"
    board = ("--storyboard", str(board_file(tmp_path)))
    code, output = doctor(sim, bucket, monkeypatch, *board, "--json", key=wrong)
    found = checks(output)
    assert code == 1
    assert found["GMI API key"]["status"] == "fail"
    assert "refused the key" in found["GMI API key"]["detail"]
    assert "console.gmicloud.ai" in found["GMI API key"]["fix"]
    assert wrong not in output
    # The store is still checked: one run of the doctor names every problem.
    assert found["store conditional writes"]["status"] == "ok"


def test_a_missing_concurrency_limit_is_red_with_the_command_that_creates_it(
    sim: Simulator,
    bucket: S3Destination,
    monkeypatch: pytest.MonkeyPatch,
    prefect_api: PrefectPlaces,
) -> None:
    missing = f"absent-{uuid.uuid4().hex[:6]}"
    code, output = doctor(sim, bucket, monkeypatch, "--concurrency-limit", missing, "--json")
    row = checks(output)["concurrency limit"]
    assert code == 1 and row["status"] == "fail"
    assert f"{missing!r} does not exist" in row["detail"]
    assert row["fix"] == f"prefect gcl create {missing} --limit 4"


def test_json_has_one_row_per_check_with_status_detail_and_fix(
    make_simulator: Callable[..., Simulator],
    bucket: S3Destination,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim = make_simulator()
    code, output = doctor(sim, bucket, monkeypatch, "--json")
    document = json.loads(output)
    assert set(document) == {"ok", "checks"} and document["ok"] is (code == 0)
    for row in document["checks"]:
        assert set(row) == {"check", "status", "detail", "fix"}
        assert row["status"] in {"ok", "warn", "fail", "skip"}
        assert row["detail"]
        assert row["status"] != "fail" or row["fix"]
    # Without a board or limits, their checks say what would enable them.
    found = checks(output)
    assert found["models served"]["status"] == "skip"
    assert "--storyboard" in found["models served"]["detail"]


@pytest.mark.parametrize(
    ("offset", "gmi", "store"),
    [(0.4, "ok", "ok"), (-45.0, "ok", "ok"), (600.0, "warn", "warn"), (-1200.0, "warn", "fail")],
)
def test_clock_offsets_are_judged_by_what_they_break(offset: float, gmi: str, store: str) -> None:
    from prefect_gmicloud.doctor.clocks import ClockReading, gmi_clock, store_clock

    sent = 1_800_000_000.0
    reading = ClockReading.of(float(int(sent + offset)), sent, sent + 0.1)
    assert abs(reading.offset - offset) <= reading.uncertainty
    assert gmi_clock(reading).status == gmi
    assert store_clock(reading).status == store
    assert "lookup" in gmi_clock(ClockReading.of(sent + 600, sent, sent)).detail


def test_a_prefect_api_that_does_not_answer_is_red(
    sim: Simulator, bucket: S3Destination, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from tests.reliability.conftest import free_port

    gone = f"http://127.0.0.1:{free_port()}/api"
    with temporary_settings({PREFECT_API_URL: gone}):
        code, output = doctor(sim, bucket, monkeypatch, "--concurrency-limit", "q", "--json")
    found = checks(output)
    assert code == 1
    assert found["Prefect API"]["status"] == "fail" and gone in found["Prefect API"]["detail"]
    assert "prefect server start" in found["Prefect API"]["fix"]
    assert found["concurrency limit"]["status"] == "skip"
