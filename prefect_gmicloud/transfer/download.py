"""Download a result file: streamed to disk, resumed with ``Range`` when cut, verified, atomic.

Result links are public storage on another host than the API, so downloads use their own HTTP
client that never carries the API key. Memory stays flat whatever the file size: bytes go from
the socket through sha256 into a ``.part`` file, which is fsynced and renamed into place only
once its size matches what the server announced.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import random
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO

import httpx
from pydantic import BaseModel

from prefect_gmicloud.client.retry_loop import _Retry, with_retries
from prefect_gmicloud.client.retry_policy import (
    RETRYABLE_STATUS_CODES,
    RetryPolicy,
    parse_retry_after,
)
from prefect_gmicloud.client.tls import shared_ssl_context
from prefect_gmicloud.errors import DownloadError, IntegrityError

logger = logging.getLogger("prefect_gmicloud.download")

#: Refuse files larger than this unless told otherwise (a 1080p 15 s clip is tens of MB).
DEFAULT_MAX_BYTES = 4 * 1024**3
DOWNLOAD_TIMEOUT = httpx.Timeout(60.0, connect=10.0)


class DownloadedFile(BaseModel):
    """A file on local disk, as downloaded and verified."""

    path: Path
    url: str
    size: int
    sha256: str
    content_type: str | None = None
    resumed: int = 0


def _check_url(url: str) -> None:
    scheme = httpx.URL(url).scheme
    if scheme not in ("http", "https"):
        raise DownloadError(f"refusing to download {scheme or 'a schemeless'} URL: {url[:200]}")


def _total_from(response: httpx.Response) -> int | None:
    """The whole file's size, from Content-Range (206) or Content-Length (200)."""
    if response.status_code == 206:
        match = re.search(r"/(\d+)\s*$", response.headers.get("content-range", ""))
        return int(match.group(1)) if match else None
    length = response.headers.get("content-length")
    return int(length) if length and length.isdigit() else None


class _PartFile:
    """The ``.part`` file and the running sha256 of what it holds."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = 0
        self.digest = hashlib.sha256()
        self._handle: IO[bytes] = open(path, "wb")  # noqa: SIM115 - closed in finish/discard

    def restart(self) -> None:
        self._handle.seek(0)
        self._handle.truncate()
        self.size = 0
        self.digest = hashlib.sha256()

    def write(self, chunk: bytes) -> None:
        self._handle.write(chunk)
        self.digest.update(chunk)
        self.size += len(chunk)

    def finish(self, destination: Path, durable: bool) -> None:
        """Close the file and give it its name; with ``durable``, on disk before returning."""
        self._handle.flush()
        if durable:
            os.fsync(self._handle.fileno())
        self._handle.close()
        os.replace(self.path, destination)
        if not durable:
            return
        directory = os.open(destination.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def discard(self) -> None:
        self._handle.close()
        self.path.unlink(missing_ok=True)


async def download_file(
    url: str,
    destination: Path,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    retry_policy: RetryPolicy | None = None,
    http: httpx.AsyncClient | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rng: random.Random | None = None,
    durable: bool = True,
) -> DownloadedFile:
    """Download ``url`` to ``destination`` and return its size and sha256.

    Cuts and transient errors (408/429/5xx, timeouts, dropped links) are retried within
    ``retry_policy``, resuming from the bytes already on disk with a ``Range`` request.
    With ``durable`` (the default) the file and its folder are synced to disk before this
    returns; a file staged for an upload and deleted after needs no sync (``durable=False``).

    Raises:
        DownloadError: not an http(s) URL, too large, a permanent HTTP error, or retries spent.
        IntegrityError: the bytes received do not add up to the announced size.
    """
    _check_url(url)
    destination.parent.mkdir(parents=True, exist_ok=True)
    part = _PartFile(destination.with_name(destination.name + ".part"))
    own_client = http is None
    # A client of its own: no auth, no API headers, whatever client the caller uses for the API.
    client = http or httpx.AsyncClient(
        timeout=DOWNLOAD_TIMEOUT, follow_redirects=True, verify=shared_ssl_context()
    )
    tries, resumed = 0, 0
    content_type: str | None = None

    async def attempt() -> None:
        nonlocal tries, content_type
        tries += 1
        try:
            total, content_type = await _fetch_into(client, url, part, max_bytes)
        except _Cut as cut:
            error = DownloadError(f"{url}: gave up after {tries} tries ({cut})")
            raise _Retry(str(cut), error, retry_after=cut.retry_after) from None
        if total is not None and part.size > total:
            raise IntegrityError(f"{url}: got {part.size} bytes, the server announced {total}")

    def retried(failure: _Retry, number: int, delay: float) -> None:
        nonlocal resumed
        resumed += 1 if part.size else 0
        logger.info("download of %s cut at %d bytes (%s); resuming", url, part.size, failure.kind)

    try:
        await with_retries(
            attempt,
            policy=retry_policy or RetryPolicy(),
            rng=rng or random.Random(),
            clock=time.monotonic,
            sleep=sleep,
            on_retry=retried,
        )
        await asyncio.to_thread(part.finish, destination, durable)  # fsync: off the loop
    except BaseException:
        part.discard()
        raise
    finally:
        if own_client:
            await client.aclose()
    return DownloadedFile(
        path=destination,
        url=url,
        size=part.size,
        sha256=part.digest.hexdigest(),
        content_type=content_type,
        resumed=resumed,
    )


class _Cut(Exception):
    """One try of a download failed in a way another may fix (cut, 408/429/5xx, timeout)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


async def _fetch_into(
    client: httpx.AsyncClient, url: str, part: _PartFile, max_bytes: int
) -> tuple[int | None, str | None]:
    """One GET (ranged when resuming) appended to ``part``; returns (total size, content type)."""
    # identity: the bytes on disk are the file, and Content-Length/Range count those same bytes.
    headers = {"Accept-Encoding": "identity"}
    if part.size:
        headers["Range"] = f"bytes={part.size}-"
    try:
        async with client.stream("GET", url, headers=headers) as response:
            if response.status_code in RETRYABLE_STATUS_CODES:
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                raise _Cut(f"HTTP {response.status_code}", retry_after)
            if response.status_code == 200 and part.size:
                part.restart()  # the server ignored the Range: start over
            elif response.status_code not in (200, 206):
                raise DownloadError(f"{url}: HTTP {response.status_code}")
            total = _total_from(response)
            if total is not None and total > max_bytes:
                raise DownloadError(f"{url}: {total} bytes is over the {max_bytes}-byte limit")
            # As received (no re-chunking), so a cut loses nothing already read.
            async for chunk in response.aiter_raw():
                part.write(chunk)
                if part.size > max_bytes:
                    raise DownloadError(f"{url}: more than the {max_bytes}-byte limit")
            if total is not None and part.size < total:
                raise _Cut(f"short body: {part.size} of {total} bytes")
            return total, response.headers.get("content-type")
    except httpx.TransportError as exc:
        raise _Cut(type(exc).__name__) from exc
