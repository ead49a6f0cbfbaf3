"""Plain clients of GMI Cloud's request queue (async and blocking); no Prefect import here.

Beside the clients: the records they return and the options they take. Errors are in
``prefect_gmicloud.errors``.
"""

from prefect_gmicloud.client.batch_reads import BatchSettings
from prefect_gmicloud.client.http import DEFAULT_BASE_URL, ClientStats, GMICloudClient
from prefect_gmicloud.client.records import (
    GMIRequest,
    MediaAsset,
    ModelInfo,
    ModelParameter,
    ModelSummary,
    RequestStatus,
)
from prefect_gmicloud.client.retry_policy import RetryPolicy
from prefect_gmicloud.client.sync import GMICloudSyncClient
from prefect_gmicloud.client.wait_schedule import DurationMemory, DurationModel, WaitPolicy

__all__ = [
    "DEFAULT_BASE_URL",
    "BatchSettings",
    "ClientStats",
    "DurationMemory",
    "DurationModel",
    "GMICloudClient",
    "GMICloudSyncClient",
    "GMIRequest",
    "MediaAsset",
    "ModelInfo",
    "ModelParameter",
    "ModelSummary",
    "RequestStatus",
    "RetryPolicy",
    "WaitPolicy",
]
