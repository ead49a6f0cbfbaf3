"""A storyboard's reference media in the run's storage: read, checked, uploaded, signed.

- A **file** is read once (its sha256 and what it is) and uploaded to
  ``<prefix>/references/<sha256><suffix>``, once for every board in that storage: the same
  bytes under another name are the same reference, and a changed file is a new one.
- An **s3:// object** is looked at (a HEAD) and read to know what it is; it stays where it is.
- An **https URL** is sent as given (nothing checks what it serves).

In payloads a stored reference is its object's URL without a signature, so the hash of what a
shot asks for does not change from run to run; :meth:`StagedReferences.sign` replaces it with a
presigned GET just before the submit, valid for as long as the request may queue and process.
An ``s3://`` reference's URL carries its ETag as a fragment: a new version of the object makes
a new shot.

The bytes never pass through Prefect: only keys and URLs do.
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from prefect_gmicloud.errors import StorageError
from prefect_gmicloud.media.frames import first_frame, last_frame
from prefect_gmicloud.media.local_files import MAX_FILE_BYTES, open_bounded
from prefect_gmicloud.media.probe import MediaFacts, probe_media
from prefect_gmicloud.models.base import GMIPayload
from prefect_gmicloud.models.registry import AnyPayload
from prefect_gmicloud.storage.location import MAX_LINK_SECONDS, StorageLocation, StoredObject
from prefect_gmicloud.storyboard.reference_checks import ReferenceFacts, unreadable_file
from prefect_gmicloud.storyboard.references import (
    PlaceholderURLs,
    S3Object,
    map_references,
    source_kind,
)

#: Read in chunks of this many bytes when hashing a file.
_CHUNK = 1 << 20


@dataclass
class _Staged:
    """Where a stored reference lives, and for a file, where it comes from."""

    bucket: str
    key: str
    local: Path | None = None
    sha256: str | None = None
    etag: str | None = None


@dataclass
class StagedReferences:
    """The stable URLs of a storyboard's references and continuity frames in ``location``.

    Args:
        location: the run's storage.
        title: the storyboard's title (continuity frames go under it).
    """

    location: StorageLocation
    title: str
    found: dict[str, ReferenceFacts] = field(default_factory=dict)
    _staged: dict[str, _Staged] = field(default_factory=dict)  # by reference
    _by_url: dict[str, _Staged] = field(default_factory=dict)  # by stable URL
    _references_by_url: dict[str, str] = field(default_factory=dict)

    def url(self, reference: str) -> str:
        """The stable URL standing for ``reference`` in payloads (see the module's doc)."""
        staged = self._staged.get(reference)
        if staged is None:
            # An https URL, or a reference that could not be read (its problem is reported).
            return PlaceholderURLs().url(reference)
        url = self._object_url(staged, fragment=f"etag={staged.etag}" if staged.etag else "")
        self._references_by_url[_without_fragment(url)] = reference
        return url

    def frame_url(self, shot_inputs_hash: str) -> str:
        """The stable URL of the last frame of the shot with these inputs."""
        staged = _Staged(self.location.bucket, self.frame_key(shot_inputs_hash))
        return self._object_url(staged)

    def frame_key(self, shot_inputs_hash: str) -> str:
        return self.location.key(self.title, "frames", f"{shot_inputs_hash}-last.png")

    def still_url(self, still_inputs_hash: str) -> str:
        """The stable URL of the still made with these inputs, as shots using it name it."""
        return self._object_url(_Staged(self.location.bucket, self.still_key(still_inputs_hash)))

    def still_key(self, still_inputs_hash: str) -> str:
        return self.location.key(self.title, "stills", f"{still_inputs_hash}.png")

    async def stage_still(self, image: StoredObject, still_inputs_hash: str) -> None:
        """Put the stored still ``image`` (made with these inputs) where :meth:`still_url`
        says, as a PNG, unless it is there already.

        Raises:
            StorageError: the image could not be read or the PNG not written.
            MediaError: the image could not be decoded.
        """
        key = self.still_key(still_inputs_hash)
        if await self.location.find(key) is not None:
            return
        with tempfile.TemporaryDirectory(prefix="gmicloud-still-") as folder:
            source = Path(folder) / f"source{Path(image.key).suffix}"
            await self.location.download(image, source)
            # An image decodes as a one-frame video: its first frame is the PNG.
            png = await asyncio.to_thread(first_frame, source, Path(folder) / "still.png")
            await self.location.upload(png, key, content_type="image/png")

    def is_stored(self, url: str) -> bool:
        """Whether a payload's URL names an object in storage (signed when sent)."""
        return _without_fragment(url) in self._by_url

    def reference_of(self, url: str) -> str | None:
        """The reference a payload's URL stands for (``None`` for a frame or an unknown URL)."""
        found = self._references_by_url.get(_without_fragment(url))
        return found if found is not None else url if url in self.found else None

    def _object_url(self, staged: _Staged, fragment: str = "") -> str:
        plain = self.location.store.object_url(staged.bucket, staged.key)
        self._by_url[plain] = staged
        return f"{plain}#{fragment}" if fragment else plain

    async def inspect(self, references: Iterable[str]) -> None:
        """Read what each reference is: files hashed and probed, s3:// objects fetched and
        probed; a missing or unreadable one gets a ``problem``. Nothing is uploaded."""
        todo = [ref for ref in dict.fromkeys(references) if ref not in self.found]
        found = await asyncio.gather(*(self._inspect_one(ref) for ref in todo))
        for reference, facts in zip(todo, found, strict=True):
            self.found[reference] = facts

    async def _inspect_one(self, reference: str) -> ReferenceFacts:
        kind = source_kind(reference)
        if kind == "url":
            return ReferenceFacts(reference)
        if kind == "file":
            path = Path(reference)
            try:
                sha256, facts = await asyncio.to_thread(_hash_and_probe, path)
            except OSError as exc:
                return unreadable_file(reference, exc)
            key = self.location.key("references", f"{sha256}{path.suffix.lower()}")
            self._staged[reference] = _Staged(self.location.bucket, key, path, sha256)
            return ReferenceFacts(reference, facts)
        target = S3Object.parse(reference)
        try:
            fetched = await self._fetch_and_probe(target)
        except (StorageError, OSError) as exc:
            return ReferenceFacts(reference, problem=f"{reference}: cannot be read ({exc})")
        if fetched is None:
            return ReferenceFacts(reference, problem=f"{reference}: no such object")
        facts, etag = fetched
        self._staged[reference] = _Staged(target.bucket, target.key, etag=etag)
        return ReferenceFacts(reference, facts)

    async def _fetch_and_probe(self, target: S3Object) -> tuple[MediaFacts, str] | None:
        store = self.location.store
        if await store.head(target.bucket, target.key) is None:
            return None
        with tempfile.TemporaryDirectory(prefix="gmicloud-ref-") as folder:
            path = Path(folder) / (Path(target.key).name or "object")
            info = await store.download(target.bucket, target.key, path)
            # Our own download, a regular file: its size is for the model's limits to judge.
            size = max(info.size, path.stat().st_size)
            return await asyncio.to_thread(probe_media, path, size), info.plain_etag

    @property
    def problems(self) -> list[str]:
        """Every reference that could not be read, one sentence each."""
        return [facts.problem for facts in self.found.values() if facts.problem]

    async def upload(self) -> int:
        """Upload each file reference not yet in storage; return how many were uploaded.

        Raises:
            StorageError: the storage refused or could not be reached.
        """
        files = [staged for staged in self._staged.values() if staged.local is not None]
        uploaded = await asyncio.gather(*(self._upload_one(staged) for staged in files))
        return sum(uploaded)

    async def _upload_one(self, staged: _Staged) -> bool:
        assert staged.local is not None
        existing = await self.location.find(staged.key)
        if existing is not None and existing.stored.sha256 == staged.sha256:
            return False
        try:
            await self.location.upload(staged.local, staged.key, sha256=staged.sha256)
        except OSError as exc:  # the file changed or went away since it was read
            raise StorageError(self.location.uri(staged.key), f"cannot be written ({exc})") from exc
        return True

    async def stage_frame(self, video: StoredObject, shot_inputs_hash: str) -> None:
        """Put the last frame of ``video`` (the stored video of the shot with these inputs)
        where :meth:`frame_url` says, unless it is there already.

        Raises:
            StorageError: the video could not be read or the frame not written.
            MediaError: no frame could be decoded from the video.
        """
        key = self.frame_key(shot_inputs_hash)
        if await self.location.find(key) is not None:
            return
        with tempfile.TemporaryDirectory(prefix="gmicloud-frame-") as folder:
            source = Path(folder) / "source.mp4"
            await self.location.download(video, source)
            frame = await asyncio.to_thread(last_frame, source, Path(folder) / "last.png")
            await self.location.upload(frame, key, content_type="image/png")

    def sign(self, payload: AnyPayload, expires_in: int) -> AnyPayload:
        """``payload`` with every stored reference's URL replaced by a presigned GET.

        Args:
            payload: a planned payload (stable URLs).
            expires_in: seconds the links must work: as long as the request may queue and
                process (at most 7 days, SigV4's limit).
        """
        expires_in = min(expires_in, MAX_LINK_SECONDS)
        if not isinstance(payload, GMIPayload):
            return payload  # a still's or sound's payload names no stored media

        def signed(url: str) -> str:
            staged = self._by_url.get(_without_fragment(url))
            if staged is None:
                return url
            return self.location.presigned_url(staged.key, expires_in, bucket=staged.bucket)

        update = {
            name: map_references(getattr(payload, name), signed)
            for name in payload.media_fields()
            if getattr(payload, name) is not None
        }
        return payload.model_copy(update=update) if update else payload


def _hash_and_probe(path: Path) -> tuple[str, MediaFacts]:
    # The trust rule looked at the file already; it is read within its bound all the same.
    digest = hashlib.sha256()
    with open_bounded(path, MAX_FILE_BYTES) as file:
        left = MAX_FILE_BYTES
        while left > 0 and (chunk := file.read(min(_CHUNK, left))):
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest(), probe_media(path)


def _without_fragment(url: str) -> str:
    return url.split("#", 1)[0]
