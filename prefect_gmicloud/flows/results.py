"""What the flows return: typed, for composition in larger flows."""

from __future__ import annotations

from pydantic import BaseModel

from prefect_gmicloud.storage.location import StoredObject


class GeneratedVideo(BaseModel):
    """One request's outputs, stored.

    Attributes:
        request_id / model: the GMI request.
        video / thumbnail: the stored objects (``None`` when the outcome had none).
        files: every stored file, by role (``video``, ``thumbnail``, ``media-0``...).
        wait_seconds: from the start of the wait to the request's end.
        transfer_seconds: downloading and uploading.
    """

    request_id: str
    model: str
    video: StoredObject | None
    thumbnail: StoredObject | None
    files: dict[str, StoredObject]
    wait_seconds: float
    transfer_seconds: float


class CollectedRequest(BaseModel):
    """The fate of one request given to ``collect_requests``."""

    request_id: str
    ok: bool
    result: GeneratedVideo | None = None
    error: str | None = None
