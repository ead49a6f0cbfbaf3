"""``download_outcome``: every file of a finished request, streamed and verified."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from prefect_gmicloud.client.records import GMIRequest
from prefect_gmicloud.transfer.download import DEFAULT_MAX_BYTES, DownloadedFile
from prefect_gmicloud.transfer.outcome import download_assets


@task(name="gmicloud-download", cache_policy=NO_CACHE)
async def download_outcome(
    request: GMIRequest, dest_dir: Path, max_bytes: int = DEFAULT_MAX_BYTES
) -> list[DownloadedFile]:
    """Download every asset of a finished request into ``dest_dir``.

    Each file is streamed (memory stays flat), resumed with ``Range`` when the link is cut,
    checked against its announced size, fsynced and renamed into place, with its sha256. The
    API key is never sent: result links are public storage.
    """
    files = await download_assets(request, Path(dest_dir), max_bytes)
    logger = get_run_logger()
    for file in files:
        logger.info(
            "downloaded %s (%d bytes, sha256 %s)", file.path.name, file.size, file.sha256[:12]
        )
    return files
