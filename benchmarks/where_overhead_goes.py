"""Where ``run_storyboard``'s overhead per shot goes, measured side by side in one run.

    .venv/bin/python benchmarks/where_overhead_goes.py [--shots 100] [--repeat 2] [--json out]

Near-zero generation (as ``overhead.py``'s first table), N shots all at once:

1. Storage calls per shot, by operation and by what the object is (ledger entry, heartbeat,
   the shot's files, the manifest, the store check's scratch keys), counted at the storage
   port during one flow run. The bare client makes two (the video and the thumbnail).
2. Ablations: the flow's overhead per shot over the bare client as it is, with each shot stored
   in a Prefect task run of its own (``store_outcome``, as before this release), without
   the ``gmicloud.request.submitted`` event, and with the ledger's objects in this process's
   memory instead of the S3 server (what its writes cost here); each variant beside a bare run
   of its own, repeated.
3. A profile (cProfile) of one flow run: own time by package, in this process only (the
   simulator, moto and Prefect's server are processes of their own).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import cProfile
import functools
import json
import pstats
import statistics
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

from overhead import VIDEO_BYTES, bare_run, flow_run, timed
from servers import local_servers, quiet_prefect

from prefect_gmicloud.client.wait_schedule import wait_policy
from prefect_gmicloud.flows import board_shots, shot_storage
from prefect_gmicloud.simulator.boards import synthetic_storyboard
from prefect_gmicloud.storage.memory_store import MemoryStore
from prefect_gmicloud.storage.port import ObjectStore
from prefect_gmicloud.storage.s3_store import S3Store
from prefect_gmicloud.tasks.store_outcome import store_outcome

NEAR_ZERO = ("--queue-seconds", "0", "--processing-seconds", "0.05")
OPERATIONS = ("head", "read", "create", "replace", "write", "upload", "list_objects", "delete")
VARIANTS = ("as is", "a store task run per shot", "no submitted event", "ledger in memory")


def kind_of(key: str) -> str:
    if "/ledger/shots/" in key:
        return "ledger entry"
    if "/ledger/runs/" in key:
        return "heartbeat"
    if ".gmicloud-store-check/" in key:
        return "store check"
    if key.endswith(("manifest.json", "review.json")):
        return "manifest, review"
    if key.endswith((".mp4", ".jpg")):
        return "shot files"
    return "other"


@dataclass(frozen=True)
class StoreCall:
    """One call through the S3 store."""

    operation: str
    bucket: str
    key: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]

    async def on(self, store: ObjectStore) -> Any:
        """Make this call to another store."""
        method = getattr(store, self.operation)
        return await method(self.bucket, self.key, *self.args, **self.kwargs)


#: Stands in for S3 store calls: ``(the call, make it to the S3 store)`` -> its result.
Around = Callable[[StoreCall, Callable[[], Awaitable[Any]]], Awaitable[Any]]


@contextlib.contextmanager
def around_store_calls(around: Around) -> Iterator[None]:
    """Every call through the S3 store goes through ``around``."""
    with contextlib.ExitStack() as stack:
        for name in OPERATIONS:
            original = getattr(S3Store, name)

            @functools.wraps(original)
            async def wrapped(
                self: S3Store, bucket: str, key: str, *args: Any, _op: str = name,
                _original: Any = original, **kwargs: Any,
            ) -> Any:  # fmt: skip
                call = StoreCall(_op, bucket, key, args, kwargs)
                return await around(
                    call, functools.partial(_original, self, bucket, key, *args, **kwargs)
                )

            stack.enter_context(mock.patch.object(S3Store, name, wrapped))
        yield


@contextlib.contextmanager
def counted_storage_calls(counts: collections.Counter[tuple[str, str]]) -> Iterator[None]:
    """Count every call through the S3 store by (operation, kind of object)."""

    async def counting(call: StoreCall, on_s3: Callable[[], Awaitable[Any]]) -> Any:
        counts[(call.operation, kind_of(call.key))] += 1
        return await on_s3()

    with around_store_calls(counting):
        yield


@contextlib.contextmanager
def variant(name: str) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        if name == "a store task run per shot":
            stack.enter_context(mock.patch.object(shot_storage, "store_files", store_outcome))
        if name == "no submitted event":

            async def no_event(*args: object) -> None:
                return None

            stack.enter_context(mock.patch.object(board_shots, "announce", no_event))
        if name == "ledger in memory":
            stack.enter_context(ledger_in_memory())
        yield


@contextlib.contextmanager
def ledger_in_memory() -> Iterator[None]:
    """The ledger's entries and heartbeats in this process's memory instead of the S3 server:
    what its writes cost on these cores (the S3 server is a Python process beside the flow)."""
    memory = MemoryStore()

    async def routed(call: StoreCall, on_s3: Callable[[], Awaitable[Any]]) -> Any:
        if "/ledger/" not in call.key:
            return await on_s3()
        memory.create_bucket(call.bucket)  # the S3 server's bucket, in memory
        return await call.on(memory)

    with around_store_calls(routed):
        yield


def storage_calls(shots: int) -> dict[str, float]:
    counts: collections.Counter[tuple[str, str]] = collections.Counter()
    board = synthetic_storyboard(shots, "calls")
    with counted_storage_calls(counts):
        timed(NEAR_ZERO, functools.partial(flow_run, board=board, poll_interval=0.2))
    print(f"\n1. storage calls per shot ({shots} shots; the bare client makes 2.00)\n")
    for (operation, kind), count in sorted(counts.items(), key=lambda item: -item[1]):
        print(f"{count / shots:8.2f}  {operation:<13}{kind}")
    total = sum(counts.values()) / shots
    print(f"{total:8.2f}  in all")
    return {f"{op} {kind}": count / shots for (op, kind), count in counts.items()}


def ablations(shots: int, repeat: int) -> dict[str, list[float]]:
    print(f"\n2. overhead per shot over the bare client ({shots} shots, {repeat} rounds)\n")
    fast_polls = wait_policy(0.2, None, 3600.0)
    overhead: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for round_ in range(repeat):
        for name in VARIANTS:
            board = synthetic_storyboard(shots, f"ablation-{round_}-{len(overhead[name])}")
            bare = timed(NEAR_ZERO, functools.partial(bare_run, board=board, policy=fast_polls))
            with variant(name):
                flow = timed(NEAR_ZERO, functools.partial(flow_run, board=board, poll_interval=0.2))
            overhead[name].append(1000 * (flow["wall_s"] - bare["wall_s"]) / shots)
    for name, values in overhead.items():
        figures = ", ".join(f"{value:.0f}" for value in values)
        print(f"  {name:<22}{statistics.median(values):6.0f} ms  ({figures})")
    return overhead


def profile(shots: int) -> dict[str, float]:
    board = synthetic_storyboard(shots, "profile")
    profiler = cProfile.Profile()
    with local_servers(*NEAR_ZERO, "--video-bytes", str(VIDEO_BYTES)) as servers:
        profiler.enable()
        asyncio.run(flow_run(servers, board, 0.2))
        profiler.disable()
    by_package: collections.Counter[str] = collections.Counter()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    for (filename, _, function), (_, _, own, _, _) in stats.items():
        by_package[package_of(filename, function)] += own
    print(f"\n3. own time in the flow's process by package ({shots} shots)\n")
    for package, seconds in by_package.most_common(16):
        print(f"{1000 * seconds / shots:8.1f} ms/shot  {package}")
    return {package: seconds / shots for package, seconds in by_package.items()}


def package_of(filename: str, function: str) -> str:
    if "site-packages/" in filename:
        return filename.split("site-packages/")[1].split("/")[0]
    if "prefect_gmicloud/" in filename:
        return "prefect_gmicloud." + filename.split("prefect_gmicloud/")[1].split("/")[0]
    if filename == "~":  # a C function: name it, e.g. <built-in method posix.fsync>
        return "idle: " + function if "poll" in function else function
    return "stdlib"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shots", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with quiet_prefect():
        results = {
            "storage_calls_per_shot": storage_calls(args.shots),
            "overhead_ms_per_shot": ablations(args.shots, args.repeat),
            "own_seconds_per_shot": profile(args.shots),
        }
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
