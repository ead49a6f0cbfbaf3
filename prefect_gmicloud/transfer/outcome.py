"""Every file of a finished request, downloaded side by side under safe local names."""

from __future__ import annotations

import asyncio
from pathlib import Path, PurePosixPath

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


async def download_assets(
    request: GMIRequest,
    dest_dir: Path,
    max_bytes: int = DEFAULT_MAX_BYTES,
    durable: bool = True,
) -> list[DownloadedFile]:
    """Download every asset of ``request`` into ``dest_dir`` at once (see ``download_file``,
    and its ``durable``)."""
    assets = request.assets
    if not assets:
        raise DownloadError(f"GMI request {request.request_id} has no files in its outcome")
    files = await asyncio.gather(
        *(
            download_file(
                a.url, Path(dest_dir) / asset_filename(a), max_bytes=max_bytes, durable=durable
            )
            for a in assets
        )
    )
    return list(files)
