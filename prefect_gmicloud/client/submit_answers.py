"""What this client's submits answered, kept briefly for the waits that start right after them.

``POST /requests`` answers with the request's record (``request_id``, ``model``, ``status``):
a status read like any other, made the moment the request was created. A wait that starts
right after its submit takes that answer as its first read instead of reading the same
``queued`` again with ``GET /requests/{id}``; its first poll of the server is then its policy's
first interval after the submit. Only an answer that names its model (what the wait's later
reads are batched by) and a known status of a request still running is kept (a terminal
answer, as a sync model gives, is read again before a wait returns it; any other shape is read
again too), and only for ``keep`` seconds.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from prefect_gmicloud.client.records import GMIRequest


class SubmitAnswers:
    """The records submits returned, by request id, with when they were read.

    Args:
        clock: the client's monotonic clock.
        keep: seconds an answer is kept for a wait to take; older ones are dropped.
    """

    def __init__(self, clock: Callable[[], float], keep: float = 30.0) -> None:
        self._clock = clock
        self._keep = keep
        self._answers: OrderedDict[str, tuple[GMIRequest, float]] = OrderedDict()

    def put(self, request: GMIRequest) -> None:
        """Keep the answer of a submit, read now, if it names its model and a known status of
        a request still running."""
        now = self._clock()
        self._drop_older_than(now - self._keep)
        if request.model and request.is_known_status and not request.is_terminal:
            self._answers[request.request_id] = (request, now)

    def take(self, request_id: str) -> tuple[GMIRequest, float] | None:
        """The kept answer for ``request_id`` and when it was read, once; ``None`` if none."""
        self._drop_older_than(self._clock() - self._keep)
        return self._answers.pop(request_id, None)

    def _drop_older_than(self, oldest: float) -> None:
        while self._answers:
            _, read_at = next(iter(self._answers.values()))
            if read_at >= oldest:
                return
            self._answers.popitem(last=False)
