"""Where outputs go: S3 or any S3-compatible store."""

from prefect_gmicloud.errors import UnsafeKeyError
from prefect_gmicloud.storage.s3 import (
    S3Destination,
    S3Location,
    StoredObject,
    resolve_storage,
    safe_key,
    upload_file,
)

__all__ = [
    "S3Destination",
    "S3Location",
    "StoredObject",
    "UnsafeKeyError",
    "resolve_storage",
    "safe_key",
    "upload_file",
]
