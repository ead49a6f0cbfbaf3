"""prefect-gmicloud: GMI Cloud's request-queue video generation as Prefect blocks, tasks, flows.

The top level holds what a user names: the flows, the tasks, the credentials block, the two
clients, ``Storyboard``, the payload builders and the errors worth catching. Everything else
lives in its module (``prefect_gmicloud.client`` for records and policies,
``prefect_gmicloud.models`` for each model's payload class, ``prefect_gmicloud.errors`` for
every error). Names are loaded on first use: importing the client
(``from prefect_gmicloud import GMICloudClient``) or the storyboard schema does not import
Prefect, prefect-aws or boto3, which take seconds. The flows, tasks and the block import them
when they are first named.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from prefect_gmicloud._version import __version__

#: The public names and the module each lives in: ``__all__``, ``dir()`` and the lazy imports
#: all come from here (the imports for type checkers below repeat it; a test keeps them equal).
_EXPORTS: dict[str, str] = {
    # flows
    "generate_video": "prefect_gmicloud.flows",
    "collect_requests": "prefect_gmicloud.flows",
    "run_storyboard": "prefect_gmicloud.flows.storyboard",
    # tasks
    "submit_request": "prefect_gmicloud.tasks",
    "wait_for_request": "prefect_gmicloud.tasks",
    "download_outcome": "prefect_gmicloud.tasks",
    "store_outcome": "prefect_gmicloud.tasks",
    "upload_to_s3": "prefect_gmicloud.tasks",
    "check_storage": "prefect_gmicloud.tasks",
    # the block, the clients, what users build
    "GMICloudCredentials": "prefect_gmicloud.blocks",
    "GMICloudClient": "prefect_gmicloud.client",
    "GMICloudSyncClient": "prefect_gmicloud.client",
    "Storyboard": "prefect_gmicloud.storyboard",
    "StoryboardOptions": "prefect_gmicloud.storyboard",
    "build_payload": "prefect_gmicloud.models",
    "RawPayload": "prefect_gmicloud.models",
    "S3Destination": "prefect_gmicloud.storage",
    # the errors users catch (every other one is in prefect_gmicloud.errors)
    "GMICloudError": "prefect_gmicloud.errors",
    "APIError": "prefect_gmicloud.errors",
    "PayloadValidationError": "prefect_gmicloud.errors",
    "StoryboardError": "prefect_gmicloud.errors",
    "SubmitOutcomeUnknown": "prefect_gmicloud.errors",
    "RequestFailed": "prefect_gmicloud.errors",
    "WaitTimeout": "prefect_gmicloud.errors",
    "StoryboardIncomplete": "prefect_gmicloud.errors",
}

if TYPE_CHECKING:
    from prefect_gmicloud.blocks import GMICloudCredentials as GMICloudCredentials
    from prefect_gmicloud.client import GMICloudClient as GMICloudClient
    from prefect_gmicloud.client import GMICloudSyncClient as GMICloudSyncClient
    from prefect_gmicloud.errors import APIError as APIError
    from prefect_gmicloud.errors import GMICloudError as GMICloudError
    from prefect_gmicloud.errors import PayloadValidationError as PayloadValidationError
    from prefect_gmicloud.errors import RequestFailed as RequestFailed
    from prefect_gmicloud.errors import StoryboardError as StoryboardError
    from prefect_gmicloud.errors import StoryboardIncomplete as StoryboardIncomplete
    from prefect_gmicloud.errors import SubmitOutcomeUnknown as SubmitOutcomeUnknown
    from prefect_gmicloud.errors import WaitTimeout as WaitTimeout
    from prefect_gmicloud.flows import collect_requests as collect_requests
    from prefect_gmicloud.flows import generate_video as generate_video
    from prefect_gmicloud.flows.storyboard import run_storyboard as run_storyboard
    from prefect_gmicloud.models import RawPayload as RawPayload
    from prefect_gmicloud.models import build_payload as build_payload
    from prefect_gmicloud.storage import S3Destination as S3Destination
    from prefect_gmicloud.storyboard import Storyboard as Storyboard
    from prefect_gmicloud.storyboard import StoryboardOptions as StoryboardOptions
    from prefect_gmicloud.tasks import check_storage as check_storage
    from prefect_gmicloud.tasks import download_outcome as download_outcome
    from prefect_gmicloud.tasks import store_outcome as store_outcome
    from prefect_gmicloud.tasks import submit_request as submit_request
    from prefect_gmicloud.tasks import upload_to_s3 as upload_to_s3
    from prefect_gmicloud.tasks import wait_for_request as wait_for_request

__all__ = ["__version__", *_EXPORTS]

if not TYPE_CHECKING:  # type checkers see the imports above, and an unknown name stays an error

    def __getattr__(name: str) -> Any:
        module = _EXPORTS.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # later lookups skip this function
        return value


def __dir__() -> list[str]:
    return sorted(__all__)
