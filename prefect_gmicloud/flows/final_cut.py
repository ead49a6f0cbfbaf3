"""A storyboard's final cut: the shots joined in order, the board's narration and music mixed
in, and a contact sheet of the shots' thumbnails labelled with their names; reused when the
shots and the sound are unchanged."""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from prefect_aws.s3 import S3Bucket

from prefect_gmicloud.flows.shot_storage import sound_file
from prefect_gmicloud.ledger.shot import ShotResult
from prefect_gmicloud.media import concatenate, contact_sheet
from prefect_gmicloud.media.mix import Spoken, mix_soundtrack, shot_starts
from prefect_gmicloud.storage import S3Destination, StorageLocation, StoredObject
from prefect_gmicloud.storyboard.manifest import Manifest, ShotRecord
from prefect_gmicloud.storyboard.plan import PlannedShot
from prefect_gmicloud.storyboard.schema import Storyboard
from prefect_gmicloud.storyboard.stills_sound import DEFAULT_MUSIC_VOLUME
from prefect_gmicloud.tasks.upload import upload_to_s3


@dataclass(frozen=True)
class CutSound:
    """The stored narration of each shot (by shot id) and the stored music bed."""

    narration: dict[str, StoredObject] = field(default_factory=dict)
    music: StoredObject | None = None
    music_volume: float = DEFAULT_MUSIC_VOLUME

    def made_from(self) -> list[str]:
        """What the mix depends on, for telling an unchanged cut: files and the bed's level."""
        found = [f"{shot}:{obj.sha256 or obj.etag}" for shot, obj in sorted(self.narration.items())]
        if self.music is not None:
            found.append(f"music:{self.music.sha256 or self.music.etag}@{self.music_volume:g}")
        return found


def cut_sound(
    board: Storyboard, plans: Mapping[str, PlannedShot], outcomes: Mapping[str, ShotResult]
) -> CutSound:
    """The sound the board's final cut mixes in, from what this run stored.

    Args:
        board: The storyboard (its music bed's level).
        plans: The planned requests by id.
        outcomes: What became of each in this run.
    """
    narration: dict[str, StoredObject] = {}
    music: StoredObject | None = None
    for job_id, plan in plans.items():
        outcome = outcomes.get(job_id)
        stored = sound_file(outcome.objects) if outcome is not None else None
        if stored is None:
            continue
        if plan.kind == "narration" and plan.for_shot is not None:
            narration[plan.for_shot] = stored
        elif plan.kind == "music":
            music = stored
    bed = board.sound.music if board.sound is not None else None
    return CutSound(narration, music, bed.volume if bed is not None else DEFAULT_MUSIC_VOLUME)


async def make_final_cut(
    manifest: Manifest,
    previous: Manifest | None,
    location: StorageLocation,
    storage: S3Bucket | S3Destination,
    sound: CutSound,
) -> None:
    """Set ``manifest``'s final cut and contact sheet: made and uploaded, or the previous ones
    when ``previous`` was made from the same shots and sound.

    Args:
        manifest: This run's manifest, every shot stored.
        previous: The manifest of the last run, if any.
        location: Where the shots are stored.
        storage: Where the cut goes (the run's storage).
        sound: The narration and music to mix in.
    """
    with_video = [s for s in manifest.shots if s.video is not None]
    made_from = [v.sha256 or v.etag for v in _videos(with_video)] + sound.made_from()
    source = hashlib.sha256(",".join(made_from).encode()).hexdigest()
    if previous and previous.final_cut_source == source and previous.final_cut:
        manifest.final_cut, manifest.contact_sheet = previous.final_cut, previous.contact_sheet
        manifest.final_cut_source = source
        return
    title = manifest.storyboard
    with tempfile.TemporaryDirectory(prefix="gmicloud-cut-") as workdir:
        files = _Fetched(location, Path(workdir))
        cut = await _joined_and_mixed(files, with_video, sound)
        upload_cut = upload_to_s3.with_options(task_run_name="upload final.mp4")
        manifest.final_cut = await upload_cut(cut, f"{title}/final.mp4", storage)
        thumbed = [s for s in with_video if s.thumbnail is not None]
        if thumbed:
            thumbs = await files.fetch([s.thumbnail for s in thumbed if s.thumbnail])
            labels = [s.shot_id for s in thumbed]
            sheet = await asyncio.to_thread(
                contact_sheet, thumbs, files.folder / "sheet.jpg", labels=labels
            )
            upload_sheet = upload_to_s3.with_options(task_run_name="upload contact-sheet.jpg")
            manifest.contact_sheet = await upload_sheet(
                sheet, f"{title}/contact-sheet.jpg", storage
            )
    manifest.final_cut_source = source


def _videos(records: list[ShotRecord]) -> list[StoredObject]:
    return [record.video for record in records if record.video is not None]


@dataclass
class _Fetched:
    """Stored objects downloaded into one folder, under numbered names."""

    location: StorageLocation
    folder: Path
    count: int = 0

    async def fetch(self, objects: list[StoredObject]) -> list[Path]:
        paths = []
        for obj in objects:
            self.count += 1
            path = self.folder / f"{self.count:04d}{Path(obj.key).suffix}"
            await self.location.download(obj, path)
            paths.append(path)
        return paths


async def _joined_and_mixed(files: _Fetched, with_video: list[ShotRecord], sound: CutSound) -> Path:
    """The shots joined in order, with the narration at each shot's start and the music under."""
    video_paths = await files.fetch(_videos(with_video))
    cut = await asyncio.to_thread(concatenate, video_paths, files.folder / "joined.mp4")
    if not sound.narration and sound.music is None:
        return cut
    starts = await asyncio.to_thread(shot_starts, video_paths)
    start_of = dict(zip([s.shot_id for s in with_video], starts, strict=True))
    lines = list(sound.narration.items())
    line_paths = await files.fetch([obj for _, obj in lines])
    spoken = [
        Spoken(path, start_of[shot]) for (shot, _), path in zip(lines, line_paths, strict=True)
    ]
    music = (await files.fetch([sound.music]))[0] if sound.music is not None else None
    return await asyncio.to_thread(
        mix_soundtrack, cut, files.folder / "final.mp4", spoken, music, sound.music_volume
    )
