"""``prefect-gmicloud doctor``: everything a run relies on, checked at once, one fix per failure.

The key works; each model a board names is served, as GMI spells it; the typed specs match what
GMI serves; the store refuses what its conditional writes must refuse; the bucket can be
written, read and presigned; Prefect's API answers; the limits runs name exist and can serve;
this machine's clock is close enough to GMI's and the store's. Runs repeat the checks that
guard money (models, store, limits), cached, before they pay.
"""

from prefect_gmicloud.doctor.report import Finding, as_json, failed, table

__all__ = ["Finding", "as_json", "failed", "table"]
