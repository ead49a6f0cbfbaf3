"""A storyboard run's page: thumbnails and links that open without credentials, and no key."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from prefect.client.orchestration import get_client

from prefect_gmicloud.flows.report import storyboard_artifact_key, storyboard_markdown
from prefect_gmicloud.flows.storyboard import run_storyboard
from prefect_gmicloud.simulator import Simulator
from prefect_gmicloud.storage import MAX_LINK_SECONDS, S3Destination, resolve_storage
from prefect_gmicloud.storyboard import Storyboard
from prefect_gmicloud.storyboard.manifest import Manifest, ShotRecord
from prefect_gmicloud.storyboard.options import StoryboardOptions
from tests.conftest import PrefectPlaces, credentials_for, read_object

LINK = re.compile(r"\]\((https?://[^)\s]+)\)")
HTML_LINK = re.compile(r'(?:href|src)="(https?://[^"]+)"')


def links_of(text: str) -> set[str]:
    """Every URL the page links or shows, from its markdown and from its HTML grid."""
    return set(LINK.findall(text)) | {html.unescape(u) for u in HTML_LINK.findall(text)}


def test_presigned_links_last_at_most_seven_days(bucket: S3Destination) -> None:
    location = resolve_storage(bucket)
    url = location.presigned_url("out/a.mp4", 3600)
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and query["X-Amz-Expires"] == ["3600"]
    assert "testing-secret" not in url
    with pytest.raises(ValueError, match=r"expires_in: must be between 1 and 604800 seconds"):
        location.presigned_url("out/a.mp4", MAX_LINK_SECONDS + 1)


def test_a_failed_shot_s_row_keeps_to_one_table_cell(bucket: S3Destination) -> None:
    manifest = Manifest(
        storyboard="my_film",
        shots=[ShotRecord(shot_id="a", inputs_hash="h", status="failed", error="bad | worse\nend")],
    )
    text = storyboard_markdown(
        manifest,
        resolve_storage(bucket),
        "out/my_film/manifest.json",
        60,
        datetime(2030, 1, 1, tzinfo=UTC),
    )
    assert "| a | failed |  |  |  | bad \\| worse end |" in text
    assert "<table>" not in text  # no video, no thumbnail: no grid cell
    assert "Links expire 2030-01-01 00:01 UTC" in text
    assert "final cut" not in text and "[manifest.json](http" in text
    assert storyboard_artifact_key("my_film") == "gmicloud-storyboard-my-film"


@pytest.mark.usefixtures("prefect_api")
async def test_the_run_page_links_every_output(
    make_simulator: Callable[..., Simulator], bucket: S3Destination, prefect_api: PrefectPlaces
) -> None:
    sim = make_simulator()
    board = Storyboard.parse(
        {
            "title": "page",
            "characters": [{"name": "hero", "image": "https://refs.example/hero.png"}],
            "defaults": {"duration": 2},
            "shots": [
                {"id": "one", "prompt": "{hero} waves"},
                {"id": "two", "prompt": "a quiet street", "settings": {"model": "wan2.7-t2v"}},
            ],
        }
    )
    result = await run_storyboard(
        board, bucket, credentials_for(sim), options=StoryboardOptions(poll_interval=0.05)
    )
    async with get_client() as prefect:
        artifact = await prefect.read_latest_artifacts()
    (page,) = [a for a in artifact if a.key == storyboard_artifact_key("page")]
    text = str(page.data)
    # The grid: each thumbnail once, linked to its video, with the shot's name as a link too.
    assert text.count('alt="one"') == 1 and text.count('alt="two"') == 1
    assert '">one</a>' in text and '">two</a>' in text
    assert "| seconds generated | seconds waited |" in text
    assert re.search(r"\| one \| stored \| 2 \| \d+\.\d \|", text), text
    for label in ("[final cut](", "[contact sheet](", "[manifest.json]("):
        assert label in text
    objects = [result.final_cut, result.contact_sheet]
    objects += [obj for shot in result.shots for obj in (shot.video, shot.thumbnail)]
    wanted = {read_object(bucket, obj.key) for obj in objects if obj is not None}
    wanted.add(read_object(bucket, "out/page/manifest.json"))
    async with httpx.AsyncClient() as http:  # as a browser would: no credentials
        fetched = {(await http.get(url)).raise_for_status().content for url in links_of(text)}
    assert fetched == wanted
    assert sim.api_key not in text
    assert await prefect_api.holding(sim.api_key) == []
