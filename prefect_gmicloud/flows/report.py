"""A storyboard run's page: one markdown artifact with the shots' thumbnails in a grid, each
shot's name linking to its video, and a table of their status, seconds generated and waited.

Objects are linked by presigned GET URLs from the run's own S3 client (nothing is made
public), which work without credentials until they expire; the page says when. Each
storyboard keeps one artifact key, so the artifact's history is the storyboard's runs.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID

from prefect.artifacts import acreate_markdown_artifact

from prefect_gmicloud.storage.location import MAX_LINK_SECONDS, StorageLocation, StoredObject
from prefect_gmicloud.storyboard.manifest import Manifest, ShotRecord

_Linker = Callable[[StoredObject], str]


def storyboard_artifact_key(title: str) -> str:
    """``gmicloud-storyboard-<title>``: one key per storyboard (keys take no underscores)."""
    return f"gmicloud-storyboard-{title.replace('_', '-')}"


#: Thumbnails per row of the page's grid, and their width in px (Prefect's UI sizes them to
#: their third of the page, about as wide).
GRID_COLUMNS = 3
THUMBNAIL_WIDTH = 240


def storyboard_markdown(
    manifest: Manifest,
    location: StorageLocation,
    manifest_key: str,
    expires_in: int = MAX_LINK_SECONDS,
    now: datetime | None = None,
) -> str:
    """The page: the final cut, contact sheet and manifest, the shots' thumbnails in a grid
    (each with its name linking to its video), then a table of every shot.

    The grid is an HTML table: Prefect's UI renders (sanitised) HTML in markdown artifacts
    with the sizes given, while an image in a markdown table cell is shown as its source text.

    Args:
        manifest: The storyboard's manifest as the run leaves it.
        location: The run's storage; its client signs the links.
        manifest_key: The manifest's object key.
        expires_in: Seconds the links work (at most 7 days).
        now: The time the links are signed (the current time when None).
    """
    now = now or datetime.now(UTC)
    expires = (now + timedelta(seconds=expires_in)).strftime("%Y-%m-%d %H:%M UTC")

    def link(obj: StoredObject) -> str:
        return location.presigned_url(obj.key, expires_in, bucket=obj.bucket)

    stored = sum(shot.status == "stored" for shot in manifest.shots)
    lines = [f"# Storyboard {manifest.storyboard}", ""]
    lines.append(f"{stored} of {len(manifest.shots)} shot(s) stored.")
    lines.append("")
    outputs = [f"[manifest.json]({location.presigned_url(manifest_key, expires_in)})"]
    if manifest.final_cut:
        outputs.insert(0, f"[final cut]({link(manifest.final_cut)})")
    if manifest.contact_sheet:
        outputs.insert(1, f"[contact sheet]({link(manifest.contact_sheet)})")
    lines.append(" · ".join(outputs))
    grid = _grid(manifest.shots, link)
    if grid:
        lines += ["", grid]
    lines += [
        "",
        "| shot | status | seconds generated | seconds waited | request | error |",
        "|---|---|---|---|---|---|",
    ]
    lines += [_row(shot) for shot in manifest.shots]
    if manifest.contact_sheet:
        lines += ["", f"![contact sheet]({link(manifest.contact_sheet)})"]
    lines += ["", f"Links expire {expires}; the objects stay at {location.uri(manifest_key)}."]
    return "\n".join(lines) + "\n"


def _grid(shots: list[ShotRecord], link: _Linker) -> str:
    """The shots that have a thumbnail or a video, ``GRID_COLUMNS`` to a row, as one HTML
    block (no blank line inside, or markdown would end it)."""
    cells = [_cell_html(shot, link) for shot in shots if shot.thumbnail or shot.video]
    if not cells:
        return ""
    rows = [
        "<tr>" + "".join(cells[i : i + GRID_COLUMNS]) + "</tr>"
        for i in range(0, len(cells), GRID_COLUMNS)
    ]
    return "<table>" + "".join(rows) + "</table>"


def _cell_html(shot: ShotRecord, link: _Linker) -> str:
    name = html.escape(shot.shot_id)
    picture = ""
    if shot.thumbnail:
        source = html.escape(link(shot.thumbnail))
        picture = f'<img src="{source}" alt="{name}" width="{THUMBNAIL_WIDTH}">'
    if shot.video:
        video = html.escape(link(shot.video))
        if picture:
            picture = f'<a href="{video}">{picture}</a>'
        caption = f'<a href="{video}">{name}</a>'
    else:
        caption = name
    return f"<td>{picture}<br>{caption}</td>" if picture else f"<td>{caption}</td>"


def _row(shot: ShotRecord) -> str:
    generated = shot.versions[-1].seconds if shot.versions else None
    cells = [
        shot.shot_id,
        shot.status,
        f"{generated:g}" if generated is not None else "",
        f"{shot.wait_seconds:.1f}" if shot.wait_seconds is not None else "",
        f"`{shot.request_id}`" if shot.request_id else "",
        _cell(shot.error or ""),
    ]
    return "| " + " | ".join(cells) + " |"


def _cell(text: str) -> str:
    # A table cell is one line, and a bare | would end it.
    return re.sub(r"\s+", " ", text).replace("|", "\\|")


async def report_storyboard(
    manifest: Manifest,
    location: StorageLocation,
    manifest_key: str,
    expires_in: int = MAX_LINK_SECONDS,
) -> UUID:
    """Create the storyboard's markdown artifact (key :func:`storyboard_artifact_key`).

    Args:
        manifest: The storyboard's manifest as the run leaves it.
        location: The run's storage; its client signs the links.
        manifest_key: The manifest's object key.
        expires_in: Seconds the links work (at most 7 days).

    Returns:
        The artifact's id.
    """
    return await acreate_markdown_artifact(
        storyboard_markdown(manifest, location, manifest_key, expires_in),
        key=storyboard_artifact_key(manifest.storyboard),
        description=f"storyboard {manifest.storyboard}: shots, final cut, contact sheet",
    )
