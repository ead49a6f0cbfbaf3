"""The custom-run form of the on-demand deployment, for the 6-shot example, in a real browser:
a person fills it in a minute. Its height is measured and bounded, and screenshots of its top
and of a shot's settings are saved under ``docs/ui/``.

Chromium is Debian's (``/usr/bin/chromium``), driven by Playwright, against a real Prefect
server and UI (skipped, or failed on CI, as ``test_run_form.py`` says).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from uuid import UUID

import pytest
import yaml
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from prefect_gmicloud.flows.storyboard import run_storyboard
from tests.reliability.conftest import ROOT
from tests.ui.browser import CHROMIUM, CHROMIUM_ARGS, require_chromium

require_chromium()


#: The storyboard part of the form stays below this many pixels for the 6-shot example. It
#: measured 4,506 px with four inputs a character, six defaults and help of up to four lines; with
#: the characters as one JSON list, the seed among the JSON defaults and one line of help a part,
#: 3,676 px (title 98, characters 363, defaults 702, shots 2,075, stills 115, sound 114). The six
#: shots are most of it: 314 px each (id, prompt and settings, as the UI lays them out).
STORYBOARD_PX = 3700
#: And the whole form below this: 7,833 px with the run's options as 16 inputs and the storage's
#: optional fields as None toggles; with the options as one JSON object, the storage's fields
#: as plain inputs and the storyboard part above, 5,4xx px. Outside the storyboard, Prefect's
#: own parts (run name, start, additional options) are ~600 px of it.
FORM_PX = 5500
#: And a shot below this many inputs (id, prompt, settings).
SHOT_INPUTS = 3
SHOTS = ROOT / "docs" / "ui"


async def deploy_cafe() -> UUID:
    """The on-demand deployment with the example board as its parameters, as prefect.yaml."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    async with get_client() as prefect:
        await prefect.create_work_pool(WorkPoolCreate(name="form", type="process"))
    # The parameters of deployments/prefect.yaml's storyboard-on-demand: what its users see.
    spec = yaml.safe_load((ROOT / "deployments" / "prefect.yaml").read_text(encoding="utf-8"))
    parameters = spec["definitions"]["storyboard_parameters"]
    source = await run_storyboard.afrom_source(
        str(ROOT), "prefect_gmicloud/flows/storyboard.py:run_storyboard"
    )
    deployment_id: UUID = await source.adeploy(
        name="on-demand", work_pool_name="form", parameters=parameters, print_next_steps=False
    )
    return deployment_id


#: The storyboard's parts, top to bottom.
SECTIONS = ("Title", "Characters", "Defaults", "Shots", "Stills", "Sound")


@pytest.fixture(scope="module")
def run_form(prefect_ui: dict[str, str]) -> str:
    """The custom-run form's address of the on-demand deployment of the example board."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: prefect_ui["PREFECT_API_URL"]}):
        deployment_id = asyncio.run(deploy_cafe())
    base = prefect_ui["PREFECT_API_URL"].removesuffix("/api")
    return f"{base}/deployments/deployment/{deployment_id}/run"


def form_property(page: Page, label: str) -> Locator:
    """The form property labelled ``label`` (optional or not): its label, help and inputs."""
    return page.locator(
        "xpath=//span[contains(@class, 'schema-form-property__label')]"
        f"[normalize-space()='{label}' or normalize-space()='{label} (Optional)']"
        "/ancestor::div[contains(concat(' ', normalize-space(@class), ' '), ' p-label ')][1]"
    ).first


INPUTS = "input, textarea, select, .cm-editor, [role=switch]"


@contextlib.contextmanager
def opened(url: str) -> Iterator[tuple[Browser, Page]]:
    """Chromium showing ``url`` in a 1280 x 1000 window."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(url)
        yield browser, page


def height(locator: Locator) -> int:
    box = locator.bounding_box()
    assert box is not None
    return round(box["height"])


@pytest.mark.timeout(300)
def test_the_run_form_for_six_shots_is_short_and_a_shot_is_three_inputs(
    run_form: str,
) -> None:
    with opened(run_form) as (browser, page):
        page.get_by_text("Shots", exact=True).wait_for()
        page.wait_for_load_state("networkidle")
        form = page.locator(".flow-run-create-form-v2")
        storyboard = form_property(page, "storyboard")
        shots = form_property(page, "Shots")
        items = shots.locator(".schema-form-property-array-item")
        assert items.count() == 6
        per_shot = [items.nth(i).locator(INPUTS).count() for i in range(6)]
        whole, board = height(form), height(storyboard)
        parts = ", ".join(f"{name} {height(form_property(page, name))}" for name in SECTIONS)
        print(
            f"\nrun form, 6-shot example: whole form {whole} px, storyboard {board} px "
            f"({parts}), inputs per shot {per_shot}, inputs in the form "
            f"{form.locator(INPUTS).count()}"
        )
        page.screenshot(path=SHOTS / "run-form-top.png")
        brew = items.nth(3)
        brew.scroll_into_view_if_needed()
        brew.screenshot(path=SHOTS / "run-form-shot.png")
        assert "duration" in brew.inner_text()  # the shot's own settings, as JSON
        assert 'Property is type "None"' not in form.inner_text()
        browser.close()
    assert per_shot == [SHOT_INPUTS] * 6
    assert board < STORYBOARD_PX, f"the storyboard part is {board} px"
    assert whole < FORM_PX, f"the whole form is {whole} px"


@pytest.mark.timeout(300)
def test_whoever_may_run_the_deployment_can_edit_its_job_variables_in_the_form(
    run_form: str,
) -> None:
    # Why the README says a pool that holds the trust boundary keeps `env` out of its base job
    # template: the trust rule's settings are environment variables, and `env` is one of these.
    with opened(run_form) as (browser, page):
        page.get_by_text("Additional Options", exact=True).click()
        editor = page.locator(".job-variable-overrides-input textarea")
        editor.wait_for()
        # A JSON editor, open to whoever may run: {"env": {...}} is one line away.
        editor.fill('{"env": {"PREFECT_GMICLOUD_ALLOWED_ROOTS": "/"}}')
        expect(page.locator(".job-variable-overrides-input")).to_contain_text(
            "PREFECT_GMICLOUD_ALLOWED_ROOTS"
        )
        browser.close()
