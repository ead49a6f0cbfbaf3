"""How far this machine's clock is from GMI's and from the store's, and when that matters.

GMI's clock is read from the HTTP ``Date`` of its answers; the store's from a fresh write's
``Last-Modified``. Both have a resolution of one second, so each reading carries its
uncertainty: half the round trip, plus a second of rounding.

What each offset can break:

- **GMI**: after a submit whose answer was lost, the lookup in ``GET /requests`` places its
  "created after" on GMI's clock, learned from GMI's own answers (``client/clock.py``), so an
  offset breaks nothing a run pays for; beyond
  :data:`~prefect_gmicloud.client.reconcile.WINDOW_MARGIN_SECONDS` it is worth fixing (logs
  and schedules disagree), and is reported as a warning.
- **The store**: leases are judged on the store's own clock, so the ledger does not depend on
  this offset. S3 does: requests (and presigned links) are signed with this machine's time, and
  AWS refuses a signature more than 15 minutes off (``RequestTimeTooSkewed``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

import httpx

from prefect_gmicloud.client.reconcile import WINDOW_MARGIN_SECONDS
from prefect_gmicloud.doctor.report import Finding
from prefect_gmicloud.ledger.store import lease_seconds

#: AWS refuses requests signed with a time this far from its own (seconds).
SIGNATURE_SKEW_SECONDS = 900.0
#: HTTP dates and S3's Last-Modified are whole seconds.
DATE_RESOLUTION_SECONDS = 1.0


@dataclass(frozen=True)
class ClockReading:
    """Another clock against this machine's.

    Attributes:
        offset: the other clock less this one, in seconds (positive: it is ahead).
        uncertainty: the reading is good to plus or minus this many seconds.
    """

    offset: float
    uncertainty: float

    @classmethod
    def of(cls, remote: float, sent: float, received: float) -> ClockReading:
        """A reading from a remote time in whole seconds, taken between ``sent`` and
        ``received`` on this clock (pure)."""
        middle = (sent + received) / 2
        half = DATE_RESOLUTION_SECONDS / 2
        # The true time lies in [remote, remote + 1 s); servers that cache their Date header
        # (uvicorn renews it once a second) may lag one more second.
        return cls(remote + half - middle, (received - sent) / 2 + 2 * half)

    def beyond(self, bound: float) -> bool:
        """Whether the offset is surely larger than ``bound`` (either way)."""
        return abs(self.offset) - self.uncertainty > bound

    def describe(self, other: str) -> str:
        side = "ahead of" if self.offset > 0 else "behind"
        return (
            f"{other}'s clock is {abs(self.offset):.1f} s (±{self.uncertainty:.1f}) {side} "
            "this machine's"
        )


def http_date(value: str | None) -> float | None:
    """An HTTP ``Date`` header as Unix time; ``None`` when absent or unreadable."""
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


@dataclass
class DatedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that notes the ``Date`` of every answer, to read GMI's clock.

    Args:
        inner: the transport that sends.
    """

    inner: httpx.AsyncBaseTransport
    readings: list[ClockReading] = field(default_factory=list)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        sent = time.time()
        response = await self.inner.handle_async_request(request)
        received = time.time()
        remote = http_date(response.headers.get("date"))
        if remote is not None:
            self.readings.append(ClockReading.of(remote, sent, received))
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()

    def best(self) -> ClockReading | None:
        """The reading taken with the shortest round trip, if any answer had a ``Date``."""
        return min(self.readings, key=lambda r: r.uncertainty, default=None)


def gmi_clock(reading: ClockReading | None) -> Finding:
    """The finding on GMI's clock."""
    check = "clock vs GMI"
    if reading is None:
        return Finding(check, "warn", "GMI's answers carried no Date header: offset unknown")
    detail = reading.describe("GMI")
    if reading.beyond(WINDOW_MARGIN_SECONDS):
        return Finding(
            check,
            "warn",
            f"{detail}: beyond {WINDOW_MARGIN_SECONDS:.0f} s; runs place the lookup after a lost "
            "submit answer on GMI's clock, learned from its answers, so nothing is paid twice",
            "synchronise this machine's clock (NTP: timedatectl set-ntp true, chrony)",
        )
    return Finding(
        check,
        "ok",
        f"{detail} (within {WINDOW_MARGIN_SECONDS:.0f} s; the lookup after a lost submit "
        "answer uses GMI's clock anyway)",
    )


def store_clock(reading: ClockReading | None) -> Finding:
    """The finding on the store's clock (``None``: the store gave no ``Last-Modified``)."""
    check = "clock vs store"
    if reading is None:
        return Finding(
            check,
            "warn",
            "the store gave no Last-Modified for a fresh write: leases would be judged on each "
            "worker's own clock",
            "use a store that dates its objects (every S3 implementation known does)",
        )
    detail = reading.describe("the store")
    if reading.beyond(SIGNATURE_SKEW_SECONDS):
        return Finding(
            check,
            "fail",
            f"{detail}: beyond {SIGNATURE_SKEW_SECONDS / 60:.0f} minutes AWS refuses signed "
            "requests (RequestTimeTooSkewed) and presigned links misbehave",
            "synchronise this machine's clock (NTP)",
        )
    if reading.beyond(lease_seconds()):
        return Finding(
            check,
            "warn",
            f"{detail}: more than the {lease_seconds():.0f} s lease. Leases are judged on the "
            "store's clock, so claims stay safe; times written by this machine will look off",
            "synchronise this machine's clock (NTP)",
        )
    return Finding(
        check, "ok", f"{detail}; leases are judged on the store's clock ({lease_seconds():.0f} s)"
    )
