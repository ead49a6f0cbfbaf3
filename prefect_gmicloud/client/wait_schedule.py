"""The wait state machine: when to poll next and when to give up. No I/O; the clock is injected.

:class:`WaitPolicy` holds the knobs; :class:`WaitTracker` is fed each observed status with the
time it was seen and answers with the next delay, or raises :class:`WaitTimeout`.
:class:`DurationModel` describes how long a model's requests process, and
:class:`DurationMemory` learns it from the requests seen to finish.
"""

from __future__ import annotations

import math
import random
import statistics
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from prefect_gmicloud.client.records import GMIRequest, RequestStatus
from prefect_gmicloud.errors import WaitTimeout


@dataclass(frozen=True)
class WaitPolicy:
    """How to poll a request until it ends.

    Without knowledge of the model, the interval starts at ``initial_interval`` and grows by
    ``growth`` up to ``max_interval``, with jitter (each delay is drawn from
    ``[interval * (1 - jitter), interval]``); it restarts whenever the status changes, so a
    fresh ``processing`` is watched closely again.

    With a :class:`DurationModel` (``durations``, or what the client has learned), polls go
    where completions are likely: while processing, each sleep is the one whose expected
    detection delay is worth one call of ``call_cost`` seconds
    (:meth:`DurationModel.poll_interval`); while queued, it is the model's short processing
    time (its 5th percentile), so the start is seen before the end. Both stay within
    ``[initial_interval, max_interval]``.

    Attributes:
        queue_timeout: most seconds a request may wait before processing starts (None: no limit).
        processing_timeout: most seconds of processing (None: no limit).
        timeout: most seconds of the whole wait, whatever the phase (None: no limit).
        call_cost: seconds of detection delay one status call is worth (smaller: more calls,
            sooner detection).
    """

    initial_interval: float = 1.0
    max_interval: float = 15.0
    growth: float = 1.5
    jitter: float = 0.5
    queue_timeout: float | None = 3600.0
    processing_timeout: float | None = 3600.0
    durations: DurationModel | None = None
    call_cost: float = 0.1
    timeout: float | None = None

    def __post_init__(self) -> None:
        if self.initial_interval <= 0 or self.max_interval < self.initial_interval:
            raise ValueError("WaitPolicy: need 0 < initial_interval <= max_interval")
        if self.timeout is not None and self.timeout < 0:
            raise ValueError(f"WaitPolicy.timeout: at least 0 seconds, got {self.timeout}")
        if self.growth < 1:
            raise ValueError("WaitPolicy.growth: at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("WaitPolicy.jitter: between 0 and 1")
        if self.call_cost <= 0:
            raise ValueError("WaitPolicy.call_cost: must be positive")

    def with_options(
        self, *, timeout: float | None = None, poll_interval: float | None = None
    ) -> WaitPolicy:
        """This policy with the plain options of a wait applied (the one place they map).

        Args:
            timeout: an overall deadline in seconds from the wait's start (``timeout``),
                on top of the two phase deadlines.
            poll_interval: the first pause in seconds (``initial_interval``); the longest
                pause grows to it when it is larger.
        """
        policy = self
        if timeout is not None:
            policy = replace(policy, timeout=timeout)
        if poll_interval is not None:
            policy = replace(
                policy,
                initial_interval=poll_interval,
                max_interval=max(policy.max_interval, poll_interval),
            )
        return policy


def wait_policy(
    poll_interval: float, queue_timeout: float | None, processing_timeout: float | None
) -> WaitPolicy:
    """The flows' wait settings as a policy: the phase deadlines, polls from ``poll_interval``.

    Args:
        poll_interval: the first pause in seconds.
        queue_timeout: most seconds before processing starts (None: no limit).
        processing_timeout: most seconds of processing (None: no limit).
    """
    return WaitPolicy(
        queue_timeout=queue_timeout, processing_timeout=processing_timeout
    ).with_options(poll_interval=poll_interval)


def _outcome_pending(request: GMIRequest) -> bool:
    """A success without an outcome yet: a sync-style model (TTS) still at work.

    GMI answers such models' submit with ``success`` while the work goes on, and the outcome
    appears on a later read; the wait goes on until it does (or a deadline passes).
    """
    return request.status == RequestStatus.SUCCESS and not request.outcome


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
    #: The model of the request, from its first read.
    model: str = ""
    #: When processing started: midway between the last read before it and the first in it.
    processing_since: float | None = None
    _last_read: float | None = None
    _interval: float = 0.0
    _status_changed: bool = False

    def observe(self, request: GMIRequest, now: float) -> float | None:
        """Record a status read at ``now``; return the next delay, or ``None`` when done."""
        status = str(request.status)
        self.model = self.model or request.model
        self._status_changed = status != self.last_status
        if self._status_changed:
            self.last_status = status
            self._interval = self.policy.initial_interval
        if self.processing_since is None and self._has_started(request):
            before = now if self._last_read is None else self._last_read
            self.processing_since = (before + now) / 2
        self._last_read = now
        if request.is_terminal and not _outcome_pending(request):
            return None
        self._check_deadlines(now)
        return self._clip_to_deadline(self._next_delay(now), now)

    def read_failed(self, now: float) -> float:
        """A status read failed at ``now`` (after its own retries): the delay before the next.

        Raises :class:`WaitTimeout` when a deadline has passed meanwhile.
        """
        self._status_changed = False
        self._check_deadlines(now)
        return self._clip_to_deadline(self._next_delay(now), now)

    def adopt(self, policy: WaitPolicy, now: float) -> float:
        """Plan with ``policy`` from now on (a model learned after this wait began).

        Returns the delay from ``now`` to the poll it plans after the last read (0: poll now).
        """
        self.policy = policy
        last = now if self._last_read is None else self._last_read
        planned = last + self._next_delay(last)
        return self._clip_to_deadline(max(0.0, planned - now), now)

    @property
    def last_read(self) -> float | None:
        """When the last status was read (``None`` before the first)."""
        return self._last_read

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
        if policy.timeout is not None and now - self.started_at > policy.timeout:
            raise WaitTimeout(self.request_id, self.last_status, now - self.started_at, "overall")
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
        if policy.durations is not None:
            interval = self._planned_interval(policy.durations, now)
        else:
            interval = self._interval
            self._interval = min(policy.max_interval, interval * policy.growth)
        return interval * (1 - policy.jitter * self.rng.random())

    def _planned_interval(self, durations: DurationModel, now: float) -> float:
        policy = self.policy
        low, high = policy.initial_interval, policy.max_interval
        if self.processing_since is None:
            interval = min(high, max(low, durations.quantile(0.05)))
        else:
            elapsed = now - self.processing_since
            interval = durations.poll_interval(elapsed, policy.call_cost, low, high)
        # Jitter draws below the interval; stretch it so the mean stays where it was planned.
        return min(high, interval / (1 - policy.jitter / 2))

    def next_deadline(self) -> float:
        """When (on the wait's clock) the wait's nearest deadline passes; ``inf`` if none."""
        policy = self.policy
        if self.processing_since is None:
            limit, since = policy.queue_timeout, self.started_at
        else:
            limit, since = policy.processing_timeout, self.processing_since
        deadlines = [since + limit] if limit is not None else []
        if policy.timeout is not None:
            deadlines.append(self.started_at + policy.timeout)
        return min(deadlines, default=math.inf)

    def _clip_to_deadline(self, delay: float, now: float) -> float:
        # Never sleep far past a deadline: wake just after it to report the timeout promptly.
        return max(min(delay, self.next_deadline() - now + 0.001), 0.0)


@dataclass(frozen=True)
class DurationModel:
    """A model's processing times as a log-normal distribution: its median and log spread.

    Processing times of generation models are positive and right-skewed (Wan: "1-5 minutes"),
    which a log-normal describes with two numbers.
    """

    median: float
    spread: float = 0.5

    def __post_init__(self) -> None:
        if self.median <= 0 or self.spread <= 0:
            raise ValueError("DurationModel: median and spread must be positive")

    @classmethod
    def from_samples(cls, seconds: list[float], min_spread: float = 0.1) -> DurationModel:
        """Fit to observed processing times (at least two, all positive)."""
        logs = [math.log(max(value, 1e-3)) for value in seconds]
        spread = max(statistics.stdev(logs), min_spread)
        return cls(median=math.exp(statistics.fmean(logs)), spread=spread)

    def ending_within(self, elapsed: float, seconds: float) -> float:
        """The chance that a request still processing after ``elapsed`` s ends in ``seconds``."""
        alive_now, alive_then = self._survival(elapsed), self._survival(elapsed + seconds)
        return 1.0 if alive_now <= 0 else 1 - alive_then / alive_now

    def poll_interval(self, elapsed: float, call_cost: float, low: float, high: float) -> float:
        """The sleep in ``[low, high]`` whose expected delay cost equals one call's cost.

        Sleeping ``d`` s costs about ``P(end within d) * d / 2`` seconds of delay; the interval
        is where that reaches ``call_cost`` (``sqrt(2 * call_cost / hazard)`` where the hazard
        rate is flat), so polls bunch where requests end and thin out where they do not.
        """

        def cost(seconds: float) -> float:
            return self.ending_within(elapsed, seconds) * seconds / 2

        if cost(high) <= call_cost:
            return high
        if cost(low) >= call_cost:
            return low
        for _ in range(30):  # cost grows with the sleep: bisect
            middle = (low + high) / 2
            low, high = (middle, high) if cost(middle) < call_cost else (low, middle)
        return low

    def _survival(self, elapsed: float) -> float:
        if elapsed <= 0:
            return 1.0
        z = (math.log(elapsed) - math.log(self.median)) / self.spread
        return 0.5 * math.erfc(z / math.sqrt(2))

    def quantile(self, fraction: float) -> float:
        """The processing time under which ``fraction`` of requests finish."""
        return self.median * math.exp(self.spread * statistics.NormalDist().inv_cdf(fraction))


@dataclass
class DurationMemory:
    """The last processing times seen per (API, model); a :class:`DurationModel` fitted to them.

    The open clients of one API share a memory unless given their own (``GMICloudClient``'s
    ``durations``), since Prefect tasks make a client per call.
    Nothing is planned from fewer than ``min_samples`` times: a wrong plan costs more than
    polling on the default schedule.
    """

    window: int = 50
    min_samples: int = 5
    seen: dict[tuple[str, str], deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _listeners: dict[tuple[str, str], set[Callable[[], None]]] = field(
        default_factory=dict, repr=False
    )

    def record(self, api: str, model: str, seconds: float) -> None:
        """Remember one finished request's processing time; tell the model's listeners."""
        with self._lock:
            self.seen.setdefault((api, model), deque(maxlen=self.window)).append(seconds)
            listeners = list(self._listeners.get((api, model), ()))
        for notify in listeners:
            notify()

    def subscribe(self, api: str, model: str, notify: Callable[[], None]) -> Callable[[], None]:
        """Call ``notify`` (in the recording thread) after each time recorded for ``model``.

        Returns the function that unsubscribes it.
        """
        key = (api, model)
        with self._lock:
            self._listeners.setdefault(key, set()).add(notify)

        def unsubscribe() -> None:
            with self._lock:
                self._listeners.get(key, set()).discard(notify)

        return unsubscribe

    def model(self, api: str, model: str) -> DurationModel | None:
        """The fitted processing times of ``model`` at ``api``, or ``None`` while too few."""
        with self._lock:
            recent = list(self.seen.get((api, model), ()))
        if len(recent) < self.min_samples:
            return None
        return DurationModel.from_samples(recent)
