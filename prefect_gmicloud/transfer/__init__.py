"""Moving result files: streamed, resumable, verified downloads (no Prefect import here)."""

from prefect_gmicloud.transfer.download import DEFAULT_MAX_BYTES, DownloadedFile, download_file

__all__ = ["DEFAULT_MAX_BYTES", "DownloadedFile", "download_file"]
