"""Where outputs go: S3 or any S3-compatible store, through one storage port (``port.py``)."""

from prefect_gmicloud.storage.destination import S3Destination
from prefect_gmicloud.storage.keys import safe_key
from prefect_gmicloud.storage.location import (
    MAX_LINK_SECONDS,
    StorageLocation,
    StoredObject,
    resolve_storage,
)
from prefect_gmicloud.storage.port import ObjectInfo, ObjectStore

__all__ = [
    "MAX_LINK_SECONDS",
    "ObjectInfo",
    "ObjectStore",
    "S3Destination",
    "StorageLocation",
    "StoredObject",
    "resolve_storage",
    "safe_key",
]
