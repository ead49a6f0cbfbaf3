"""The simulator's memory: requests and their timelines, injected faults, and counters.

Statuses are computed from the clock (injected), so the state is testable without a server.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from prefect_gmicloud.simulator.config import ScriptedFault, SimulatorConfig
from prefect_gmicloud.simulator.references import FetchedMedia, reference_urls, without_query

TERMINAL = ("success", "failed", "cancelled")
UNKNOWN_STATUSES = ("dispatched", "warming_up")

OutcomeFault = Literal["media", "html", "no_video"]


@dataclass
class SimRequest:
    """One simulated request and how it will unfold."""

    request_id: str
    model: str
    payload: dict[str, Any]
    org_id: str
    created_wall: float
    created_at: float
    queue_seconds: float
    processing_seconds: float
    ends: str = "success"  # or "failed", or "stuck"
    odd_statuses: bool = False
    #: The statuses shown in turn while it waits to be processed.
    queue_statuses: tuple[str, ...] = ("queued",)
    media_urls: bool = False
    sync: bool = False
    #: How its files are served: ``media`` (real files), ``html`` (an error page with status
    #: 200, as a broken storage link may answer), ``no_video`` (a success with a thumbnail only).
    served: OutcomeFault = "media"
    #: True while its references are being downloaded: it cannot finish before that.
    fetching: bool = False
    #: When the references were in, if that was after the planned end (wall clock).
    fetched_wall: float | None = None
    fetched: FetchedMedia = field(default_factory=FetchedMedia)
    #: Why it failed, when a reference could not be fetched.
    error_message: str | None = None

    def status(self, now: float) -> str:
        if self.sync:
            # Sync-style: success from the submit on, unless the work fails in the end.
            done = now - self.created_at >= self.queue_seconds + self.processing_seconds
            return self.ends if done and self.ends == "failed" else "success"
        elapsed = now - self.created_at
        if elapsed < self.queue_seconds:
            if self.odd_statuses:
                return UNKNOWN_STATUSES[0]
            turn = int(len(self.queue_statuses) * elapsed / self.queue_seconds)
            return self.queue_statuses[min(turn, len(self.queue_statuses) - 1)]
        if (
            self.ends == "stuck"
            or self.fetching
            or elapsed < self.queue_seconds + self.processing_seconds
        ):
            if self.odd_statuses and elapsed < self.queue_seconds + self.processing_seconds / 2:
                return UNKNOWN_STATUSES[1]
            return "processing"
        return self.ends

    def outcome_ready(self, now: float) -> bool:
        """Whether a successful request's outcome shows yet: a sync one's only once done."""
        elapsed = now - self.created_at
        return not self.sync or elapsed >= self.queue_seconds + self.processing_seconds

    def finished_wall(self) -> float:
        planned = self.created_wall + self.queue_seconds + self.processing_seconds
        return max(planned, self.fetched_wall or planned)


@dataclass
class SimulatorStats:
    """What the simulator received and did; read by tests and benchmarks."""

    calls: Counter[str] = field(default_factory=Counter)
    submits_by_payload: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    #: How often each status was shown in a record (``GET /requests/{id}``, lists, submits).
    statuses_shown: Counter[str] = field(default_factory=Counter)
    created: int = 0
    peak_active: int = 0
    http_in_flight: int = 0
    peak_http_in_flight: int = 0
    files_served: int = 0
    file_requests_with_authorization: int = 0
    foreign_headers_seen: list[str] = field(default_factory=list)
    #: Reference downloads per URL without its query string (presigned links of one object
    #: count together).
    reference_fetches: Counter[str] = field(default_factory=Counter)
    #: Wall-clock times of the first and last request created (how fast a client submits).
    first_created_wall: float | None = None
    last_created_wall: float | None = None

    @property
    def duplicate_submits(self) -> int:
        """Requests created beyond the first for an identical model + payload."""
        return sum(count - 1 for count in self.submits_by_payload.values() if count > 1)

    def summary(self) -> dict[str, Any]:
        """The counters as plain JSON values (what ``--stats-file`` writes)."""
        return {
            "calls": dict(self.calls),
            "api_calls": sum(self.calls.values()),
            "created": self.created,
            "duplicate_submits": self.duplicate_submits,
            "peak_active": self.peak_active,
            "peak_http_in_flight": self.peak_http_in_flight,
            "faults": dict(self.faults),
            "files_served": self.files_served,
            "file_requests_with_authorization": self.file_requests_with_authorization,
            "reference_fetches": dict(self.reference_fetches),
            "created_within_s": (self.last_created_wall or 0.0) - (self.first_created_wall or 0.0),
        }


def payload_key(model: str, payload: dict[str, Any]) -> str:
    """A canonical text for model + payload, to count identical submits.

    Reference URLs count without their query: two presigned links to one object, signed at
    two submits, ask for the same video.
    """
    media = dict(reference_urls(payload, model))

    def plain(name: str, value: Any) -> Any:
        if isinstance(value, list):
            return [plain(f"{name}[{i}]", item) for i, item in enumerate(value)]
        return without_query(value) if name in media and isinstance(value, str) else value

    canonical = {name: plain(name, value) for name, value in payload.items()}
    return json.dumps({"model": model, "payload": canonical}, sort_keys=True, separators=(",", ":"))


class SimulatorState:
    """Requests by id, faults to inject, and the counters; all times from ``clock``."""

    def __init__(
        self, config: SimulatorConfig, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config
        self.clock = clock
        self.requests: dict[str, SimRequest] = {}
        self.stats = SimulatorStats()
        self._rng = random.Random(config.seed)
        self._scripted: dict[str, deque[ScriptedFault]] = {}
        self._outcomes: deque[OutcomeFault] = deque()

    @property
    def reference_fetches(self) -> Counter[str]:
        """Reference downloads per URL without its query string (``stats.reference_fetches``)."""
        return self.stats.reference_fetches

    def gmi_time(self) -> float:
        """GMI's Unix time: the host's, off by ``clock_offset_seconds``."""
        return time.time() + self.config.clock_offset_seconds

    @property
    def credits_left(self) -> bool:
        """Whether the account can pay for another request."""
        limit = self.config.credits_for_requests
        return limit is None or self.stats.created < limit

    # -- faults --------------------------------------------------------------------------------

    def serve_next(self, *outcomes: OutcomeFault) -> None:
        """How the next requests created serve their files, in order (``html``, ``no_video``)."""
        self._outcomes.extend(outcomes)

    def inject(self, endpoint: str, *faults: ScriptedFault) -> None:
        """Queue faults for the next calls of ``endpoint`` (submit, get, list, models, file)."""
        self._scripted.setdefault(endpoint, deque()).extend(faults)

    def next_fault(self, endpoint: str) -> ScriptedFault | None:
        """The fault to apply to this call: a scripted one first, else one drawn by the rates."""
        scripted = self._scripted.get(endpoint)
        fault = scripted.popleft() if scripted else self._random_fault(endpoint)
        if fault == "none":
            return None
        if fault is not None:
            self.stats.faults[f"{endpoint}:{fault}"] += 1
        return fault

    def _random_fault(self, endpoint: str) -> ScriptedFault | None:
        rates = self.config.faults
        roll = self._rng.random
        if endpoint == "file":
            return "truncate" if roll() < rates.truncate else None
        if roll() < rates.rate_limit:
            return "429"
        if roll() < rates.drop:
            if endpoint == "submit" and roll() < 0.5:
                return "drop_after_create"
            return "drop"
        if endpoint != "submit" and roll() < rates.server_error:
            return self._rng.choice(("500", "502", "503"))
        return None

    # -- requests ------------------------------------------------------------------------------

    def create(self, model: str, payload: dict[str, Any], org_id: str) -> SimRequest:
        """Record a new request; its fate (success, failure, stuck) is drawn now."""
        config, rates, roll = self.config, self.config.faults, self._rng.random
        ends = "success"
        if roll() < rates.fail:
            ends = "failed"
        elif roll() < rates.stuck:
            ends = "stuck"
        now = self.clock()
        request = SimRequest(
            request_id=str(uuid.uuid4()),
            model=model,
            payload=payload,
            org_id=org_id,
            created_wall=time.time(),
            created_at=now,
            queue_seconds=config.queue_seconds,
            processing_seconds=config.processing_seconds_by_model.get(
                model, config.processing_seconds
            ),
            ends=ends,
            odd_statuses=roll() < rates.unknown_status,
            queue_statuses=tuple(config.queue_statuses),
            media_urls=roll() < rates.media_urls,
            sync=model in config.sync_models,
            served=self._outcomes.popleft() if self._outcomes else "media",
        )
        self.requests[request.request_id] = request
        self.stats.created += 1
        if self.stats.first_created_wall is None:
            self.stats.first_created_wall = request.created_wall
        self.stats.last_created_wall = request.created_wall
        self.stats.submits_by_payload[payload_key(model, payload)] += 1
        active = sum(1 for r in self.requests.values() if r.status(now) not in TERMINAL)
        self.stats.peak_active = max(self.stats.peak_active, active)
        return request
