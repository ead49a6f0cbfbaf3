"""The storyboard run form and run page in a real browser, against a real Prefect server and UI.

A person's path: open the on-demand deployment's custom-run form, enter a 2-shot storyboard,
submit, and read the run's page: thumbnails shown, every output linked, the key nowhere.
Chromium is Debian's (``/usr/bin/chromium``), driven by Playwright; screenshots are written to
the test's temporary folder (the path is printed).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from playwright.sync_api import Locator, Page, sync_playwright

from prefect_gmicloud import GMICloudCredentials
from prefect_gmicloud.flows.report import storyboard_artifact_key
from prefect_gmicloud.flows.storyboard import run_storyboard
from prefect_gmicloud.simulator import Simulator
from prefect_gmicloud.storage import S3Destination
from tests.reliability.conftest import ROOT, running_prefect_server, start_worker

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
POOL, BLOCK, TITLE = "gmicloud-ui", "gmicloud-ui-test", "ui-walk"

if not CHROMIUM.exists():
    # CI installs it (.ci/run) and must run this test; elsewhere it is optional.
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install -y chromium")
    pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def prefect_ui(s3_endpoint: str) -> Iterator[dict[str, str]]:
    """``prefect server start`` with its UI, on loopback with a fresh home; the env to reach it."""
    with running_prefect_server(ui=True) as env:
        yield env


def field(scope: Page | Locator, label: str, nth: int = 0) -> Locator:
    """The input of the form property labelled ``label`` (the ``nth`` such property)."""
    property_ = scope.locator(
        f"xpath=//span[contains(@class, 'schema-form-property__label')]"
        f"[normalize-space()='{label}']"
        "/ancestor::div[contains(concat(' ', normalize-space(@class), ' '), ' p-label ')][1]"
    ).nth(nth)
    return property_.locator("input, textarea").first


async def deploy(sim: Simulator, bucket: S3Destination) -> UUID:
    """The on-demand deployment: storage and credentials preset, the storyboard left to fill."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    async with get_client() as prefect:
        await prefect.create_work_pool(WorkPoolCreate(name=POOL, type="process"))
    await GMICloudCredentials(api_key=sim.api_key, base_url=sim.base_url).save(BLOCK)
    source = await run_storyboard.afrom_source(
        str(ROOT), "prefect_gmicloud/flows/storyboard.py:run_storyboard"
    )
    parameters = {
        "storage": bucket.model_dump(mode="json"),
        "credentials": BLOCK,
        "poll_interval": 0.2,
    }
    deployment_id: UUID = await source.adeploy(
        name="on-demand", work_pool_name=POOL, parameters=parameters, print_next_steps=False
    )
    return deployment_id


def created_run(api: str, deployment_id: UUID, page: Page, screenshot: Path) -> dict[str, Any]:
    """The run the form's Submit created (the UI then shows the deployment's runs)."""
    filter_ = {"deployments": {"id": {"any_": [str(deployment_id)]}}}
    deadline = time.monotonic() + 30
    while True:
        runs = httpx.post(f"{api}/flow_runs/filter", json=filter_).raise_for_status().json()
        if runs:
            (run,) = runs
            return dict(run)
        if time.monotonic() > deadline:
            page.screenshot(path=screenshot)
            raise AssertionError(f"Submit created no run; see {screenshot}")
        time.sleep(0.5)


def final_state(api: str, run_id: UUID, seconds: float) -> str:
    """The run's final state type, read over the REST API (Playwright owns this thread's loop)."""
    deadline = time.monotonic() + seconds
    while True:
        state = httpx.get(f"{api}/flow_runs/{run_id}").raise_for_status().json()["state"]
        if state and state["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return str(state["type"])
        assert time.monotonic() < deadline, f"the run did not finish: {state}"
        time.sleep(0.5)


def test_a_storyboard_entered_in_the_form_runs_and_its_page_shows_the_videos(
    prefect_ui: dict[str, str],
    make_simulator: Callable[..., Simulator],
    bucket: S3Destination,
    tmp_path: Path,
) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    sim = make_simulator(queue_seconds=0.1, processing_seconds=0.5)
    base = prefect_ui["PREFECT_API_URL"].removesuffix("/api")
    shots = tmp_path / "screenshots"
    print(f"\nscreenshots: {shots}")
    with temporary_settings({PREFECT_API_URL: prefect_ui["PREFECT_API_URL"]}):
        deployment_id = asyncio.run(deploy(sim, bucket))
    with (
        start_worker(prefect_ui, POOL, tmp_path / "worker.log"),
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1600})
        seen: list[str] = []

        page.goto(f"{base}/deployments/deployment/{deployment_id}/run")
        page.get_by_text("Shots", exact=True).wait_for()
        page.screenshot(path=shots / "1-form-empty.png", full_page=True)
        page.get_by_role("button", name="Add item").nth(1).click()  # shots
        page.get_by_role("button", name="Add item").nth(1).click()
        page.get_by_role("button", name="Add item").nth(0).click()  # characters
        field(page, "Title").fill(TITLE)
        field(page, "Name").fill("hero")
        field(page, "Image (Optional)").fill("https://refs.example/hero.png")
        field(page, "Id", 0).fill("wave")
        field(page, "Prompt", 0).fill("{hero} waves from the door")
        field(page, "Id", 1).fill("sit")
        field(page, "Prompt", 1).fill("{hero} sits down by the window")
        page.screenshot(path=shots / "2-form-filled.png", full_page=True)
        seen.append(page.content())
        page.get_by_role("button", name="Submit").click()
        api = prefect_ui["PREFECT_API_URL"]
        run = created_run(api, deployment_id, page, shots / "2b-after-submit.png")
        assert run["parameters"]["storyboard"]["shots"][1]["id"] == "sit"

        state = final_state(api, UUID(run["id"]), 75)
        page.goto(f"{base}/flow-runs/flow-run/{run['id']}")
        page.get_by_text("Completed").first.wait_for()
        page.screenshot(path=shots / "3-run.png", full_page=True)
        seen.append(page.content())
        assert state == "COMPLETED", (tmp_path / "worker.log").read_text()[-3000:]

        by_key = {"artifacts": {"key": {"any_": [storyboard_artifact_key(TITLE)]}}}
        (artifact,) = httpx.post(f"{api}/artifacts/filter", json=by_key).raise_for_status().json()
        page.goto(f"{base}/artifacts/artifact/{artifact['id']}")
        page.get_by_role("link", name="final cut").wait_for()
        page.wait_for_load_state("networkidle")
        page.screenshot(path=shots / "4-artifact.png", full_page=True)
        seen.append(page.content())
        links = {a.inner_text(): a.get_attribute("href") or "" for a in page.locator("a").all()}
        for label in ("final cut", "contact sheet", "manifest.json", "wave.mp4", "sit.mp4"):
            assert links.get(label, "").startswith(bucket.endpoint_url or "?"), (label, links)
        images = page.locator("img[alt='wave'], img[alt='sit'], img[alt='contact sheet']")
        assert images.count() == 3
        # Loaded by the browser itself, from the presigned links.
        assert all(image.evaluate("i => i.naturalWidth") > 0 for image in images.all())
        browser.close()
    for html in seen:
        assert sim.api_key not in html
