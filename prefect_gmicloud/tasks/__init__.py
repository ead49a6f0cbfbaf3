"""Prefect tasks: thin wrappers over the client, the downloader and the S3 uploader."""

from prefect_gmicloud.tasks.check import check_storage
from prefect_gmicloud.tasks.download_outcome import download_outcome
from prefect_gmicloud.tasks.store_outcome import StoredFile, store_outcome
from prefect_gmicloud.tasks.submit import submit_request
from prefect_gmicloud.tasks.upload import upload_to_s3
from prefect_gmicloud.tasks.wait import wait_for_request

__all__ = [
    "StoredFile",
    "check_storage",
    "download_outcome",
    "store_outcome",
    "submit_request",
    "upload_to_s3",
    "wait_for_request",
]
