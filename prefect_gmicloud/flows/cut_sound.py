"""What the final cut mixes in besides the clips' own sound: each shot's stored narration and
the board's music bed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from prefect_gmicloud.flows.shot_storage import sound_file
from prefect_gmicloud.ledger.shot import ShotResult
from prefect_gmicloud.storage import StoredObject
from prefect_gmicloud.storyboard.plan import PlannedShot
from prefect_gmicloud.storyboard.schema import Storyboard
from prefect_gmicloud.storyboard.stills_sound import DEFAULT_MUSIC_VOLUME


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
