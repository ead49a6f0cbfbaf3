"""Plain clients of GMI Cloud's request queue (async and blocking); no Prefect import here."""

from prefect_gmicloud.client.http import DEFAULT_BASE_URL, ClientStats, GMICloudClient
from prefect_gmicloud.client.polling import (
    LEARNED_DURATIONS,
    DurationMemory,
    DurationModel,
    WaitPolicy,
    WaitTracker,
)
from prefect_gmicloud.client.records import (
    GMIRequest,
    MediaAsset,
    ModelInfo,
    ModelParameter,
    ModelSummary,
    RequestStatus,
)
from prefect_gmicloud.client.retry import RetryPolicy
from prefect_gmicloud.client.sync import GMICloudSyncClient
from prefect_gmicloud.errors import (
    APIError,
    AuthenticationError,
    DownloadError,
    GMICloudError,
    IntegrityError,
    InvalidRequestError,
    NotFoundError,
    PayloadValidationError,
    RateLimitError,
    RequestCancelled,
    RequestFailed,
    ServerError,
    SubmitOutcomeUnknown,
    TransportError,
    WaitTimeout,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "LEARNED_DURATIONS",
    "APIError",
    "AuthenticationError",
    "ClientStats",
    "DownloadError",
    "DurationMemory",
    "DurationModel",
    "GMICloudClient",
    "GMICloudError",
    "GMICloudSyncClient",
    "GMIRequest",
    "IntegrityError",
    "InvalidRequestError",
    "MediaAsset",
    "ModelInfo",
    "ModelParameter",
    "ModelSummary",
    "NotFoundError",
    "PayloadValidationError",
    "RateLimitError",
    "RequestCancelled",
    "RequestFailed",
    "RequestStatus",
    "RetryPolicy",
    "ServerError",
    "SubmitOutcomeUnknown",
    "TransportError",
    "WaitPolicy",
    "WaitTimeout",
    "WaitTracker",
]
