"""``manifest.json``: what became of each shot, written to S3 as the storyboard progresses."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

from prefect_gmicloud.storage.location import StorageLocation, StoredObject

ShotStatus = Literal["planned", "submitted", "stored", "failed"]


class ShotVersion(BaseModel):
    """One version of a shot that was paid for: what it asked, what became of it, who judged it."""

    inputs_hash: str
    request_id: str | None = None
    prompt: str | None = None
    seed: int | None = None
    seconds: float | None = Field(None, description="Seconds of video asked: what was paid for.")
    state: str
    verdict: str | None = None
    reviewed_by: str | None = None
    earlier_requests: list[str] = Field(
        default_factory=list, description="Requests of these inputs that ended without files."
    )


class ShotRecord(BaseModel):
    """One shot's state; ``request_id`` is written as soon as the request exists."""

    shot_id: str
    status: ShotStatus = "planned"
    inputs_hash: str
    request_id: str | None = None
    video: StoredObject | None = None
    thumbnail: StoredObject | None = None
    wait_seconds: float | None = None
    transfer_seconds: float | None = None
    error: str | None = None
    versions: list[ShotVersion] = Field(
        default_factory=list, description="Every version paid for, oldest first (ledger)."
    )


class Manifest(BaseModel):
    """The storyboard's shots in order, plus the final cut and contact sheet when made."""

    storyboard: str
    updated_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    shots: list[ShotRecord]
    final_cut: StoredObject | None = None
    contact_sheet: StoredObject | None = None
    #: What the final cut was made from (the shots' sha256s, in order), to reuse it when equal.
    final_cut_source: str | None = None

    @property
    def to_rerun(self) -> list[str]:
        """Shots not stored: run the storyboard again to retry just these."""
        return [s.shot_id for s in self.shots if s.status != "stored"]


class ManifestStore:
    """Reads and writes one manifest object; writes are serialized and coalesced."""

    def __init__(self, location: StorageLocation, key: str) -> None:
        self.location = location
        self.key = key
        self._lock = asyncio.Lock()
        self._dirty = False

    @property
    def uri(self) -> str:
        return self.location.uri(self.key)

    async def load(self) -> Manifest | None:
        """The stored manifest, or ``None`` when there is none yet."""
        document = await self.location.read_json(self.key)
        return None if document is None else Manifest.model_validate(document.value)

    async def save(self, manifest: Manifest) -> None:
        """Persist ``manifest`` as it is now; returns once a write that includes it is done.

        Writes are serialized, and calls made while one is under way share the next: a run
        of N shots saves O(N) times, but writes only as often as S3 takes the object (each
        write is the whole manifest, so writing every call would cost O(N^2) bytes).
        """
        self._dirty = True
        async with self._lock:
            if not self._dirty:
                return  # a write that began after this call has already stored it
            self._dirty = False
            manifest.updated_at = datetime.now(UTC)
            await self.location.write_json(self.key, manifest.model_dump_json(indent=2))
