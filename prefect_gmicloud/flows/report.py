"""A storyboard run's page: one markdown artifact with each shot's status, thumbnail and link.

Objects are linked by presigned GET URLs from the run's own S3 client (nothing is made
public), which work without credentials until they expire; the page says when. Each
storyboard keeps one artifact key, so the artifact's history is the storyboard's runs.
"""

from __future__ import annotations

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


def storyboard_markdown(
    manifest: Manifest,
    location: StorageLocation,
    manifest_key: str,
    expires_in: int = MAX_LINK_SECONDS,
    now: datetime | None = None,
) -> str:
    """The page: the final cut, contact sheet and manifest, a table of every shot, then each
    shot's thumbnail and video.

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
    if manifest.contact_sheet:
        lines += ["", f"![contact sheet]({link(manifest.contact_sheet)})"]
    lines += ["", "| shot | status | seconds | request | error |", "|---|---|---|---|---|"]
    lines += [_row(shot) for shot in manifest.shots]
    # Each shot's thumbnail and video below the table: the UI's renderer shows no images
    # inside table cells.
    for shot in manifest.shots:
        lines += ["", *_shot(shot, link)]
    lines += ["", f"Links expire {expires}; the objects stay at {location.uri(manifest_key)}."]
    return "\n".join(lines) + "\n"


def _row(shot: ShotRecord) -> str:
    seconds = (shot.wait_seconds or 0) + (shot.transfer_seconds or 0)
    cells = [
        shot.shot_id,
        shot.status,
        f"{seconds:.1f}" if shot.status == "stored" else "",
        f"`{shot.request_id}`" if shot.request_id else "",
        _cell(shot.error or ""),
    ]
    return "| " + " | ".join(cells) + " |"


def _shot(shot: ShotRecord, link: _Linker) -> list[str]:
    title = f"**{shot.shot_id}**"
    if shot.video:
        title += f" · [{shot.shot_id}.mp4]({link(shot.video)})"
    lines = [title]
    if shot.thumbnail:
        lines += ["", f"![{shot.shot_id}]({link(shot.thumbnail)})"]
    return lines


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
