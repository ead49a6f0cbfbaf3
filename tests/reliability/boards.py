"""Storyboards, commands and checks the reliability tests share."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import sys
from pathlib import Path

from prefect_gmicloud.ledger.entry import LedgerEntry
from prefect_gmicloud.ledger.store import Ledger
from prefect_gmicloud.simulator import Simulator
from prefect_gmicloud.storage import S3Destination, resolve_storage
from prefect_gmicloud.storyboard.manifest import Manifest, ManifestStore

SECRET_KEY = "sk-reliability-secret-0xFEEDFACE-never-leak"


async def read_manifest(bucket: S3Destination, title: str) -> Manifest:
    """The manifest a storyboard run left in ``bucket``."""
    location = resolve_storage(bucket)
    manifest = await ManifestStore(location, location.key(title, "manifest.json")).load()
    assert manifest is not None, f"no manifest for {title}"
    return manifest


def ledger_of(bucket: S3Destination, title: str) -> Ledger:
    """The ledger a storyboard titled ``title`` keeps in ``bucket``."""
    location = resolve_storage(bucket)
    return Ledger(location, location.key(title, "ledger"))


def ledger_entries(bucket: S3Destination, title: str) -> list[LedgerEntry]:
    """Every entry of the storyboard's ledger (blocking: for tests outside an event loop)."""
    return asyncio.run(ledger_of(bucket, title).entries())


def unrecorded_paid_ids(sim: Simulator, entries: list[LedgerEntry]) -> set[str]:
    """Requests the simulator created that no ledger entry knows: paid work nobody tracks."""
    known = {rid for entry in entries for rid in entry.paid_request_ids}
    return set(sim.state.requests) - known


def storyboard_command(
    board: Path, bucket: S3Destination, sim: Simulator, *extra: str
) -> list[str]:
    """The CLI a user would type, against the simulator and the test's S3 server."""
    executable = shutil.which("prefect-gmicloud", path=str(Path(sys.executable).parent))
    assert executable, "the prefect-gmicloud command is not installed"
    return [
        executable, "storyboard", "run", str(board),
        "--bucket", bucket.bucket, "--prefix", bucket.prefix,
        "--endpoint-url", str(bucket.endpoint_url),
        "--api-key-env", "GMI_TEST_KEY", "--base-url", sim.base_url,
        "--no-final-cut", "--poll-interval", "0.2", *extra,
    ]  # fmt: skip


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
