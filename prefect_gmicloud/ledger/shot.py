"""One shot, paid for exactly once across runs, processes and machines.

The order is write-ahead: **claim → submit → record the id → wait → store → mark stored**. The
claim is created with ``If-None-Match: *``; the id is written over the claim with ``If-Match``
before any other I/O. A run that finds a shot claimed by a live run follows that run's request;
a claim whose run is dead is taken over, and if it holds no request id (its run died between
submit and record) the request is looked for in ``GET /requests`` before anything is paid.
"Unknown" is never "not paid": an id is only set aside (kept in the entry's history) when GMI
says the request failed or was cancelled, or, when the caller asks, that it does not exist.

No Prefect import here: storing, quotas and reporting are the caller's, given as one
:class:`~prefect_gmicloud.ledger.shot_side.ShotSide`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from prefect_gmicloud.client.http import GMICloudClient
from prefect_gmicloud.client.records import GMIRequest, RequestStatus
from prefect_gmicloud.client.wait_schedule import WaitPolicy
from prefect_gmicloud.errors import (
    AuthenticationError,
    GMICloudError,
    NotFoundError,
    RateLimitError,
    RequestCancelled,
    RequestFailed,
    ServerError,
    StorageError,
    SubmitOutcomeUnknown,
    TransportError,
    WaitTimeout,
    WriteConflict,
)
from prefect_gmicloud.ledger import journal
from prefect_gmicloud.ledger.entry import Attempt, Claim, LedgerEntry
from prefect_gmicloud.ledger.gate import SubmitGate
from prefect_gmicloud.ledger.shot_side import ShotSide
from prefect_gmicloud.ledger.store import Ledger, Versioned
from prefect_gmicloud.models.registry import AnyPayload
from prefect_gmicloud.models.spec import OutputKind
from prefect_gmicloud.storage.location import StoredObject

logger = logging.getLogger("prefect_gmicloud.ledger")

#: How often a run following another live run's claim looks at the ledger again.
FOLLOW_POLL_SECONDS = 2.0
#: The longest pause between attempts to record a paid id while the storage is unreachable.
RECORD_RETRY_MAX_SECONDS = 10.0

#: A claim this run wrote less than this long before paying is not confirmed again (see
#: ``ShotRunner._confirm``): a shot that waited for anything longer is.
FRESH_CLAIM_SECONDS = 1.0

How = Literal["reused", "submitted", "resumed", "followed", "none"]


@dataclass(frozen=True)
class ShotJob:
    """What one shot asks for."""

    shot_id: str
    inputs_hash: str
    payload: AnyPayload
    #: What its request must make to be stored: a board's stills make images, its sound audio.
    output: OutputKind = "video"


@dataclass
class ShotResult:
    """What became of one shot in this run."""

    shot_id: str
    inputs_hash: str
    state: Literal["stored", "failed", "submitted", "claimed"]
    how: How = "none"
    request_id: str | None = None
    objects: dict[str, StoredObject] = field(default_factory=dict)
    error: str | None = None
    wait_seconds: float | None = None
    transfer_seconds: float | None = None
    #: The error behind ``error``, when one was raised (for callers that re-raise it).
    failure: GMICloudError | None = None

    @property
    def paid_not_stored(self) -> bool:
        """A live or finished request exists for this shot, but its files are not stored."""
        return self.request_id is not None and self.state == "submitted"


@dataclass
class ShotRunner:
    """Everything the shots of one run share.

    Args:
        ledger: the storyboard's ledger.
        client: a GMI client.
        run: this run's token (its claims and heartbeat carry it).
        side: what the caller supplies for its shots: the payload to send, how stored files
            are found, checked and stored, the quota slot, what holds around a submit and what
            is told once an id is recorded (see :class:`ShotSide` for each one's contract).
        policy: how to wait for a request.
        gate: the run's submit gate.
        flow_run_id: recorded in claims, for people reading the ledger.
        force: set aside what is stored and pay for every shot again.
        resubmit_missing: pay again for a shot whose recorded request GMI answers 404 for.
    """

    ledger: Ledger
    client: GMICloudClient
    run: str
    side: ShotSide
    policy: WaitPolicy
    gate: SubmitGate = field(default_factory=SubmitGate)
    flow_run_id: str | None = None
    force: bool = False
    resubmit_missing: bool = False
    #: The request id of each shot once this run knows it (recorded, found or resumed).
    requests: dict[str, str] = field(default_factory=dict)

    def _claim(self) -> Claim:
        return Claim.new(self.run, self.flow_run_id)

    async def store_shot(self, job: ShotJob) -> ShotResult:
        """Bring the shot to "stored", paying only if no live or past request can give it.

        Every error that is not a stop is returned as a failed result naming the shot and,
        when one exists, its request id (still in the ledger).
        """
        try:
            return await self._settle(job)
        except GMICloudError as exc:
            # Ledger outages, unknown submit outcomes...: the shot fails; its ledger entry
            # (if any) is untouched, so the next run decides from what is recorded.
            request_id = self.requests.get(job.shot_id)
            state: Literal["failed", "submitted"] = "submitted" if request_id else "failed"
            return ShotResult(
                job.shot_id, job.inputs_hash, state, request_id=request_id, error=str(exc),
                failure=exc,
            )  # fmt: skip

    async def _settle(self, job: ShotJob) -> ShotResult:
        followed = False  # another live run's request was waited for
        # A shot the run's listing showed without an entry goes straight to a conditional
        # create (a conflict reads what the other run wrote); otherwise read it first.
        unread = self.ledger.listed_absent(job.inputs_hash)
        while True:
            current = None if unread else await self.ledger.read(job.inputs_hash)
            unread = False
            if current is None:
                result = await self._first_claim(job)
                if result is not None:
                    return result
                continue
            entry = current.entry
            if entry.state == "stored" and not self.force:
                if await self.side.still_stored(job, entry.objects):
                    return self._result(entry, "stored", "followed" if followed else "reused")
            elif entry.claim.run != self.run and await self.ledger.is_alive(entry.claim.run):
                result = await self._follow_live_run(job, entry)
                if result is not None:
                    return result
                followed = True
                await asyncio.sleep(FOLLOW_POLL_SECONDS)
                continue
            try:
                taken = await self.ledger.replace(
                    current, entry.model_copy(update={"claim": self._claim()})
                )
            except WriteConflict:
                continue
            try:
                return await self._own(job, taken, previous=current)
            except _ClaimLost:
                continue  # another run took the shot while this one waited: see what it did

    async def _first_claim(self, job: ShotJob) -> ShotResult | None:
        """No entry: adopt stored objects, or claim the shot and pay. ``None``: lost a race.

        A shot to pay for takes its slot first and is claimed then, just before paying: its
        claim needs no confirming (see ``_confirm``), and a run whose shots wait for slots
        does not claim them all at its start (a board of 300 at 50 at a time wrote 300
        claims at once, then confirmed 250 of them).
        """
        found = None if self.force else await self.side.find_stored(job)
        objects, request_id = found if found else ({}, None)
        async with contextlib.AsyncExitStack() as slot:
            if not found:
                await slot.enter_async_context(self.side.slot())
            sent = job.payload.to_payload()
            entry = LedgerEntry(
                inputs_hash=job.inputs_hash,
                shot_id=job.shot_id,
                model=job.payload.model_id,
                prompt=sent.get("prompt"),
                seed=sent.get("seed"),
                seconds=sent.get("duration"),
                state="stored" if found else "claimed",
                claim=self._claim(),
                objects=objects,
                request_id=request_id,
            )
            try:
                created = await self.ledger.create(entry)
            except WriteConflict:
                return None
            if found:
                logger.info(
                    "shot %s: found stored with the same inputs; ledger rebuilt", job.shot_id
                )
                return self._result(created.entry, "stored", "reused")
            try:
                return await self._own(job, created, previous=None, slot=slot)
            except _ClaimLost:
                return None

    async def _follow_live_run(self, job: ShotJob, entry: LedgerEntry) -> ShotResult | None:
        """Another live run holds the shot: wait on its request; ``None`` to look again."""
        if entry.state == "failed":
            return self._result(entry, "failed", "followed")
        if entry.request_id is None:
            return None  # it is submitting right now
        logger.info(
            "shot %s: run %s already paid for request %s; following it",
            job.shot_id, entry.claim.run[:8], entry.request_id,
        )  # fmt: skip
        try:
            await self.client.wait(entry.request_id, policy=self.policy, raise_on_failure=False)
        except GMICloudError as exc:
            return self._result(entry, "failed", "followed", error=str(exc))
        return None  # its run stores it: read the ledger again

    async def _own(
        self,
        job: ShotJob,
        current: Versioned,
        previous: Versioned | None,
        slot: contextlib.AsyncExitStack | None = None,
    ) -> ShotResult:
        """This run holds the claim: find, resume or pay for the request, then store it.

        The shot holds a slot (its run's and the shared quota's) from before the submit until
        its request ends; storing the files happens after, so the next shot's request starts
        meanwhile. ``slot``: the slot the shot holds already (none: it takes one here).

        Raises:
            _ClaimLost: another run took the claim over while this one waited to pay.
        """
        async with contextlib.AsyncExitStack() as own:
            if slot is None:
                slot = own
                await slot.enter_async_context(self.side.slot())
            if self.force and current.entry.request_id is not None:
                current = await self._set_aside(current, "regenerated (force)")
            elif current.entry.request_id is None and previous is not None:
                # A run claimed the shot and ended before recording: did it pay? Its last
                # write (the claim, confirmed just before any submit) bounds when.
                found = await self.client.find_request(
                    job.payload.model_id,
                    job.payload.to_payload(),
                    created_after=_claim_written_at(previous),
                    exclude=await self._recorded_ids(),
                    why=f"shot {job.shot_id}: claimed by a run that ended before recording",
                )
                if found is not None:
                    logger.warning(
                        "shot %s: found request %s submitted by an earlier run; resuming it",
                        job.shot_id, found.request_id,
                    )  # fmt: skip
                    created = found.created_at.timestamp() if found.created_at else time.time()
                    current = await self._record(job, current, found.request_id, created)
                    return await self._finish(job, current, "resumed", slot)
            if current.entry.request_id is not None:
                self.requests[job.shot_id] = current.entry.request_id
                return await self._resume(job, current, slot)
            return await self._submit(job, current, slot)

    async def _resume(
        self, job: ShotJob, current: Versioned, slot: contextlib.AsyncExitStack
    ) -> ShotResult:
        request_id = current.entry.request_id
        assert request_id is not None
        try:
            request = await self.client.get(request_id)
        except NotFoundError:
            if not self.resubmit_missing:
                return self._result(
                    current.entry, "failed", "none",
                    error=(
                        f"GMI answers 404 for request {request_id}, recorded for this shot; it "
                        "stays recorded. If it is truly gone, run again with resubmit_missing "
                        "(--resubmit-missing) to pay for the shot again"
                    ),
                )  # fmt: skip
            current = await self._set_aside(current, "missing (404)")
            return await self._submit(job, current, slot)
        except (AuthenticationError, ServerError, RateLimitError, TransportError) as exc:
            return self._result(
                current.entry, "failed", "none",
                error=f"status of request {request_id} unread ({exc}); it stays recorded",
            )  # fmt: skip
        if request.status in (RequestStatus.FAILED, RequestStatus.CANCELLED):
            reason = request.failure_reason or str(request.status)
            current = await self._set_aside(current, f"{request.status}: {reason}"[:300])
            return await self._submit(job, current, slot)
        logger.info("shot %s: resuming request %s", job.shot_id, request_id)
        return await self._finish(job, current, "resumed", slot)

    async def _submit(
        self, job: ShotJob, current: Versioned, slot: contextlib.AsyncExitStack
    ) -> ShotResult:
        payload = await self.side.prepare(job)
        model = job.payload.model_id
        self.gate.check(model)  # refused (credits, model, stopping): no budget taken, unpaid

        async def paid() -> tuple[GMIRequest, Versioned]:
            confirmed = await self._confirm(current)
            try:
                request = await self.client.submit(payload)
            except SubmitOutcomeUnknown as exc:
                raise SubmitOutcomeUnknown(model, f"shot {job.shot_id}: {exc.detail}") from exc
            return request, await self._record(job, confirmed, request.request_id, time.time())

        async with self.side.before_submit(job):
            request, current = await self.gate.paid(paid, model)
        with contextlib.suppress(Exception):  # reporting never costs a paid request
            await self.side.on_submitted(job, request)
        return await self._finish(job, current, "submitted", slot)

    async def _confirm(self, current: Versioned) -> Versioned:
        """Write the claim again, only over the version this run holds, right before paying.

        A shot may have waited long (for a quota slot, a budget, its source shot, the submit
        gate) since it was claimed; meanwhile another run may have judged this one dead and
        taken the shot. Only a conditional write can tell, and it also dates the claim on the
        store's clock just before the submit (what a later run's lookup starts from).

        A shot that did not wait (claimed less than ``FRESH_CLAIM_SECONDS`` ago) by a run that
        provably holds its lease (its heartbeat fresh on the store's clock, see
        ``Ledger.holds_lease``) skips the write: no run can have judged this one dead in
        between. A later run's lookup then starts from the claim's first write, a moment
        earlier, so still safe.

        Raises:
            _ClaimLost: the entry changed since: this run no longer holds the shot.
        """
        fresh = time.monotonic() - current.arrived < FRESH_CLAIM_SECONDS
        if fresh and self.ledger.holds_lease(self.run):
            return current
        try:
            return await self.ledger.replace(
                current, current.entry.model_copy(update={"claim": self._claim()})
            )
        except WriteConflict:
            logger.warning(
                "shot %s: another run took it over while this run waited; not paying",
                current.entry.shot_id,
            )
            raise _ClaimLost from None

    async def _record(
        self, job: ShotJob, current: Versioned, request_id: str, submitted_at: float
    ) -> Versioned:
        """Write the paid id over the claim, first of all; hold submits while it cannot be.

        While the storage refuses, the id is logged at ERROR and journalled locally, and no
        other submit of this run starts; writing is retried until it succeeds.
        """
        self.requests[job.shot_id] = request_id
        journalled: journal.JournalLine | None = None
        pause = 0.5
        while True:
            entry = _with_request(current.entry, request_id, submitted_at)
            try:
                recorded = await self.ledger.replace(current, entry)
                break
            except WriteConflict:
                newer = await self.ledger.read(job.inputs_hash)
                if newer is None:
                    recorded = await self.ledger.create(entry)
                    break
                current = newer
            except StorageError as exc:
                if journalled is None:
                    journalled = journal.JournalLine(
                        ledger=self.ledger.uri,
                        inputs_hash=job.inputs_hash,
                        shot_id=job.shot_id,
                        model=job.payload.model_id,
                        request_id=request_id,
                        submitted_at=submitted_at,
                    )
                    where = await asyncio.to_thread(journal.append, journalled)
                    self.gate.hold(request_id)
                    logger.error(
                        "PAID request %s of shot %s is not in the ledger %s yet (%s); "
                        "journalled in %s; no new submits until it is recorded",
                        request_id, job.shot_id, self.ledger.uri, exc, where,
                    )  # fmt: skip
                await asyncio.sleep(pause)
                pause = min(pause * 2, RECORD_RETRY_MAX_SECONDS)
        if journalled is not None:
            await asyncio.to_thread(journal.remove, [journalled])
            self.gate.release(request_id)
            logger.warning("request %s of shot %s is in the ledger now", request_id, job.shot_id)
        return recorded

    async def _set_aside(self, current: Versioned, outcome: str) -> Versioned:
        """Move the entry's request into its history; the entry is claimed again, without id."""
        entry = current.entry
        assert entry.request_id is not None
        history = [*entry.history, Attempt(request_id=entry.request_id, outcome=outcome)]
        cleared = entry.model_copy(
            update={
                "state": "claimed", "request_id": None, "submitted_at": None, "objects": {},
                "error": None, "history": history, "claim": self._claim(),
            }
        )  # fmt: skip
        return await self.ledger.replace(current, cleared)

    async def _finish(
        self, job: ShotJob, current: Versioned, how: How, slot: contextlib.AsyncExitStack
    ) -> ShotResult:
        """Wait for the recorded request, give back its slot, store its files, mark the shot
        stored."""
        request_id = current.entry.request_id
        assert request_id is not None
        started = time.monotonic()
        try:
            done = await self.client.wait(request_id, policy=self.policy, raise_on_failure=False)
        except (WaitTimeout, AuthenticationError, NotFoundError) as exc:
            result = self._result(current.entry, "submitted", how, error=str(exc))
            result.failure = exc
            return result
        try:
            await slot.aclose()  # the request has ended: it no longer holds a quota slot
        except Exception as exc:  # its files are paid for: store them anyway
            logger.warning(
                "shot %s: its quota slot was not given back (%s); a Prefect slot is freed when "
                "its lease expires",
                job.shot_id, exc,
            )  # fmt: skip
        waited = time.monotonic() - started
        if done.status != RequestStatus.SUCCESS:
            reason = done.failure_reason or "no reason given"
            error = f"GMI request {request_id} {done.status}: {reason}"
            failed = await self._mark_failed(job, current, how, error)
            cancelled = done.status == RequestStatus.CANCELLED
            failed.failure = RequestCancelled(done) if cancelled else RequestFailed(done)
            return failed
        if not any(asset.kind == job.output for asset in done.assets):
            made = "a video" if job.output == "video" else f"an {job.output}"
            error = f"GMI request {request_id} succeeded without {made} (only {_roles(done)})"
            return await self._mark_failed(job, current, how, error)
        try:
            objects = await self.side.store(job, done)
        except (GMICloudError, OSError) as exc:
            error = f"request {request_id} is paid but its files are not stored: {exc}"
            result = self._result(current.entry, "submitted", how, error=error)
            result.failure = exc if isinstance(exc, GMICloudError) else None
            return result
        transferred = time.monotonic() - started - waited
        try:
            stored = await self._mark(job, current, state="stored", objects=objects, error=None)
        except StorageError as exc:
            error = f"request {request_id}'s files are stored but the ledger is not updated: {exc}"
            return self._result(current.entry, "submitted", how, error=error)
        result = self._result(stored, "stored", how)
        result.wait_seconds, result.transfer_seconds = round(waited, 3), round(transferred, 3)
        return result

    async def _mark_failed(
        self, job: ShotJob, current: Versioned, how: How, error: str
    ) -> ShotResult:
        entry = await self._mark(job, current, state="failed", objects={}, error=error[:500])
        return self._result(entry, "failed", how, error=error)

    async def _mark(
        self,
        job: ShotJob,
        current: Versioned,
        *,
        state: Literal["stored", "failed"],
        objects: dict[str, StoredObject],
        error: str | None,
    ) -> LedgerEntry:
        """Write the shot's end state over the version this run holds (merging on conflict)."""
        while True:
            update = {"state": state, "objects": objects, "error": error}
            entry = current.entry.model_copy(update=update)
            try:
                return (await self.ledger.replace(current, entry)).entry
            except WriteConflict:
                newer = await self.ledger.read(job.inputs_hash)
                if newer is None or newer.entry.request_id != current.entry.request_id:
                    # Someone set this request aside meanwhile: leave their decision.
                    return newer.entry if newer else entry
                if newer.entry.state == "stored":
                    return newer.entry
                current = newer

    async def _recorded_ids(self) -> set[str]:
        """Every request id the ledger knows: none of them can be the one a lost submit made."""
        return {rid for entry in await self.ledger.entries() for rid in entry.paid_request_ids}

    @staticmethod
    def _result(
        entry: LedgerEntry, state: Literal["stored", "failed", "submitted"], how: How,
        error: str | None = None,
    ) -> ShotResult:  # fmt: skip
        return ShotResult(
            shot_id=entry.shot_id,
            inputs_hash=entry.inputs_hash,
            state=state,
            how=how,
            request_id=entry.request_id,
            objects=dict(entry.objects) if state == "stored" else {},
            error=error if error is not None else entry.error if state == "failed" else None,
        )


async def replay_journal(
    ledger: Ledger, logger: logging.Logger | logging.LoggerAdapter[Any]
) -> int:
    """Write the ids journalled on this machine for ``ledger`` into it; return how many.

    Each line's id goes into its shot's entry (an id already there stays, the journalled one
    joins it in the history: both were paid). Lines leave the journal once written.
    """
    lines = await asyncio.to_thread(journal.pending, ledger.uri)
    for line in lines:
        while True:
            current = await ledger.read(line.inputs_hash)
            try:
                if current is None:
                    entry = LedgerEntry(
                        inputs_hash=line.inputs_hash,
                        shot_id=line.shot_id,
                        model=line.model,
                        state="submitted",
                        claim=Claim.new("journal", None),
                        request_id=line.request_id,
                        submitted_at=line.submitted_at,
                    )
                    await ledger.create(entry)
                elif line.request_id not in current.entry.paid_request_ids:
                    recorded = _with_request(current.entry, line.request_id, line.submitted_at)
                    await ledger.replace(current, recorded)
                break
            except WriteConflict:
                continue
        logger.warning("journalled request %s of shot %s recorded", line.request_id, line.shot_id)
    await asyncio.to_thread(journal.remove, lines)
    return len(lines)


def _with_request(entry: LedgerEntry, request_id: str, submitted_at: float) -> LedgerEntry:
    """``entry`` with ``request_id`` recorded; a different id already there goes to history."""
    history = list(entry.history)
    if entry.request_id not in (None, request_id):
        assert entry.request_id is not None
        history.append(
            Attempt(request_id=entry.request_id, outcome="superseded by a concurrent run")
        )
    return entry.model_copy(
        update={
            "state": "submitted", "request_id": request_id, "submitted_at": submitted_at,
            "error": None, "history": history,
        }
    )  # fmt: skip


class _ClaimLost(Exception):
    """This run's claim was taken over before it paid: read the ledger again."""


#: How much earlier than a claim's store time a request it made may look, to GMI: the store's
#: dates have a resolution of one second, and a write's date is when the store answered it.
CLAIM_TIME_MARGIN_SECONDS = 2.0
#: Without the store's dates, a claim's time is its writer's clock: this much margin for skew.
UNDATED_CLAIM_MARGIN_SECONDS = 600.0


def _claim_written_at(version: Versioned) -> float:
    """This machine's Unix time no request made under ``version``'s claim can be older than."""
    written = version.written_at()
    if written is None:  # the store gives no dates: the claimer's own clock, with a wide margin
        return version.entry.claim.claimed_at - UNDATED_CLAIM_MARGIN_SECONDS
    return written - CLAIM_TIME_MARGIN_SECONDS


def _roles(request: GMIRequest) -> str:
    return ", ".join(asset.role for asset in request.assets) or "no files"
