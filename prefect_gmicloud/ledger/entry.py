"""One shot's record in the ledger: who claimed it, which request paid for it, what was stored."""

from __future__ import annotations

import os
import socket
import time
import uuid
from typing import Literal

from pydantic import BaseModel, Field

from prefect_gmicloud.storage.location import StoredObject

#: ``claimed``: a run is about to submit (the request id may exist but not be recorded yet).
#: ``submitted``: the request id is recorded. ``stored``: its files are verified and in storage.
#: ``failed``: the last attempt ended without files; ``request_id`` still names what was paid.
EntryState = Literal["claimed", "submitted", "stored", "failed"]


class Claim(BaseModel):
    """Which run holds a shot. A claim is live while its run's heartbeat is fresh."""

    run: str = Field(description="The holding run's token (one per storyboard execution).")
    host: str
    pid: int
    claimed_at: float = Field(description="Unix time of the claim: no request of it is older.")
    flow_run_id: str | None = None

    @classmethod
    def new(cls, run: str, flow_run_id: str | None) -> Claim:
        return cls(
            run=run,
            host=socket.gethostname(),
            pid=os.getpid(),
            claimed_at=time.time(),
            flow_run_id=flow_run_id,
        )


class Attempt(BaseModel):
    """A paid request that ended without stored files, kept so nothing paid goes untracked."""

    request_id: str
    outcome: str
    ended_at: float = Field(default_factory=time.time)


class ReviewMark(BaseModel):
    """A person's verdict on a stored version of a shot."""

    verdict: Literal["approved", "rejected"]
    by: str | None = None
    at: float = Field(default_factory=time.time)
    note: str | None = None


class LedgerEntry(BaseModel):
    """The source of truth for one shot's paid work, keyed by the hash of what it asks for."""

    inputs_hash: str
    shot_id: str
    model: str
    state: EntryState
    prompt: str | None = Field(None, description="The prompt sent, for people reading history.")
    seed: int | None = None
    seconds: float | None = Field(None, description="Seconds of video asked (what is paid for).")
    claim: Claim
    request_id: str | None = None
    submitted_at: float | None = None
    objects: dict[str, StoredObject] = Field(
        default_factory=dict, description="Stored files by role (video, thumbnail...)."
    )
    error: str | None = None
    history: list[Attempt] = Field(default_factory=list)
    reviews: list[ReviewMark] = Field(default_factory=list)
    updated_at: float = Field(default_factory=time.time)

    @property
    def verdict(self) -> str | None:
        """The last review's verdict, if the version was reviewed."""
        return self.reviews[-1].verdict if self.reviews else None

    @property
    def paid_request_ids(self) -> list[str]:
        """Every request this entry knows was created: the current one and earlier attempts."""
        ids = [a.request_id for a in self.history]
        return [*ids, self.request_id] if self.request_id else ids


def new_run_token() -> str:
    """A token naming one execution of a storyboard (a retried flow run gets a new one)."""
    return uuid.uuid4().hex
