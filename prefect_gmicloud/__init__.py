"""prefect-gmicloud: GMI Cloud's request-queue video generation as Prefect blocks, tasks, flows.

Every public name is importable from here, but loaded on first use: importing the client
(``from prefect_gmicloud import GMICloudClient``) or the storyboard schema does not import
Prefect, prefect-aws or boto3, which take seconds. The flows, tasks and the block import them
when they are first named.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from prefect_gmicloud._version import __version__

if TYPE_CHECKING:
    from prefect_gmicloud.blocks import GMICloudCredentials
    from prefect_gmicloud.client import (
        DEFAULT_BASE_URL,
        DurationModel,
        GMICloudClient,
        GMICloudSyncClient,
        GMIRequest,
        MediaAsset,
        ModelInfo,
        ModelSummary,
        RequestStatus,
        RetryPolicy,
        WaitPolicy,
    )
    from prefect_gmicloud.errors import (
        APIError,
        AuthenticationError,
        ContentMismatchError,
        DownloadError,
        GMICloudError,
        IntegrityError,
        InvalidRequestError,
        MediaError,
        ModelNotServed,
        NotFoundError,
        PayloadValidationError,
        RateLimitError,
        RequestCancelled,
        RequestFailed,
        ServerError,
        StorageError,
        StoryboardIncomplete,
        StoryboardInterrupted,
        StoryboardNotApproved,
        SubmitOutcomeUnknown,
        TransportError,
        UnsafeKeyError,
        UnsafeStore,
        VideoNotStored,
        WaitTimeout,
    )
    from prefect_gmicloud.flows import (
        CollectedRequest,
        GeneratedVideo,
        collect_requests,
        generate_video,
    )
    from prefect_gmicloud.flows.storyboard import StoryboardResult, run_storyboard
    from prefect_gmicloud.models import (
        PAYLOAD_MODELS,
        GMIPayload,
        RawPayload,
        Wan26I2VPayload,
        Wan26R2VPayload,
        Wan26T2VPayload,
        Wan27I2VPayload,
        Wan27R2VPayload,
        Wan27T2VPayload,
        Wan27VideoEditPayload,
        build_payload,
    )
    from prefect_gmicloud.storage import S3Destination, StoredObject
    from prefect_gmicloud.storyboard import Storyboard, StoryboardError
    from prefect_gmicloud.tasks import (
        check_storage,
        download_outcome,
        store_outcome,
        submit_request,
        upload_to_s3,
        wait_for_request,
    )

#: Where each public name lives; ``__getattr__`` imports the module when the name is first used.
_EXPORTS: dict[str, str] = {
    "GMICloudCredentials": "prefect_gmicloud.blocks",
    "DEFAULT_BASE_URL": "prefect_gmicloud.client",
    "DurationModel": "prefect_gmicloud.client",
    "GMICloudClient": "prefect_gmicloud.client",
    "GMICloudSyncClient": "prefect_gmicloud.client",
    "ModelSummary": "prefect_gmicloud.client",
    "GMIRequest": "prefect_gmicloud.client",
    "MediaAsset": "prefect_gmicloud.client",
    "ModelInfo": "prefect_gmicloud.client",
    "RequestStatus": "prefect_gmicloud.client",
    "RetryPolicy": "prefect_gmicloud.client",
    "WaitPolicy": "prefect_gmicloud.client",
    "APIError": "prefect_gmicloud.errors",
    "AuthenticationError": "prefect_gmicloud.errors",
    "DownloadError": "prefect_gmicloud.errors",
    "GMICloudError": "prefect_gmicloud.errors",
    "IntegrityError": "prefect_gmicloud.errors",
    "InvalidRequestError": "prefect_gmicloud.errors",
    "NotFoundError": "prefect_gmicloud.errors",
    "PayloadValidationError": "prefect_gmicloud.errors",
    "RateLimitError": "prefect_gmicloud.errors",
    "RequestCancelled": "prefect_gmicloud.errors",
    "RequestFailed": "prefect_gmicloud.errors",
    "ServerError": "prefect_gmicloud.errors",
    "SubmitOutcomeUnknown": "prefect_gmicloud.errors",
    "TransportError": "prefect_gmicloud.errors",
    "WaitTimeout": "prefect_gmicloud.errors",
    "ContentMismatchError": "prefect_gmicloud.errors",
    "MediaError": "prefect_gmicloud.errors",
    "ModelNotServed": "prefect_gmicloud.errors",
    "StorageError": "prefect_gmicloud.errors",
    "StoryboardIncomplete": "prefect_gmicloud.errors",
    "StoryboardInterrupted": "prefect_gmicloud.errors",
    "StoryboardNotApproved": "prefect_gmicloud.errors",
    "UnsafeKeyError": "prefect_gmicloud.errors",
    "UnsafeStore": "prefect_gmicloud.errors",
    "VideoNotStored": "prefect_gmicloud.errors",
    "CollectedRequest": "prefect_gmicloud.flows",
    "GeneratedVideo": "prefect_gmicloud.flows",
    "collect_requests": "prefect_gmicloud.flows",
    "generate_video": "prefect_gmicloud.flows",
    "StoryboardResult": "prefect_gmicloud.flows.storyboard",
    "run_storyboard": "prefect_gmicloud.flows.storyboard",
    "GMIPayload": "prefect_gmicloud.models",
    "PAYLOAD_MODELS": "prefect_gmicloud.models",
    "RawPayload": "prefect_gmicloud.models",
    "Wan26I2VPayload": "prefect_gmicloud.models",
    "Wan26R2VPayload": "prefect_gmicloud.models",
    "Wan26T2VPayload": "prefect_gmicloud.models",
    "Wan27I2VPayload": "prefect_gmicloud.models",
    "Wan27R2VPayload": "prefect_gmicloud.models",
    "Wan27T2VPayload": "prefect_gmicloud.models",
    "Wan27VideoEditPayload": "prefect_gmicloud.models",
    "build_payload": "prefect_gmicloud.models",
    "S3Destination": "prefect_gmicloud.storage",
    "StoredObject": "prefect_gmicloud.storage",
    "Storyboard": "prefect_gmicloud.storyboard",
    "StoryboardError": "prefect_gmicloud.storyboard",
    "check_storage": "prefect_gmicloud.tasks",
    "download_outcome": "prefect_gmicloud.tasks",
    "store_outcome": "prefect_gmicloud.tasks",
    "submit_request": "prefect_gmicloud.tasks",
    "upload_to_s3": "prefect_gmicloud.tasks",
    "wait_for_request": "prefect_gmicloud.tasks",
}

__all__ = [
    "DEFAULT_BASE_URL",
    "PAYLOAD_MODELS",
    "APIError",
    "AuthenticationError",
    "CollectedRequest",
    "ContentMismatchError",
    "DownloadError",
    "DurationModel",
    "GMICloudClient",
    "GMICloudCredentials",
    "GMICloudError",
    "GMICloudSyncClient",
    "GMIPayload",
    "GMIRequest",
    "GeneratedVideo",
    "IntegrityError",
    "InvalidRequestError",
    "MediaAsset",
    "MediaError",
    "ModelInfo",
    "ModelNotServed",
    "ModelSummary",
    "NotFoundError",
    "PayloadValidationError",
    "RateLimitError",
    "RawPayload",
    "RequestCancelled",
    "RequestFailed",
    "RequestStatus",
    "RetryPolicy",
    "S3Destination",
    "ServerError",
    "StorageError",
    "StoredObject",
    "Storyboard",
    "StoryboardError",
    "StoryboardIncomplete",
    "StoryboardInterrupted",
    "StoryboardNotApproved",
    "StoryboardResult",
    "SubmitOutcomeUnknown",
    "TransportError",
    "UnsafeKeyError",
    "UnsafeStore",
    "VideoNotStored",
    "WaitPolicy",
    "WaitTimeout",
    "Wan26I2VPayload",
    "Wan26R2VPayload",
    "Wan26T2VPayload",
    "Wan27I2VPayload",
    "Wan27R2VPayload",
    "Wan27T2VPayload",
    "Wan27VideoEditPayload",
    "__version__",
    "build_payload",
    "check_storage",
    "collect_requests",
    "download_outcome",
    "generate_video",
    "run_storyboard",
    "store_outcome",
    "submit_request",
    "upload_to_s3",
    "wait_for_request",
]

if not TYPE_CHECKING:  # type checkers see the imports above, and an unknown name stays an error

    def __getattr__(name: str) -> Any:
        module = _EXPORTS.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # later lookups skip this function
        return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
