"""The ledger in S3: one object per shot, written only with conditional requests.

A claim is created with ``If-None-Match: *`` (only one run can create it) and every later change
is written with ``If-Match: <etag>`` (only over the version the writer read). So two runs on
any machines that share the bucket cannot both believe they own a shot: the loser of a race
gets 412, reads what the winner wrote and follows it. AWS S3, MinIO, Cloudflare R2 and moto
honour both headers.

Runs prove they are alive with a heartbeat object of their own, renewed while they run; a
claim whose run's heartbeat is older than the lease may be taken over.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ValidationError

from prefect_gmicloud.errors import LedgerConflict, StorageError
from prefect_gmicloud.ledger.entry import LedgerEntry
from prefect_gmicloud.storage.lookup import is_missing
from prefect_gmicloud.storage.s3 import S3Location

T = TypeVar("T")

#: Sets the lease: a run whose heartbeat is older is presumed dead and its claims may be taken
#: over. Longer survives longer storage outages; shorter lets a re-run after a crash start sooner.
LEASE_ENV = "PREFECT_GMICLOUD_LEASE_SECONDS"
DEFAULT_LEASE_SECONDS = 90.0


def lease_seconds() -> float:
    """The claim lease in seconds (``$PREFECT_GMICLOUD_LEASE_SECONDS``, default 90)."""
    return float(os.environ.get(LEASE_ENV) or DEFAULT_LEASE_SECONDS)


def heartbeat_seconds() -> float:
    """How often a run renews its heartbeat: six times a lease, so one lost write is harmless."""
    return lease_seconds() / 6


@dataclass(frozen=True)
class Versioned:
    """A ledger entry and the ETag of the version it was read from (or written as)."""

    entry: LedgerEntry
    etag: str


class Heartbeat(BaseModel):
    """A run's proof of life."""

    run: str
    host: str
    pid: int
    beat_at: float
    flow_run_id: str | None = None


class UnreadableEntry(StorageError):
    """A ledger entry exists but is not a ledger entry (corrupted, or written by something else)."""


#: S3's answers when a conditional write lost a race (409 when two writes were concurrent).
_CONFLICT_CODES = ("PreconditionFailed", "ConditionalRequestConflict")


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


class Ledger:
    """The shots of one storyboard under ``<folder>/`` of the run's storage.

    Args:
        location: the storage (client, bucket, prefix).
        folder: the key of the ledger's folder, e.g. ``gmicloud/cafe/ledger``.
    """

    def __init__(self, location: S3Location, folder: str) -> None:
        self.location = location
        self.folder = folder.rstrip("/")

    @property
    def uri(self) -> str:
        """The ledger's folder as an ``s3://`` URI."""
        return self.location.uri(self.folder + "/")

    def entry_key(self, inputs_hash: str) -> str:
        return f"{self.folder}/shots/{inputs_hash}.json"

    def _heartbeat_key(self, run: str) -> str:
        return f"{self.folder}/runs/{run}.json"

    async def _call(self, key: str, operation: Callable[[], T]) -> T:
        """Run a blocking S3 call off the loop; map its failures to ledger errors."""
        try:
            return await asyncio.to_thread(operation)
        except ClientError as exc:
            if _status(exc) == 412 or _code(exc) in (
                "PreconditionFailed",
                "ConditionalRequestConflict",
            ):
                raise LedgerConflict(f"{self.location.uri(key)} changed meanwhile") from None
            raise StorageError(self.location.uri(key), f"{_code(exc) or exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(self.location.uri(key), f"unreachable ({exc})") from exc

    # -- entries -------------------------------------------------------------------------------

    async def read(self, inputs_hash: str) -> Versioned | None:
        """The shot's entry and its ETag, or ``None`` when the shot has none.

        Raises:
            UnreadableEntry: the object is there but is not a ledger entry.
            StorageError: the storage could not be read.
        """
        key = self.entry_key(inputs_hash)
        client, bucket = self.location.client, self.location.bucket

        def get() -> tuple[bytes, str] | None:
            try:
                answer = client.get_object(Bucket=bucket, Key=key)
            except ClientError as exc:
                if is_missing(exc):
                    return None
                raise
            return answer["Body"].read(), answer["ETag"]

        found = await self._call(key, get)
        if found is None:
            return None
        body, etag = found
        try:
            entry = LedgerEntry.model_validate_json(body)
        except ValidationError as exc:
            raise UnreadableEntry(
                self.location.uri(key),
                f"not a ledger entry ({exc.error_count()} problem(s)); whether this shot was "
                "paid for cannot be told, so it is not submitted: inspect the object, then "
                "delete it to let the shot be generated again",
            ) from None
        return Versioned(entry, etag)

    async def create(self, entry: LedgerEntry) -> Versioned:
        """Write the shot's first entry, only if there is none (``If-None-Match: *``).

        Raises:
            LedgerConflict: another run created it first.
        """
        return await self._put(entry, if_match=None)

    async def replace(self, current: Versioned, entry: LedgerEntry) -> Versioned:
        """Write ``entry`` over ``current``, only if it is still the stored version.

        Raises:
            LedgerConflict: the entry changed since ``current`` was read.
        """
        return await self._put(entry, if_match=current.etag)

    async def _put(self, entry: LedgerEntry, if_match: str | None) -> Versioned:
        entry = entry.model_copy(update={"updated_at": time.time()})
        key = self.entry_key(entry.inputs_hash)
        body = entry.model_dump_json(indent=1).encode()
        client, bucket = self.location.client, self.location.bucket

        def put() -> str:
            if if_match is None:
                answer = client.put_object(
                    Bucket=bucket, Key=key, Body=body, ContentType="application/json",
                    IfNoneMatch="*",
                )  # fmt: skip
            else:
                answer = client.put_object(
                    Bucket=bucket, Key=key, Body=body, ContentType="application/json",
                    IfMatch=if_match,
                )  # fmt: skip
            return answer["ETag"]

        return Versioned(entry, await self._call(key, put))

    async def update(
        self, inputs_hash: str, change: Callable[[LedgerEntry], LedgerEntry]
    ) -> LedgerEntry | None:
        """Apply ``change`` to the shot's entry, read again and redone when another run wrote
        first; ``None`` when there is no entry."""
        while True:
            current = await self.read(inputs_hash)
            if current is None:
                return None
            try:
                return (await self.replace(current, change(current.entry))).entry
            except LedgerConflict:
                continue

    async def entries(self) -> list[LedgerEntry]:
        """Every readable entry of the ledger (unreadable ones are skipped)."""
        prefix = f"{self.folder}/shots/"
        client, bucket = self.location.client, self.location.bucket

        def keys() -> list[str]:
            found: list[str] = []
            for page in client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix
            ):
                found += [item["Key"] for item in page.get("Contents", [])]
            return found

        entries = []
        for key in await self._call(prefix, keys):
            try:
                versioned = await self.read(key.removeprefix(prefix).removesuffix(".json"))
            except UnreadableEntry:
                continue
            if versioned is not None:
                entries.append(versioned.entry)
        return entries

    # -- heartbeats ----------------------------------------------------------------------------

    async def beat(self, run: str, flow_run_id: str | None) -> None:
        """Renew ``run``'s heartbeat."""
        key = self._heartbeat_key(run)
        body = Heartbeat(
            run=run,
            host=socket.gethostname(),
            pid=os.getpid(),
            beat_at=time.time(),
            flow_run_id=flow_run_id,
        ).model_dump_json()
        client, bucket = self.location.client, self.location.bucket
        await self._call(key, lambda: client.put_object(Bucket=bucket, Key=key, Body=body.encode()))

    async def end(self, run: str) -> None:
        """Say ``run`` has ended: its claims may be taken over at once."""
        key = self._heartbeat_key(run)
        client, bucket = self.location.client, self.location.bucket
        await self._call(key, lambda: client.delete_object(Bucket=bucket, Key=key))

    async def is_alive(self, run: str) -> bool:
        """Whether ``run`` renewed its heartbeat within the lease."""
        key = self._heartbeat_key(run)
        client, bucket = self.location.client, self.location.bucket

        def get() -> dict[str, Any] | None:
            try:
                body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
            except ClientError as exc:
                if is_missing(exc):
                    return None
                raise
            loaded: dict[str, Any] = json.loads(body)
            return loaded

        try:
            found = await self._call(key, get)
        except ValueError:
            return False
        if found is None:
            return False
        return time.time() - float(found.get("beat_at", 0.0)) < lease_seconds()
