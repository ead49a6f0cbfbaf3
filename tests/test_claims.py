"""Claims: a shot that waited confirms its claim right before paying, and a run's lost submit is
looked for from the claim's time on the store's clock, whatever the claimer's clock said."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from prefect_gmicloud.client.records import GMIRequest
from prefect_gmicloud.client.wait_schedule import WaitPolicy
from prefect_gmicloud.ledger import shot as shot_module
from prefect_gmicloud.ledger.entry import Claim, LedgerEntry
from prefect_gmicloud.ledger.shot import FRESH_CLAIM_SECONDS, ShotJob, ShotResult, ShotRunner
from prefect_gmicloud.ledger.store import LEASE_ENV, Ledger, Versioned
from prefect_gmicloud.models import Wan27T2VPayload
from prefect_gmicloud.models.registry import AnyPayload
from prefect_gmicloud.simulator import Simulator
from prefect_gmicloud.storage import StorageLocation, StoredObject
from prefect_gmicloud.storage.memory_store import MemoryStore
from tests.conftest import client_for

PAYLOAD = {"prompt": "a red fox in snow", "duration": 2, "resolution": "720P"}


def job() -> ShotJob:
    return ShotJob("fox", "f" * 64, Wan27T2VPayload.model_validate(PAYLOAD))


def memory_ledger() -> Ledger:
    store = MemoryStore()
    store.create_bucket("b")
    return Ledger(StorageLocation(store, "b", "out"), "out/board/ledger")


class NothingStored:
    """A runner's side with nothing stored or found, files "stored" without a download, no
    quota, no budget; a test overrides what it watches."""

    async def prepare(self, job: ShotJob) -> AnyPayload:
        return job.payload

    async def find_stored(self, job: ShotJob) -> None:
        return None

    async def still_stored(self, job: ShotJob, objects: dict[str, StoredObject]) -> bool:
        return False

    async def store(self, job: ShotJob, request: GMIRequest) -> dict[str, StoredObject]:
        return {"video": StoredObject(uri="s3://b/v", bucket="b", key="v", size=1, etag="e")}

    def slot(self) -> contextlib.AbstractAsyncContextManager[None]:
        return contextlib.nullcontext()

    def before_submit(self, job: ShotJob) -> contextlib.AbstractAsyncContextManager[None]:
        return contextlib.nullcontext()

    async def on_submitted(self, job: ShotJob, request: GMIRequest) -> None:
        return None


FAST = WaitPolicy(initial_interval=0.05, max_interval=0.2)


def replaces_of(ledger: Ledger) -> list[str]:
    """What ``ledger``'s replaces write from now on, one per write: the state, ``+id`` once the
    entry holds a request id."""
    writes: list[str] = []
    replace = ledger.replace

    async def counted(current: Versioned, entry: LedgerEntry) -> Versioned:
        writes.append(entry.state + ("" if entry.request_id is None else "+id"))
        return await replace(current, entry)

    ledger.replace = counted  # type: ignore[method-assign]
    return writes


async def test_a_shot_whose_claim_was_taken_while_it_waited_does_not_pay(sim: Simulator) -> None:
    ledger = memory_ledger()
    slot_free = asyncio.Event()
    waiting = asyncio.Event()

    class WaitsForItsBudget(NothingStored):
        @contextlib.asynccontextmanager
        async def before_submit(self, job: ShotJob) -> AsyncIterator[None]:
            waiting.set()
            await slot_free.wait()  # as a shot waits for a budget's seconds, claimed
            yield

    async with client_for(sim) as client:
        runner = ShotRunner(ledger, client, "run-a", WaitsForItsBudget(), FAST)
        await ledger.beat("run-a", None)
        settling = asyncio.ensure_future(runner.store_shot(job()))
        await waiting.wait()
        await asyncio.sleep(FRESH_CLAIM_SECONDS + 0.2)  # a shot that waited, not a fresh claim
        # Meanwhile another run, alive, takes the shot over (it judged run-a dead).
        await ledger.beat("run-b", None)
        current = await ledger.read(job().inputs_hash)
        assert current is not None and current.entry.claim.run == "run-a"
        taken = current.entry.model_copy(update={"claim": Claim.new("run-b", None)})
        taken_version = await ledger.replace(current, taken)
        slot_free.set()
        await asyncio.sleep(0.5)
        assert sim.stats.created == 0, "run-a paid from a claim it no longer held"
        # run-b pays and fails its shot; run-a, following it, reports that and pays nothing.
        failed = taken.model_copy(update={"state": "failed", "error": "run-b: GMI failed it"})
        await ledger.replace(taken_version, failed)
        result = await asyncio.wait_for(settling, timeout=30)
    assert result.state == "failed" and result.how == "followed"
    assert sim.stats.created == 0


async def test_a_shot_waiting_for_a_slot_is_claimed_only_once_it_has_one(sim: Simulator) -> None:
    # Claimed after its wait, just before paying: nothing to confirm, and while it waits
    # another run may take the shot (it would then follow that run).
    ledger = memory_ledger()
    slot_free, waiting = asyncio.Event(), asyncio.Event()
    writes = replaces_of(ledger)

    class WaitsForItsSlot(NothingStored):
        @contextlib.asynccontextmanager
        async def slot(self) -> AsyncIterator[None]:
            waiting.set()
            await slot_free.wait()  # as a shot waits for a Prefect quota slot
            yield

    async with client_for(sim) as client:
        runner = ShotRunner(ledger, client, "run-a", WaitsForItsSlot(), FAST)
        await ledger.beat("run-a", None)
        await ledger.list_entries()  # as a run does: the shot is listed without an entry
        settling = asyncio.ensure_future(runner.store_shot(job()))
        await waiting.wait()
        await asyncio.sleep(FRESH_CLAIM_SECONDS + 0.2)  # longer than a fresh claim's window
        assert await ledger.read(job().inputs_hash) is None  # not claimed while it waits
        slot_free.set()
        result = await asyncio.wait_for(settling, timeout=30)
    assert result.state == "stored" and result.how == "submitted"
    assert writes == ["submitted+id", "stored+id"]  # claimed (created), recorded, stored
    assert sim.stats.created == 1


async def test_a_shot_paid_at_once_under_a_held_lease_skips_the_confirming_write(
    sim: Simulator,
) -> None:
    # Claimed and paid within a moment by a run whose heartbeat is fresh: no run can have
    # judged it dead in between, so the claim is not written again (one write fewer per shot).
    ledger = memory_ledger()
    writes = replaces_of(ledger)
    async with client_for(sim) as client:
        runner = ShotRunner(ledger, client, "run-a", NothingStored(), FAST)
        unbeaten = await runner.store_shot(job())  # no heartbeat: the claim is confirmed
        await ledger.beat("run-b", None)
        beating = ShotRunner(ledger, client, "run-b", NothingStored(), FAST, force=True)
        writes_before = len(writes)
        forced = await beating.store_shot(job())
    print(f"\nledger replaces: without a heartbeat {writes[:writes_before]}, "
          f"with one {writes[writes_before:]}")  # fmt: skip
    assert unbeaten.state == forced.state == "stored"
    # the confirming claim, the id recorded, stored
    assert writes[:writes_before] == ["claimed", "submitted+id", "stored+id"]
    # taken over (run-a has no heartbeat), set aside (force), [no confirm], recorded, stored
    assert writes[writes_before:] == ["stored+id", "claimed", "submitted+id", "stored+id"]
    assert sim.stats.created == 2


async def test_a_lost_submit_is_looked_for_from_the_claim_time_on_the_stores_clock(
    sim: Simulator,
) -> None:
    # A run whose clock was ten minutes fast claimed the shot, paid, and died before recording
    # the id. Its claim says "ten minutes from now"; the store dated the write correctly, so
    # the next run still finds the request instead of paying again.
    ledger = memory_ledger()
    async with client_for(sim) as client:
        paid = await client.submit(job().payload)
        fast = Claim.new("run-dead", None).model_copy(
            update={"claimed_at": Claim.new("x", None).claimed_at + 600}
        )
        await ledger.create(
            LedgerEntry(
                inputs_hash=job().inputs_hash, shot_id="fox", model="wan2.7-t2v",
                state="claimed", claim=fast,
            )
        )  # fmt: skip
        runner = ShotRunner(ledger, client, "run-next", NothingStored(), FAST)
        result = await runner.store_shot(job())
    print(f"\nresult: {result.state} {result.how}; requests created: {sim.stats.created}")
    assert result.how == "resumed" and result.request_id == paid.request_id
    assert sim.stats.created == 1


async def test_a_shot_gives_its_slot_back_when_its_request_ends_not_once_stored(
    sim: Simulator,
) -> None:
    # One slot: the second shot's request starts while the first shot's files are stored
    # (the quota counts requests in flight, and a finished request is not).
    ledger = memory_ledger()
    one_at_a_time = asyncio.Semaphore(1)
    second_submitted = asyncio.Event()

    class OneSlotSlowStore(NothingStored):
        @contextlib.asynccontextmanager
        async def slot(self) -> AsyncIterator[None]:
            async with one_at_a_time:
                yield

        async def store(self, job: ShotJob, request: GMIRequest) -> dict[str, StoredObject]:
            if job.shot_id == "first":
                await asyncio.wait_for(second_submitted.wait(), timeout=10)
            return await super().store(job, request)

        async def on_submitted(self, job: ShotJob, request: GMIRequest) -> None:
            if job.shot_id == "second":
                second_submitted.set()

    first = ShotJob("first", "a" * 64, Wan27T2VPayload.model_validate(PAYLOAD))
    second = ShotJob(
        "second", "b" * 64, Wan27T2VPayload.model_validate({**PAYLOAD, "prompt": "an owl"})
    )
    async with client_for(sim) as client:
        runner = ShotRunner(ledger, client, "run-a", OneSlotSlowStore(), FAST)
        results = await asyncio.gather(runner.store_shot(first), runner.store_shot(second))
    assert [r.state for r in results] == ["stored", "stored"], [r.error for r in results]
    assert sim.stats.peak_active == 1


async def test_a_run_judged_with_a_shorter_lease_than_its_own_is_not_paid_twice(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Run A's worker keeps a 60 s lease (a beat every 10 s); run B was started on another worker
    # with a 1 s lease ("a re-run after a crash starts sooner"). A's heartbeat, 1.5 s old, is
    # fresh to A but dead to a judge that goes by its own lease: B takes A's fresh claim over in
    # the moment before A pays, and A, sure of its lease, does not confirm the claim.
    monkeypatch.setattr(shot_module, "FRESH_CLAIM_SECONDS", 30.0)  # however fast B is
    ledger_a = memory_ledger()
    ledger_b = Ledger(ledger_a.location, ledger_a.folder)  # another worker's process
    judged = asyncio.Event()
    b_submitted = asyncio.Event()
    verdicts: list[bool] = []
    is_alive = ledger_b.is_alive

    async def judging(run: str) -> bool:
        monkeypatch.setenv(LEASE_ENV, "1")  # B's worker's lease, for B's own calls
        try:
            verdicts.append(await is_alive(run))
        finally:
            monkeypatch.setenv(LEASE_ENV, "60")
        judged.set()
        return verdicts[-1]

    ledger_b.is_alive = judging  # type: ignore[method-assign]

    class TellsBPaid(NothingStored):
        async def on_submitted(self, job: ShotJob, request: GMIRequest) -> None:
            b_submitted.set()

    async with client_for(sim) as client:
        runner_b = ShotRunner(ledger_b, client, "run-b", TellsBPaid(), FAST)
        b_settling: list[asyncio.Future[object]] = []

        class MeanwhileBLooks(NothingStored):
            @contextlib.asynccontextmanager
            async def before_submit(self, job: ShotJob) -> AsyncIterator[None]:
                # A holds its fresh claim and is about to pay: B reads the shot now.
                b_settling.append(asyncio.ensure_future(runner_b.store_shot(job)))
                await asyncio.wait_for(judged.wait(), timeout=30)
                if not verdicts[-1]:
                    await asyncio.wait_for(b_submitted.wait(), timeout=30)
                yield

        runner_a = ShotRunner(ledger_a, client, "run-a", MeanwhileBLooks(), FAST)
        monkeypatch.setenv(LEASE_ENV, "60")  # A's worker's lease
        await ledger_a.beat("run-a", None)
        await ledger_b.beat("run-b", None)
        await asyncio.sleep(1.5)  # A's last beat: well within A's lease, past B's
        result_a = await asyncio.wait_for(runner_a.store_shot(job()), timeout=60)
        result_b = await asyncio.wait_for(b_settling[0], timeout=60)
    print(f"\nB judged A alive: {verdicts}; requests created: {sim.stats.created}")
    assert isinstance(result_b, ShotResult)
    assert result_a.state == result_b.state == "stored", (result_a.error, result_b.error)
    assert sim.stats.created == 1, "the shot was paid twice"


async def test_a_slot_that_cannot_be_given_back_costs_neither_the_files_nor_the_run(
    sim: Simulator,
) -> None:
    # The slot is given back when the request ends, before the files are stored: an error doing
    # so (Prefect's API down as the slot is released) must not leave a paid shot unstored.
    ledger = memory_ledger()

    class SlotNotGivenBack(NothingStored):
        @contextlib.asynccontextmanager
        async def slot(self) -> AsyncIterator[None]:
            yield
            raise RuntimeError("Prefect API unreachable while releasing the slot")

    async with client_for(sim) as client:
        runner = ShotRunner(ledger, client, "run-a", SlotNotGivenBack(), FAST)
        result = await runner.store_shot(job())
    stored = await ledger.read(job().inputs_hash)
    assert result.state == "stored", result.error
    assert stored is not None and stored.entry.state == "stored"
    assert sim.stats.created == 1
