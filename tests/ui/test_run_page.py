"""The run page of the 6-shot example in a real browser: a grid of thumbnails, not a scroll.

``examples/cafe.yaml`` is run against the simulator and moto with a real ``prefect server
start`` (with its UI); its storyboard artifact is opened in Debian's chromium through
Playwright. The page must show every thumbnail loaded from its presigned link, three to a row,
each shot's name linking to its video; the table must give the seconds generated and the
seconds waited apart; the contact sheet must show. The screenshot goes to the test's
temporary folder, and to ``docs/ui/run-page.png`` with ``GMICLOUD_UPDATE_SCREENSHOTS=1``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from playwright.sync_api import sync_playwright

from prefect_gmicloud.flows.report import GRID_COLUMNS, storyboard_artifact_key
from prefect_gmicloud.flows.storyboard import run_storyboard
from prefect_gmicloud.simulator import Simulator
from prefect_gmicloud.storage import S3Destination
from prefect_gmicloud.storyboard import Storyboard
from prefect_gmicloud.storyboard.options import StoryboardOptions
from tests.conftest import credentials_for
from tests.reliability.conftest import ROOT
from tests.ui.browser import CHROMIUM, CHROMIUM_ARGS, require_chromium

EXAMPLE = ROOT / "examples" / "cafe.yaml"
SCREENSHOT = ROOT / "docs" / "ui" / "run-page.png"
#: The same page with each thumbnail full width was 5,135 px tall for these 6 shots.
MAX_PAGE_HEIGHT = 2600

require_chromium()


async def run_example(sim: Simulator, bucket: S3Destination) -> tuple[UUID, list[str]]:
    """Run the example to the end; its storyboard artifact's id and the shot ids."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactCollectionFilter,
        ArtifactCollectionFilterKey,
    )

    board = Storyboard.load(EXAMPLE)
    await run_storyboard(
        board, bucket, credentials_for(sim), options=StoryboardOptions(poll_interval=0.1)
    )
    key = storyboard_artifact_key(board.title)
    async with get_client() as prefect:
        (artifact,) = await prefect.read_latest_artifacts(
            artifact_filter=ArtifactCollectionFilter(key=ArtifactCollectionFilterKey(any_=[key]))
        )
    return artifact.latest_id, [shot.id for shot in board.shots]


@pytest.mark.timeout(600)
def test_the_run_page_shows_the_shots_in_a_grid_with_their_names_linking_to_the_videos(
    prefect_ui: dict[str, str],
    make_simulator: Callable[..., Simulator],
    bucket: S3Destination,
    tmp_path: Path,
) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    sim = make_simulator(queue_seconds=0.1, processing_seconds=0.3)
    with temporary_settings({PREFECT_API_URL: prefect_ui["PREFECT_API_URL"]}):
        artifact_id, shot_ids = asyncio.run(run_example(sim, bucket))
    base = prefect_ui["PREFECT_API_URL"].removesuffix("/api")
    screenshot = tmp_path / "run-page.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base}/artifacts/artifact/{artifact_id}")
        page.get_by_role("link", name="final cut").wait_for(timeout=60_000)
        page.wait_for_load_state("networkidle")
        # The UI scrolls inside its own layout, so the page's length is the artifact's: the
        # window is made tall enough to show all of it in one screenshot.
        article = page.locator("article.artifact-data-markdown")
        box = article.bounding_box()
        assert box is not None
        height = round(box["y"] + box["height"])
        page.set_viewport_size({"width": 1280, "height": height + 40})
        page.wait_for_timeout(500)
        page.screenshot(path=screenshot, full_page=True)
        thumbnails = [page.locator(f"img[alt='{shot}']") for shot in shot_ids]
        boxes = [thumbnail.bounding_box() for thumbnail in thumbnails]
        loaded = [thumbnail.evaluate("i => i.naturalWidth") for thumbnail in thumbnails]
        names = {shot: page.get_by_role("link", name=shot, exact=True) for shot in shot_ids}
        hrefs = {shot: link.first.get_attribute("href") or "" for shot, link in names.items()}
        sheet = page.locator("img[alt='contact sheet']").evaluate("i => i.naturalWidth")
        text = article.inner_text()
        html = page.content()
        browser.close()
    print(f"\nrun page of {EXAMPLE.name}: {height} px tall; screenshot {screenshot}")
    if os.environ.get("GMICLOUD_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(screenshot, SCREENSHOT)
    assert all(width > 0 for width in loaded), loaded  # fetched by the browser, presigned
    # Six shots, three to a row: three columns of two, each a third of the page at most.
    columns = sorted({round(box["x"]) for box in boxes if box is not None})
    assert len(columns) == GRID_COLUMNS, boxes
    assert all(box is not None and box["width"] < 300 for box in boxes), boxes
    for shot, href in hrefs.items():
        assert f"/{shot}.mp4" in href and href.startswith(bucket.endpoint_url or "?"), href
        video = httpx.get(href, timeout=30)  # the link a person clicks: no credentials
        assert video.is_success and video.content[4:8] == b"ftyp", shot
    assert sheet > 0
    assert "seconds generated" in text and "seconds waited" in text
    assert height < MAX_PAGE_HEIGHT, height
    assert sim.api_key not in html
