"""One execution of a storyboard: its shots settled through the ledger, the manifest kept as a
view, progress shown, and SIGTERM/SIGINT/cancellation turned into a clean stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prefect import get_run_logger
from prefect.artifacts import acreate_progress_artifact, aupdate_progress_artifact
from prefect.events import emit_event

from prefect_gmicloud.client.records import GMIRequest
from prefect_gmicloud.errors import StoryboardInterrupted
from prefect_gmicloud.ledger import journal
from prefect_gmicloud.ledger.entry import LedgerEntry, ReviewMark
from prefect_gmicloud.ledger.shot import ShotJob, ShotResult, ShotRunner
from prefect_gmicloud.ledger.store import Ledger
from prefect_gmicloud.reporting import best_effort
from prefect_gmicloud.storyboard.manifest import Manifest, ManifestStore, ShotRecord, ShotVersion
from prefect_gmicloud.storyboard.plan import PlannedShot

#: After SIGTERM/SIGINT/cancellation, how long submits under way get to record their ids.
STOP_GRACE_SECONDS = 10.0
#: While shots end, the manifest is written at most once per this many seconds per shot of
#: the board, and at most once a second (see ``ManifestSaves``).
MANIFEST_SECONDS_PER_SHOT = 0.02
MANIFEST_MIN_SECONDS = 1.0


@contextlib.contextmanager
def stop_on_signals(stop: Callable[[str], None]) -> Iterator[None]:
    """Call ``stop`` on SIGTERM or SIGINT instead of dying mid-submit (main thread only).

    A cancelling Prefect worker, Kubernetes and ECS all send SIGTERM; the previous handlers
    (Prefect's own among them) come back afterwards.
    """
    loop = asyncio.get_running_loop()
    installed = []
    for number in (signal.SIGTERM, signal.SIGINT):
        try:
            previous = signal.getsignal(number)
            loop.add_signal_handler(number, stop, number.name)
        except (NotImplementedError, RuntimeError, ValueError):
            continue  # not the main thread, or no signals here: Prefect's handling stands
        installed.append((number, previous))
    try:
        yield
    finally:
        for number, previous in installed:
            loop.remove_signal_handler(number)
            signal.signal(number, previous)


def job_of(shot: PlannedShot) -> ShotJob:
    return ShotJob(shot.shot_id, shot.inputs_hash, shot.payload, shot.output)


@dataclass
class StoryboardRun:
    """The state one run of a storyboard shares between its rounds of shots."""

    title: str
    ledger: Ledger
    runner: ShotRunner
    manifest_store: ManifestStore
    manifest: Manifest
    #: Held while shots are paid for: the board's lock on a store without conditional writes.
    guard: contextlib.AbstractAsyncContextManager[None] = field(
        default_factory=contextlib.nullcontext
    )
    outcomes: dict[str, ShotResult] = field(default_factory=dict)
    logger: logging.Logger | logging.LoggerAdapter[Any] = field(default_factory=get_run_logger)
    saves: ManifestSaves = field(init=False)

    def __post_init__(self) -> None:
        self.saves = ManifestSaves(self.manifest_store, self.manifest)

    @property
    def records(self) -> dict[str, ShotRecord]:
        return {record.shot_id: record for record in self.manifest.shots}

    @contextlib.asynccontextmanager
    async def alive(self) -> AsyncIterator[None]:
        """Hold the guard and renew this run's heartbeat while inside; say the run ended when
        leaving."""
        async with self.guard, self.ledger.alive(self.runner.run, self.runner.flow_run_id):
            yield

    async def settle(self, shots: list[PlannedShot]) -> list[ShotResult]:
        """Bring ``shots`` to stored, in parallel; stop cleanly on a signal or cancellation.

        Raises:
            StoryboardInterrupted: after SIGTERM/SIGINT, once submits under way recorded ids.
        """
        one_round = _Round(self, shots)
        gathered = asyncio.ensure_future(asyncio.gather(*(one_round.one(s) for s in shots)))
        stopped_by: list[str] = []

        def stop(reason: str) -> None:
            if not stopped_by:
                self.logger.warning(
                    "%s: no new submits; recording the ids of those under way", reason
                )
                stopped_by.append(reason)
                self.runner.gate.stop()
                gathered.cancel()

        try:
            with stop_on_signals(stop):
                return list(await gathered)
        except asyncio.CancelledError:
            stop("cancelled")
            interrupted = await self._interrupted()
            if stopped_by[0] != "cancelled":
                raise interrupted from None
            raise
        finally:
            await self.saves.now()

    async def _interrupted(self) -> StoryboardInterrupted:
        drained = await self.runner.gate.drain(STOP_GRACE_SECONDS)
        await self.saves.now()
        records = self.records
        left = {
            shot: request_id
            for shot, request_id in self.runner.requests.items()
            if shot in records and records[shot].status != "stored"
        }
        journalled = (
            ""
            if drained
            else "; ids not yet recorded are journalled in " + str(journal.journal_path())
        )
        interrupted = StoryboardInterrupted(
            self.title,
            left,
            "Run the storyboard again with the same storage to collect them (they are recorded "
            f"in {self.ledger.uri}, so nothing is paid twice){journalled}",
        )
        self.logger.error("%s", interrupted)
        return interrupted

    async def review(self, verdicts: dict[str, ReviewMark]) -> None:
        """Write each shown shot's verdict into its ledger entry (its version's history)."""

        def marked(mark: ReviewMark) -> Callable[[LedgerEntry], LedgerEntry]:
            return lambda entry: entry.model_copy(update={"reviews": [*entry.reviews, mark]})

        await asyncio.gather(
            *(
                self.ledger.update(self.outcomes[shot].inputs_hash, marked(mark))
                for shot, mark in verdicts.items()
            )
        )

    async def show_versions(self) -> None:
        """Fill each shot's versions in the manifest from every ledger entry of that shot."""
        entries = await self.ledger.entries()
        for record in self.manifest.shots:
            mine = sorted(
                (e for e in entries if e.shot_id == record.shot_id),
                key=lambda e: e.submitted_at or e.updated_at,
            )
            record.versions = [_version(entry) for entry in mine]


class _Round:
    """One round of shots settling together: each shot waits for the shots and stills it
    needs (in this round or an earlier one) before it is paid for."""

    def __init__(self, run: StoryboardRun, shots: list[PlannedShot]) -> None:
        self.run = run
        self.progress = _Progress(len(shots), run.title)
        self.records = run.records
        loop = asyncio.get_running_loop()
        #: Why each shot not attempted was not: its chain's root.
        self.causes: dict[str, str] = {}
        self.settled: dict[str, asyncio.Future[ShotResult | None]] = {
            shot.shot_id: loop.create_future() for shot in shots
        }

    async def outcome_of(self, job_id: str) -> ShotResult | None:
        """The outcome of ``job_id``: awaited if it is in this round, else the run's."""
        if job_id in self.settled:
            return await asyncio.shield(self.settled[job_id])
        return self.run.outcomes.get(job_id)

    async def missing_source(self, shot: PlannedShot) -> tuple[str, ShotResult | None] | None:
        """The first shot or still ``shot`` needs that is not stored, and its outcome."""
        for source_id in [*([shot.continues] if shot.continues else []), *shot.after]:
            source = await self.outcome_of(source_id)
            if source is None or source.state != "stored":
                return source_id, source
        return None

    async def one(self, shot: PlannedShot) -> ShotResult:
        """Settle ``shot`` once what it needs is stored (or fail it unpaid), and show it."""
        job = job_of(shot)
        outcome: ShotResult | None = None
        try:
            missing = await self.missing_source(shot)
            if missing is not None:
                source_id, source = missing
                still = source_id in shot.after
                outcome = _source_not_stored(job, source_id, source, self.causes, still)
            else:
                outcome = await self.run.runner.store_shot(job)
        finally:
            # Shots continuing this one learn its outcome, or that it has none (stopped).
            self.settled[shot.shot_id].set_result(outcome)
        self.run.outcomes[job.shot_id] = outcome
        show(self.records[job.shot_id], outcome)
        if outcome.error:
            self.run.logger.error("shot %s: %s", job.shot_id, outcome.error)
        self.run.saves.soon()
        await self.progress.advance()
        return outcome


def _source_not_stored(
    job: ShotJob,
    source: str,
    outcome: ShotResult | None,
    causes: dict[str, str],
    still: bool = False,
) -> ShotResult:
    """A shot not attempted (nothing claimed, nothing paid) because its source is not stored.

    ``causes`` holds the root cause of each shot not attempted so far: a chain of continuing
    shots names the shot that really failed, once.
    """
    why = outcome.error or outcome.state if outcome is not None else "it did not finish"
    causes[job.shot_id] = causes.get(source, f"shot {source}: {why}")
    uses = (
        f"uses still {source.removeprefix('still-')}"
        if still
        else f"starts from the last frame of shot {source}"
    )
    return ShotResult(
        job.shot_id,
        job.inputs_hash,
        "failed",
        error=f"{uses}, which is not stored ({causes[job.shot_id]}); nothing was paid for "
        "this shot",
    )


def show(record: ShotRecord, outcome: ShotResult) -> None:
    """Show a shot's outcome in the manifest (a view of the ledger)."""
    record.inputs_hash = outcome.inputs_hash
    record.status = "failed" if outcome.state == "claimed" else outcome.state
    record.request_id = outcome.request_id
    record.error = outcome.error
    record.video = outcome.objects.get("video")
    record.thumbnail = outcome.objects.get("thumbnail")
    record.wait_seconds, record.transfer_seconds = outcome.wait_seconds, outcome.transfer_seconds


def _version(entry: LedgerEntry) -> ShotVersion:
    last = entry.reviews[-1] if entry.reviews else None
    return ShotVersion(
        inputs_hash=entry.inputs_hash,
        request_id=entry.request_id,
        prompt=entry.prompt,
        seed=entry.seed,
        seconds=entry.seconds,
        state=entry.state,
        verdict=last.verdict if last else None,
        reviewed_by=last.by if last else None,
        earlier_requests=[attempt.request_id for attempt in entry.history],
    )


async def announce(job: ShotJob, request: GMIRequest) -> None:
    """A ``gmicloud.request.submitted`` event naming the shot, for automations."""
    emit_event(
        event="gmicloud.request.submitted",
        resource={
            "prefect.resource.id": f"gmicloud.request.{request.request_id}",
            "prefect.resource.name": request.request_id,
            "gmicloud.model": request.model,
            "gmicloud.shot": job.shot_id,
        },
    )


class ManifestSaves:
    """The manifest written in the background as shots end, its writes spaced by the board's
    size: at least ``max(MANIFEST_MIN_SECONDS, MANIFEST_SECONDS_PER_SHOT * shots)`` apart.

    Each write is the whole manifest, O(N) bytes for N shots: written at every shot's end, a
    board would cost O(N^2) in bytes and serialisation. Spaced so, a run writes it at most
    (its wall time / spacing) + 1 times, a bounded share of the run whatever N is.
    The manifest is a view of the ledger (which holds every paid id at once), so a later
    write loses nothing.
    """

    def __init__(self, store: ManifestStore, manifest: Manifest) -> None:
        self.store, self.manifest = store, manifest
        self._dirty = False
        self._written_at = -math.inf
        self._wake = asyncio.Event()
        self._pending: asyncio.Task[None] | None = None

    def soon(self) -> None:
        """The manifest changed: write it once the spacing allows (without waiting here)."""
        self._dirty = True
        if self._pending is None or self._pending.done():
            self._pending = asyncio.ensure_future(self._writes())

    async def now(self) -> None:
        """Write what is not written yet, at once; return once it is stored (or failed)."""
        self._wake.set()
        try:
            if self._pending is not None:
                await asyncio.shield(self._pending)
            if self._dirty:  # changed, but no write was pending
                await self._write()
        finally:
            self._wake.clear()

    async def _writes(self) -> None:
        while self._dirty:
            spacing = max(
                MANIFEST_MIN_SECONDS, MANIFEST_SECONDS_PER_SHOT * len(self.manifest.shots)
            )
            wait = self._written_at + spacing - time.monotonic()
            if wait > 0 and not self._wake.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
            await self._write()

    async def _write(self) -> None:
        self._dirty = False  # a change from here on is written by the next write
        self._written_at = time.monotonic()
        await best_effort(self.store.save(self.manifest))


class _Progress:
    """A progress artifact updated at most once a second (hundreds of shots end at once); it is
    created in the background, so the shots do not wait for Prefect's API to start."""

    def __init__(self, total: int, title: str) -> None:
        self.total = total
        self.finished, self.shown_at = 0, 0.0
        self.artifact = asyncio.ensure_future(
            best_effort(acreate_progress_artifact(0.0, description=f"storyboard {title}"))
        )

    async def advance(self) -> None:
        self.finished += 1
        now = time.monotonic()
        last = self.finished == self.total
        if not (last or self.artifact.done()):
            return
        artifact = await self.artifact
        if artifact is not None and (last or now - self.shown_at >= 1.0):
            self.shown_at = now
            value = 100.0 * self.finished / self.total
            await best_effort(aupdate_progress_artifact(artifact, value))
