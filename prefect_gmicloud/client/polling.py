"""The wait state machine: when to poll next and when to give up. No I/O; the clock is injected.

:class:`WaitPolicy` holds the knobs; :class:`WaitTracker` is fed each observed status with the
time it was seen and answers with the next delay, or raises :class:`WaitTimeout`.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field

from prefect_gmicloud.client.records import GMIRequest, RequestStatus
from prefect_gmicloud.errors import WaitTimeout


@dataclass(frozen=True)
class WaitPolicy:
    """How to poll a request until it ends.

    The interval starts at ``initial_interval`` and grows by ``growth`` up to ``max_interval``,
    with jitter (each delay is drawn from ``[interval * (1 - jitter), interval]``). The interval
    restarts whenever the status changes, so a fresh ``processing`` is watched closely again.
    When ``expected_duration`` is known (the processing time under which this model's requests
    are not expected to finish, e.g. the shortest seen recently), the first poll after processing
    starts is planned for ``expected_lead`` of it instead of polling through it.

    Attributes:
        queue_timeout: most seconds a request may wait before processing starts (None: no limit).
        processing_timeout: most seconds of processing (None: no limit).
    """

    initial_interval: float = 1.0
    max_interval: float = 15.0
    growth: float = 1.5
    jitter: float = 0.5
    queue_timeout: float | None = 3600.0
    processing_timeout: float | None = 3600.0
    expected_duration: float | None = None
    #: Poll this fraction of ``expected_duration`` after processing starts, then as usual.
    expected_lead: float = 0.85

    def __post_init__(self) -> None:
        if self.initial_interval <= 0 or self.max_interval < self.initial_interval:
            raise ValueError("WaitPolicy: need 0 < initial_interval <= max_interval")
        if self.growth < 1:
            raise ValueError("WaitPolicy.growth: at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("WaitPolicy.jitter: between 0 and 1")


@dataclass
class WaitTracker:
    """Follows one request's statuses and plans the polls; pure, testable on a fake clock.

    Call :meth:`observe` with each status read and the (monotonic) time it was read. It returns
    the seconds to sleep before the next poll, or ``None`` once the request is terminal, and
    raises :class:`WaitTimeout` when a deadline is passed.
    """

    request_id: str
    policy: WaitPolicy
    started_at: float
    rng: random.Random = field(default_factory=random.Random)
    last_status: str = ""
    processing_since: float | None = None
    _interval: float = 0.0
    _status_changed: bool = False

    def observe(self, request: GMIRequest, now: float) -> float | None:
        """Record a status read at ``now``; return the next delay, or ``None`` when done."""
        status = str(request.status)
        self._status_changed = status != self.last_status
        if self._status_changed:
            self.last_status = status
            self._interval = self.policy.initial_interval
        if request.is_terminal:
            return None
        if self.processing_since is None and self._has_started(request):
            self.processing_since = now
        self._check_deadlines(now)
        return self._next_delay(now)

    @property
    def status_changed(self) -> bool:
        """Whether the last observation changed the status (the moment worth logging)."""
        return self._status_changed

    def _has_started(self, request: GMIRequest) -> bool:
        # Only an explicit "processing" starts the processing clock: time spent in unknown
        # statuses before it counts as queue time, after it as processing time.
        return request.status == RequestStatus.PROCESSING

    def _check_deadlines(self, now: float) -> None:
        policy = self.policy
        if self.processing_since is None:
            waited = now - self.started_at
            if policy.queue_timeout is not None and waited > policy.queue_timeout:
                raise WaitTimeout(self.request_id, self.last_status, waited, "queue")
        else:
            processing = now - self.processing_since
            if policy.processing_timeout is not None and processing > policy.processing_timeout:
                raise WaitTimeout(
                    self.request_id, self.last_status, now - self.started_at, "processing"
                )

    def _next_delay(self, now: float) -> float:
        policy = self.policy
        interval = self._interval
        self._interval = min(policy.max_interval, interval * policy.growth)
        delay = interval * (1 - policy.jitter * self.rng.random())
        planned = self._planned_first_poll(now)
        if planned is not None:
            delay = max(delay, planned)
        return self._clip_to_deadline(delay, now)

    def _planned_first_poll(self, now: float) -> float | None:
        expected = self.policy.expected_duration
        if expected is None or self.processing_since is None or not self._status_changed:
            return None
        remaining = self.processing_since + expected * self.policy.expected_lead - now
        return remaining if remaining > 0 else None

    def _clip_to_deadline(self, delay: float, now: float) -> float:
        # Never sleep far past a deadline: wake just after it to report the timeout promptly.
        policy = self.policy
        if self.processing_since is None:
            limit, since = policy.queue_timeout, self.started_at
        else:
            limit, since = policy.processing_timeout, self.processing_since
        if limit is None:
            return delay
        until_deadline = since + limit - now
        return max(min(delay, until_deadline + 0.001), 0.0)


@dataclass
class DurationMemory:
    """Per model, the last processing times seen; plans later waits from the shortest of them.

    The shortest, not the mean: processing times spread widely (30 s to 5 min for one model),
    and planning from the mean leaves every faster request waiting to be noticed
    (benchmarks/polling.py measured a 25 s mean delay that way).
    """

    window: int = 20
    seen: dict[str, deque[float]] = field(default_factory=dict)

    def record(self, model: str, seconds: float) -> None:
        """Remember one finished request's processing time."""
        self.seen.setdefault(model, deque(maxlen=self.window)).append(seconds)

    def floor(self, model: str) -> float | None:
        """The shortest recent processing time of ``model``, or ``None`` before any."""
        recent = self.seen.get(model)
        return min(recent) if recent else None
