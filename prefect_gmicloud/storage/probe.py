"""Proving a store's conditional writes before anything is paid into it.

The ledger pays each shot once only if the store refuses a second "create if absent" and a
"replace if unchanged" over a stale version. Many S3-compatible stores accept both headers and
ignore them (GCS's S3 interoperability, Garage, DigitalOcean Spaces for ``If-Match``, older
MinIO, SeaweedFS and LocalStack, s3rver): nothing fails, two runs each pay. So before a process
first pays into a bucket, :func:`check_store` writes scratch objects under the run's prefix and
asks the store to do what it must refuse:

1. create a new key: must succeed (this also proves the bucket writable);
2. create it again: must be refused;
3. replace it with its current ETag: must succeed (a store that refuses it would leave every
   ledger entry unchangeable);
4. replace it again with the ETag it had before: must be refused;
5. replace a key that does not exist: must be refused, not create it;
6. four creates of one new key at once: exactly one may succeed.

The scratch objects are deleted afterwards. The verdict is kept per endpoint and bucket for
an hour, so a process checks a store once however many runs it serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field

from prefect_gmicloud.errors import StorageError, UnsafeStore, WriteConflict
from prefect_gmicloud.storage.location import StorageLocation

#: Longest a check may take, in seconds, before the store is called unusable.
CHECK_DEADLINE_SECONDS = 20.0
#: How long a verdict is trusted, in seconds.
VERDICT_SECONDS = 3600.0
#: Concurrent creates of one key in the race check.
RACERS = 4
#: The folder under a run's prefix where the check writes (and deletes) its objects.
_SCRATCH = ".gmicloud-store-check"

#: Verdicts by (endpoint, bucket), with the monotonic time they were reached.
_VERDICTS: dict[tuple[str, str], tuple[StoreVerdict, float]] = {}


@dataclass(frozen=True)
class StoreVerdict:
    """What a store did when asked to break its own conditions.

    Attributes:
        endpoint: the store.
        bucket: the bucket checked.
        problems: each condition the store did not keep, one sentence each; empty when safe.
        seconds: how long the check took.
    """

    endpoint: str
    bucket: str
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def safe(self) -> bool:
        """Whether the store kept every condition."""
        return not self.problems

    def summary(self) -> str:
        """What the store did wrong, naming it."""
        return (
            f"the store at {self.endpoint} (bucket {self.bucket}) does not honour conditional "
            f"writes: {'; '.join(self.problems)}"
        )

    def explain(self) -> str:
        """One message naming the store, what it did wrong and what to do."""
        return (
            f"{self.summary()}. On it, two runs of one storyboard could each pay for the same "
            f"shot. Fix: {self.fix()}"
        )

    @staticmethod
    def fix() -> str:
        """What to do about a store that does not keep its conditions."""
        return (
            "use a store that honours If-None-Match and If-Match on PUT (AWS S3, Cloudflare "
            "R2, Ceph RGW, MinIO since 2024-08), or run with board_lock (--board-lock) so a "
            "Prefect lock lets only one run of a board pay at a time"
        )


def forget_verdicts() -> None:
    """Drop every kept verdict (the next run checks its store again)."""
    _VERDICTS.clear()


async def check_store(
    location: StorageLocation, *, deadline: float = CHECK_DEADLINE_SECONDS
) -> StoreVerdict:
    """The store's verdict on conditional writes: kept for an hour, checked when unknown.

    Args:
        location: the run's storage; scratch objects go under its prefix.
        deadline: the longest the check may take, in seconds.

    Raises:
        StorageError: the store could not be written or read at all (the message says which),
            or did not answer within ``deadline``.
    """
    cache_key = (location.store.endpoint, location.bucket)
    kept = _VERDICTS.get(cache_key)
    if kept is not None and time.monotonic() - kept[1] < VERDICT_SECONDS:
        return kept[0]
    started = time.monotonic()
    try:
        problems = await asyncio.wait_for(_problems(location), timeout=deadline)
    except TimeoutError:
        raise StorageError(
            location.uri(location.key(_SCRATCH)),
            f"the store at {location.store.endpoint} did not answer its conditional-write "
            f"check within {deadline:.0f} s",
        ) from None
    verdict = StoreVerdict(
        location.store.endpoint, location.bucket, problems, round(time.monotonic() - started, 3)
    )
    _VERDICTS[cache_key] = (verdict, time.monotonic())
    return verdict


async def require_safe_store(location: StorageLocation) -> StoreVerdict:
    """:func:`check_store`, refusing a store that does not keep its conditions.

    Raises:
        UnsafeStore: naming the store, what it did wrong and what to do.
        StorageError: the store could not be written or read at all.
    """
    verdict = await check_store(location)
    if not verdict.safe:
        raise UnsafeStore(location.uri(location.key(_SCRATCH)), verdict.explain())
    return verdict


async def _problems(location: StorageLocation) -> list[str]:
    """Run the checks, then delete the scratch objects (not when the deadline cut it short:
    a store that does not answer would hold the run up; they stay under the scratch folder)."""
    folder = location.key(_SCRATCH, uuid.uuid4().hex)
    keys = [f"{folder}/first", f"{folder}/absent", f"{folder}/raced"]
    try:
        return await _checks(location, *keys)
    finally:
        if not _cancelling():
            for key in keys:
                with contextlib.suppress(StorageError):
                    await location.store.delete(location.bucket, key)


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def _checks(location: StorageLocation, first: str, absent: str, raced: str) -> list[str]:
    store, bucket = location.store, location.bucket
    problems: list[str] = []
    try:
        await store.create(bucket, first, b"1")
    except UnsafeStore as exc:
        return [f"it refused a create-if-absent (If-None-Match: *) outright ({exc})"]
    if not await _refused(store.create(bucket, first, b"2")):
        problems.append("a second create-if-absent (If-None-Match: *) of one key was accepted")
    read = await store.head(bucket, first)
    if read is None:
        return [*problems, "an object it had just written was not there"]
    try:
        newer = await store.replace(bucket, first, b"3", etag=read.etag)
    except WriteConflict:
        return [*problems, "a replace with the object's current ETag (If-Match) was refused"]
    if not await _refused(store.replace(bucket, first, b"4", etag=read.etag)):
        problems.append("a replace with a stale ETag (If-Match) was accepted")
    if not await _refused(store.replace(bucket, absent, b"5", etag=newer.etag)):
        problems.append("a replace (If-Match) of a key that did not exist created it")
    races = await asyncio.gather(
        *(_refused(store.create(bucket, raced, b"%d" % n)) for n in range(RACERS))
    )
    won = races.count(False)
    if won != 1:
        problems.append(f"{won} of {RACERS} concurrent creates of one key were accepted")
    return problems


async def _refused(write: Awaitable[object]) -> bool:
    """Whether a conditional write was refused (its condition held against it)."""
    try:
        await write
    except WriteConflict:
        return True
    return False
