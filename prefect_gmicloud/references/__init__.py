"""Reference files of storyboard shots: what each model accepts, checked before paying."""

from prefect_gmicloud.models.spec import ReferenceLimits
from prefect_gmicloud.references.limits import (
    REFERENCE_LIMITS,
    check_reference,
    limits_for,
    media_kind_of,
)

__all__ = [
    "REFERENCE_LIMITS",
    "ReferenceLimits",
    "check_reference",
    "limits_for",
    "media_kind_of",
]
