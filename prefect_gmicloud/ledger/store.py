"""The ledger in storage: one object per shot, written only with conditional requests.

A claim is created with "create if absent" (S3's ``If-None-Match: *``: only one run can
create it) and every later change is a "replace if unchanged" (``If-Match: <etag>``: only over
the version the writer read). So two runs on any machines that share the bucket cannot both
believe they own a shot: the loser of a race gets a conflict, reads what the winner wrote and
follows it. The store's conditions are proven before a run pays into it (``storage/probe.py``).

Runs prove they are alive with a heartbeat object of their own, renewed while they run. Whether
a heartbeat is fresh is judged on the store's clock alone: the object's ``Last-Modified``
against the ``Date`` of the answer that reports it, both written by the store. A worker whose
clock is minutes off neither takes over a live run's claims nor waits for ever on a dead one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from pydantic import BaseModel, ValidationError

from prefect_gmicloud.errors import UnreadableEntry, WriteConflict
from prefect_gmicloud.ledger.entry import LedgerEntry
from prefect_gmicloud.storage.location import StorageLocation
from prefect_gmicloud.storage.port import ObjectInfo

logger = logging.getLogger("prefect_gmicloud.ledger")

#: Sets the lease: a run whose heartbeat is older is presumed dead and its claims may be taken
#: over. Longer survives longer storage outages; shorter lets a re-run after a crash start sooner
#: (a run is judged by the longer of the judge's lease and the one its own heartbeat states).
LEASE_ENV = "PREFECT_GMICLOUD_LEASE_SECONDS"
DEFAULT_LEASE_SECONDS = 90.0


#: The least margin by which a run trusts its own lease (see ``Ledger.holds_lease``).
LEASE_MARGIN_SECONDS = 2.0


def lease_seconds() -> float:
    """The claim lease in seconds (``$PREFECT_GMICLOUD_LEASE_SECONDS``, default 90)."""
    return float(os.environ.get(LEASE_ENV) or DEFAULT_LEASE_SECONDS)


def heartbeat_seconds() -> float:
    """How often a run renews its heartbeat: six times a lease, so one lost write is harmless."""
    return lease_seconds() / 6


@dataclass(frozen=True)
class Versioned:
    """A ledger entry and the version it was read from (or written as).

    Attributes:
        entry: the entry.
        info: what the store said of that version: its ETag (for the next conditional write)
            and when it was written, on the store's clock.
        seen_at: this machine's Unix time when the store's answer arrived.
        arrived: this machine's monotonic time then (for ages that must not jump).
    """

    entry: LedgerEntry
    info: ObjectInfo
    seen_at: float = field(default_factory=time.time)
    arrived: float = field(default_factory=time.monotonic)

    @property
    def etag(self) -> str:
        return self.info.etag

    def written_at(self) -> float | None:
        """When this version was written, in this machine's Unix time, or ``None`` if the store
        gave no times.

        Measured as an age on the store's clock (its ``Date`` less the version's
        ``Last-Modified``) taken from when the answer arrived here, so it holds whatever the
        offset between the two clocks (to the second: S3's dates have no finer resolution).
        """
        age = age_on_store_clock(self.info)
        return None if age is None else self.seen_at - age


class Heartbeat(BaseModel):
    """A run's proof of life (its time is the writer's, for people; the store's decides).

    Attributes:
        lease_seconds: the lease its run keeps (it beats six times a lease): a judge whose own
            lease is shorter waits this long instead, so a worker started with a shorter lease
            never takes a live run's claims over (older heartbeats have none).
    """

    run: str
    host: str
    pid: int
    beat_at: float
    flow_run_id: str | None = None
    lease_seconds: float | None = None


def age_on_store_clock(info: ObjectInfo) -> float | None:
    """Seconds since an object was written, on the store's clock; ``None`` if it cannot say."""
    if info.last_modified is None or info.store_time is None:
        return None
    return info.store_time - info.last_modified


class Ledger:
    """The shots of one storyboard under ``<folder>/`` of the run's storage.

    Args:
        location: the storage (store, bucket, prefix).
        folder: the key of the ledger's folder, e.g. ``gmicloud/cafe/ledger``.
    """

    def __init__(self, location: StorageLocation, folder: str) -> None:
        self.location = location
        self.folder = folder.rstrip("/")
        #: The latest version of each entry this process read or wrote, by key: ``entries``
        #: reads again only the entries the listing shows changed since.
        self._seen: dict[str, Versioned] = {}
        #: When (monotonic) each run's latest heartbeat that the store dated was sent.
        self._beats_sent: dict[str, float] = {}
        #: The entries a listing made by ``list_absent`` did not show (``None``: no listing).
        self._listed: frozenset[str] | None = None

    @property
    def uri(self) -> str:
        """The ledger's folder as an ``s3://`` URI."""
        return self.location.uri(self.folder + "/")

    def entry_key(self, inputs_hash: str) -> str:
        return f"{self.folder}/shots/{inputs_hash}.json"

    def _heartbeat_key(self, run: str) -> str:
        return f"{self.folder}/runs/{run}.json"

    # -- entries -------------------------------------------------------------------------------

    async def read(self, inputs_hash: str) -> Versioned | None:
        """The shot's entry and its version, or ``None`` when the shot has none.

        Raises:
            UnreadableEntry: the object is there but is not a ledger entry.
            StorageError: the storage could not be read.
        """
        key = self.entry_key(inputs_hash)
        body = await self.location.store.read(self.location.bucket, key)
        if body is None:
            self._seen.pop(key, None)
            return None
        try:
            entry = LedgerEntry.model_validate_json(body.data)
        except ValidationError as exc:
            raise UnreadableEntry(
                self.location.uri(key),
                f"not a ledger entry ({exc.error_count()} problem(s)); whether this shot was "
                "paid for cannot be told, so it is not submitted: inspect the object, then "
                "delete it to let the shot be generated again",
            ) from None
        return self._saw(key, Versioned(entry, body.info))

    def _saw(self, key: str, versioned: Versioned) -> Versioned:
        self._seen[key] = versioned
        return versioned

    async def create(self, entry: LedgerEntry) -> Versioned:
        """Write the shot's first entry, only if there is none.

        Raises:
            WriteConflict: another run created it first.
        """
        entry, key, data = self._serialised(entry)
        info = await self.location.store.create(self.location.bucket, key, data)
        return self._saw(key, Versioned(entry, info))

    async def replace(self, current: Versioned, entry: LedgerEntry) -> Versioned:
        """Write ``entry`` over ``current``, only if it is still the stored version.

        Raises:
            WriteConflict: the entry changed (or vanished) since ``current`` was read.
        """
        entry, key, data = self._serialised(entry)
        info = await self.location.store.replace(self.location.bucket, key, data, etag=current.etag)
        return self._saw(key, Versioned(entry, info))

    def _serialised(self, entry: LedgerEntry) -> tuple[LedgerEntry, str, bytes]:
        entry = entry.model_copy(update={"updated_at": time.time()})
        return entry, self.entry_key(entry.inputs_hash), entry.model_dump_json(indent=1).encode()

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
            except WriteConflict:
                continue

    async def list_entries(self) -> None:
        """List the entries once, so that ``listed_absent`` can answer without a read."""
        prefix = f"{self.folder}/shots/"
        listed = await self.location.store.list_objects(self.location.bucket, prefix)
        self._listed = frozenset(info.key for info in listed)

    def listed_absent(self, inputs_hash: str) -> bool:
        """Whether the listing made by ``list_entries`` showed no entry for the shot, and this
        process has not read or written one since.

        Only a hint, as old as the listing: a caller acting on it must write conditionally
        (``create`` is refused if another run created the entry since), or hold the board's
        lock since before the listing (a store without conditional writes).
        """
        key = self.entry_key(inputs_hash)
        return self._listed is not None and key not in self._listed and key not in self._seen

    async def entries(self) -> list[LedgerEntry]:
        """Every readable entry of the ledger (unreadable ones are skipped).

        An entry whose listed ETag is the version this process last read or wrote is not read
        again: a run that wrote every entry itself lists once and reads nothing.
        """
        prefix = f"{self.folder}/shots/"
        listed = await self.location.store.list_objects(self.location.bucket, prefix)
        entries = []
        for info in listed:
            known = self._seen.get(info.key)
            if known is not None and known.etag == info.etag:
                entries.append(known.entry)
                continue
            try:
                versioned = await self.read(info.key.removeprefix(prefix).removesuffix(".json"))
            except UnreadableEntry:
                continue
            if versioned is not None:
                entries.append(versioned.entry)
        return entries

    # -- heartbeats ----------------------------------------------------------------------------

    async def beat(self, run: str, flow_run_id: str | None) -> None:
        """Renew ``run``'s heartbeat."""
        body = Heartbeat(
            run=run,
            host=socket.gethostname(),
            pid=os.getpid(),
            beat_at=time.time(),
            flow_run_id=flow_run_id,
            lease_seconds=lease_seconds(),
        ).model_dump_json()
        sent = time.monotonic()
        info = await self.location.store.write(
            self.location.bucket, self._heartbeat_key(run), body.encode()
        )
        if info.store_time is not None:
            self._beats_sent[run] = sent

    def holds_lease(self, run: str) -> bool:
        """Whether no other run can have judged ``run`` dead yet, so none can have taken over
        a claim of it.

        True while this process's latest heartbeat of ``run`` was sent (and dated by the
        store, the clock every judge uses) less than the lease ago, less a safety margin (a
        third of the lease, at least ``LEASE_MARGIN_SECONDS``: S3's dates are whole seconds,
        and a store's hosts may differ a little): its ``Last-Modified`` is at least that recent
        on the store's own
        clock, whatever this machine's clock says, and every judge waits at least this lease
        (the heartbeat states it, see ``is_alive``), whatever its own. False when unsure (no
        dated beat yet, beats failing, the run ended).
        """
        sent = self._beats_sent.get(run)
        if sent is None:
            return False
        lease = lease_seconds()
        return time.monotonic() - sent < lease - max(lease / 3, LEASE_MARGIN_SECONDS)

    async def end(self, run: str) -> None:
        """Say ``run`` has ended: its claims may be taken over at once."""
        self._beats_sent.pop(run, None)
        await self.location.store.delete(self.location.bucket, self._heartbeat_key(run))

    @contextlib.asynccontextmanager
    async def alive(self, run: str, flow_run_id: str | None) -> AsyncIterator[None]:
        """Keep ``run``'s heartbeat fresh while inside; say the run ended when leaving.

        The first beat is written before entering: a storage that cannot take it fails the
        run before anything is paid.
        """
        await self.beat(run, flow_run_id)
        renewing = asyncio.ensure_future(self._keep_beating(run, flow_run_id))
        try:
            yield
        finally:
            renewing.cancel()
            with contextlib.suppress(Exception):
                await self.end(run)

    async def _keep_beating(self, run: str, flow_run_id: str | None) -> None:
        """Renew the heartbeat so other runs follow this run's claims instead of taking them."""
        while True:
            await asyncio.sleep(heartbeat_seconds())
            try:
                await self.beat(run, flow_run_id)
            except Exception as exc:
                logger.warning("heartbeat of run %s not renewed: %s", run[:8], exc)

    async def is_alive(self, run: str) -> bool:
        """Whether ``run`` renewed its heartbeat within the lease, on the store's clock.

        The lease is the longer of this process's and the one the heartbeat states (its run's):
        a run beats six times its own lease, so a judge with a shorter one would find it dead
        between beats. A store that gives no ``Last-Modified`` or ``Date`` cannot be judged so;
        then (and only then) the heartbeat's own time is compared with this machine's clock,
        and a warning says so.
        """
        key = self._heartbeat_key(run)
        body = await self.location.store.read(self.location.bucket, key)
        if body is None:
            return False
        try:
            beat: Heartbeat | None = Heartbeat.model_validate_json(body.data)
        except ValidationError:
            beat = None
        lease = max(lease_seconds(), (beat.lease_seconds or 0.0) if beat else 0.0)
        age = age_on_store_clock(body.info)
        if age is None:
            logger.warning(
                "the store at %s gives no Last-Modified or Date: heartbeat %s judged on this "
                "machine's clock",
                self.location.store.endpoint,
                self.location.uri(key),
            )
            age = time.time() - beat.beat_at if beat else float("inf")
        return age < lease
