"""The command line: validate, run, request status, simulator."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prefect_gmicloud.cli import app
from prefect_gmicloud.client import GMIRequest
from prefect_gmicloud.simulator import Simulator
from tests.conftest import R2V_PAYLOAD, client_for

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def test_validate_shows_what_each_shot_sends() -> None:
    result = runner.invoke(app, ["storyboard", "validate", str(ROOT / "examples" / "cafe.yaml")])
    assert result.exit_code == 0, result.output
    assert "6 shots" in result.output and "Video1 looks up from the counter" in result.output


def test_validate_checks_the_production_example_and_its_files(tmp_path: Path) -> None:
    example = ROOT / "examples" / "production" / "board.yaml"
    result = runner.invoke(app, ["storyboard", "validate", str(example)])
    assert result.exit_code == 0, result.output
    assert "door's last frame" in result.output and "wan2.7-videoedit" in result.output
    assert "1 s3:// reference(s) not read here" in result.output
    # Three shots read the 2.5 s barista clip, one edits it: input seconds some resellers bill.
    assert "wan2.7-r2v: 3 shot(s), 9 s generated, reading 7.5 s of reference video" in (
        result.output
    )
    # The same board with a clip it names gone: refused, naming the file.
    moved = tmp_path / "board.yaml"
    moved.write_text(example.read_text())
    result = runner.invoke(app, ["storyboard", "validate", str(moved)])
    assert result.exit_code == 1
    assert f"{tmp_path / 'media' / 'barista.mp4'}: no such file" in result.output


def test_validate_reports_every_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "title: bad\ncharacters: {a: {video: 'https://x.example/a.mp4'}}\n"
        "shots:\n  - {id: one, prompt: '{b} waves'}\n  - {id: one, prompt: '{a} waves'}\n"
    )
    result = runner.invoke(app, ["storyboard", "validate", str(bad)])
    assert result.exit_code == 1
    assert "unknown character {b}" in result.output and "duplicate shot id" in result.output


@pytest.mark.parametrize("content", ["title: [unclosed", "just a string", "{}"])
def test_unreadable_storyboards_are_refused(tmp_path: Path, content: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(content)
    result = runner.invoke(app, ["storyboard", "validate", str(bad)])
    assert result.exit_code == 1 and "Traceback" not in result.output


def test_bad_bucket_is_a_clear_error() -> None:
    cafe = str(ROOT / "examples" / "cafe.yaml")
    result = runner.invoke(app, ["storyboard", "run", cafe, "--bucket", "x"])
    assert result.exit_code == 2 and "bucket: at least 3 characters, got 1" in result.output


def test_request_status_reads_a_request(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    async def submit() -> GMIRequest:
        async with client_for(sim) as client:
            return await client.submit("wan2.7-r2v", R2V_PAYLOAD)

    request = asyncio.run(submit())
    monkeypatch.setenv("GMI_TEST_KEY", sim.api_key)
    arguments = ["request", "status", request.request_id, "--api-key-env", "GMI_TEST_KEY"]
    result = runner.invoke(app, [*arguments, "--base-url", sim.base_url])
    assert result.exit_code == 0, result.output
    assert request.request_id in result.output and sim.api_key not in result.output
    missing = runner.invoke(app, [*arguments[:3], "--api-key-env", "GMI_UNSET_KEY"])
    assert missing.exit_code != 0 and "GMI_UNSET_KEY" in missing.output
