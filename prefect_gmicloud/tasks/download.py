"""``download_outcome``: every file of a finished request, streamed and verified."""

from __future__ import annotations

import asyncio
from pathlib import Path, PurePosixPath

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from prefect_gmicloud.client.records import GMIRequest, MediaAsset
from prefect_gmicloud.errors import DownloadError
from prefect_gmicloud.transfer.download import DEFAULT_MAX_BYTES, DownloadedFile, download_file

_DEFAULT_SUFFIX = {"video": ".mp4", "image": ".jpg", "audio": ".mp3", "other": ".bin"}


def asset_filename(asset: MediaAsset) -> str:
    """A safe local name for an asset: its role (and list id) plus the URL's extension."""
    suffix = PurePosixPath(asset.filename).suffix.lower()
    if not suffix or len(suffix) > 6 or not suffix[1:].isalnum():
        suffix = _DEFAULT_SUFFIX[asset.kind]
    name = asset.role if asset.id is None else f"{asset.role}-{asset.id}"
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name) + suffix


@task(name="gmicloud-download", cache_policy=NO_CACHE)
async def download_outcome(
    request: GMIRequest, dest_dir: Path, max_bytes: int = DEFAULT_MAX_BYTES
) -> list[DownloadedFile]:
    """Download every asset of a finished request into ``dest_dir``.

    Each file is streamed (memory stays flat), resumed with ``Range`` when the link is cut,
    checked against its announced size, fsynced and renamed into place, with its sha256. The
    API key is never sent: result links are public storage.
    """
    assets = request.assets
    if not assets:
        raise DownloadError(f"GMI request {request.request_id} has no files in its outcome")
    files = await asyncio.gather(
        *(
            download_file(a.url, Path(dest_dir) / asset_filename(a), max_bytes=max_bytes)
            for a in assets
        )
    )
    logger = get_run_logger()
    for file in files:
        logger.info(
            "downloaded %s (%d bytes, sha256 %s)", file.path.name, file.size, file.sha256[:12]
        )
    return list(files)
