"""Every exception prefect-gmicloud raises, in one module under one root: :class:`GMICloudError`.

The client, the payload models, storage, media and the flows all raise from here, so
``except GMICloudError`` catches whatever the package raises on purpose. This module imports
nothing of the package at run time, so every other module can depend on it. None of the errors
ever carries the API key: messages are built from the vendor's error text, status codes, request
ids and the caller's own inputs only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prefect_gmicloud.client.records import GMIRequest
    from prefect_gmicloud.storyboard.estimate import Estimate


class GMICloudError(Exception):
    """Base class of every error raised by prefect-gmicloud."""


class APIError(GMICloudError):
    """The API answered with an error status.

    Attributes:
        status_code: the HTTP status.
        message: the vendor's message, from either body shape it uses.
        request_id: the request concerned, when known.
    """

    def __init__(self, status_code: int, message: str, request_id: str | None = None) -> None:
        self.status_code = status_code
        self.message = message
        self.request_id = request_id
        where = f" (request {request_id})" if request_id else ""
        super().__init__(f"GMI Cloud API error {status_code}{where}: {message}")


class AuthenticationError(APIError):
    """401/403: the API key is wrong, expired, or lacks access to the organization."""


class NotFoundError(APIError):
    """404: unknown request id or model, or no access to it."""


class InvalidRequestError(APIError):
    """400/422: the API rejected the payload (invalid input or content policy)."""


class RateLimitError(APIError):
    """429: the organization's rate limit was hit.

    Attributes:
        retry_after: seconds the server asked us to wait, when it said.
    """

    def __init__(
        self,
        status_code: int,
        message: str,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(status_code, message, request_id)
        self.retry_after = retry_after


class ServerError(APIError):
    """5xx: the API failed; transient as far as anyone can tell."""


class InsufficientCreditsError(APIError):
    """402 on a submit: the account has no credits left; nothing was created or paid.

    Every further submit fails the same way until credits are added, so a storyboard stops
    submitting at once (:class:`StoryboardHalted`).
    """


class ModelNotEntitledError(APIError):
    """``500 {"error": "Backend error (401)"}``: the key is not entitled to this model.

    A 5xx that is permanent: retrying or submitting again never helps, so it is neither
    retried nor resubmitted, and a storyboard submits no other shot of the model.

    Attributes:
        model: the model refused.
    """

    def __init__(self, status_code: int, message: str, model: str | None = None) -> None:
        self.model = model
        which = f"model {model!r}" if model else "this model"
        super().__init__(
            status_code,
            f"{message}: this API key is not entitled to {which} (nothing was paid; not "
            "retried). Ask GMI Cloud to enable the model for your organization, or use another",
        )


class UnknownListShape(APIError):
    """``GET /requests`` answered with a body whose shape the client does not know.

    The body is undocumented; reading an unknown shape as "no requests" would let a paid
    request look absent, so it is an error instead.
    """


class TransportError(GMICloudError):
    """The request did not complete at the network level (connect, timeout, dropped link)."""


class SubmitOutcomeUnknown(TransportError):
    """A submit may or may not have created a paid request, and it could not be established which.

    Raised instead of resubmitting, so a request is never paid for twice. Look the request up with
    ``list_requests(model_id)`` (or in the GMI console) before submitting again.
    """

    def __init__(self, model: str, detail: str) -> None:
        self.model = model
        self.detail = detail
        super().__init__(
            f"submit of a {model} request may have reached GMI Cloud but its outcome is unknown "
            f"({detail}); not resubmitted to avoid paying twice. Check list_requests("
            f"model_id={model!r}) before submitting again."
        )


class RequestFailed(GMICloudError):
    """The request ended with status ``failed``."""

    def __init__(self, request: GMIRequest) -> None:
        self.request = request
        reason = request.failure_reason or "no reason given"
        super().__init__(f"GMI request {request.request_id} ({request.model}) failed: {reason}")


class RequestCancelled(GMICloudError):
    """The request ended with status ``cancelled``."""

    def __init__(self, request: GMIRequest) -> None:
        self.request = request
        super().__init__(f"GMI request {request.request_id} ({request.model}) was cancelled")


class WaitTimeout(GMICloudError):
    """A wait gave up; the request is left alive on the server and can be collected later.

    Attributes:
        request_id: the request waited for.
        last_status: the last status seen.
        elapsed: seconds waited.
        phase: the deadline that expired: ``"queue"``, ``"processing"`` or ``"overall"``
            (the wait's own ``timeout``).
    """

    def __init__(self, request_id: str, last_status: str, elapsed: float, phase: str) -> None:
        self.request_id = request_id
        self.last_status = last_status
        self.elapsed = elapsed
        self.phase = phase
        super().__init__(
            f"gave up waiting for GMI request {request_id} after {elapsed:.1f}s "
            f"({phase} deadline; last status {last_status!r}). The request was not cancelled: "
            "collect it later by its id."
        )


class DownloadError(GMICloudError):
    """A result file could not be downloaded."""


class IntegrityError(DownloadError):
    """A downloaded file does not match its announced size or checksum."""


class PayloadValidationError(GMICloudError, ValueError):
    """A payload broke a documented limit; raised before anything is sent.

    Attributes:
        model: the model id the payload was for.
        problems: one ``"field: limit, got value"`` line per problem.
    """

    def __init__(self, model: str, problems: list[str]) -> None:
        self.model = model
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid {model} payload ({len(problems)} problem(s)):\n{lines}")


class ModelNotServed(GMICloudError, ValueError):
    """A run names model ids GMI does not serve (``GET /models``); nothing was paid.

    Attributes:
        problems: one line per id, with the spelling GMI serves when only the case differs
            (``veo3`` → ``Veo3``), or the closest ids it serves.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"{len(problems)} model id(s) not served by GMI; nothing was paid:\n{lines}"
        )


class StoryboardError(GMICloudError, ValueError):
    """Everything wrong with a storyboard, found before any request is sent.

    Attributes:
        problems: one line per problem, each naming the field and the limit.
    """

    def __init__(self, title: str, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"storyboard {title!r} has {len(problems)} problem(s):\n{lines}")


class BudgetExceeded(GMICloudError, ValueError):
    """The run would pass its budget (or cannot be checked against it); nothing was sent.

    Attributes:
        estimate: what the run would generate.
    """

    def __init__(self, title: str, reason: str, estimate: Estimate) -> None:
        self.estimate = estimate
        super().__init__(f"storyboard {title!r} not run, nothing was paid: {reason}")


class BudgetUnavailable(GMICloudError):
    """The shared budget did not give a shot its seconds; the shot was not submitted."""


class RefusedFile(GMICloudError, OSError):
    """A local file that is not read: not a regular file (a device, FIFO, folder), or larger
    than allowed. Raised from the file's ``fstat``, before anything is read."""


class UntrustedSourceError(GMICloudError, ValueError):
    """A storyboard names a file or object the run's trust rule does not allow it to read.

    Raised before anything is read, uploaded or paid for.

    Attributes:
        problems: one line per refused reference, naming it and the rule it breaks.
    """

    def __init__(self, title: str, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"storyboard {title!r}: {len(problems)} source(s) refused by the trust rule:\n{lines}"
        )


class ParameterError(GMICloudError, ValueError):
    """A flow was given parameters that cannot go together (or none of those it needs)."""


class UnsafeKeyError(GMICloudError, ValueError):
    """An object key would leave its prefix (``..``, absolute, empty or odd segments)."""


class MediaError(GMICloudError, RuntimeError):
    """ffmpeg could not do what was asked; the message carries its last words."""


class LocalStackError(GMICloudError, RuntimeError):
    """The local stack (simulator and S3 server) could not start; the message says why and what
    to do."""


class ContentMismatchError(IntegrityError):
    """A downloaded file is not what it claims: an HTML page, JSON or nothing instead of a video."""


class StorageError(GMICloudError):
    """The run's S3 storage refused or could not be reached.

    Attributes:
        uri: the object or folder concerned.
    """

    def __init__(self, uri: str, detail: str) -> None:
        self.uri = uri
        super().__init__(f"storage {uri}: {detail}")


class WriteConflict(GMICloudError):
    """A conditional write's condition did not hold: another writer created or changed the
    object first (or it is gone). Read it again and decide again."""


class UnreadableEntry(StorageError):
    """A ledger entry exists but is not a ledger entry (corrupted, or written by something else)."""


class SubmitsStopped(GMICloudError):
    """No new request is submitted in this run: it is stopping, GMI refused a submit for the
    whole account (no credits), or for the shot's model (not entitled). Nothing was paid."""


class VideoNotStored(GMICloudError):
    """A request was paid for but its files are not stored (a wait deadline passed, or the
    download or upload failed). Nothing is lost: the request id is in the ledger.

    Attributes:
        request_id: the paid request.
    """

    def __init__(self, request_id: str, detail: str, resume: str) -> None:
        self.request_id = request_id
        super().__init__(f"GMI request {request_id} is paid but not stored: {detail}. {resume}")


class BoardBusy(GMICloudError):
    """Another run of the board holds its lock (``board_lock``) and did not let go in time."""

    def __init__(self, title: str, lock: str, waited: float) -> None:
        self.title = title
        self.lock = lock
        super().__init__(
            f"storyboard {title}: another run holds its lock {lock} (waited {waited:.0f} s); "
            "run it again once that run ends (prefect gcl inspect shows the holder)"
        )


class BoardLockUnshared(GMICloudError):
    """``board_lock`` was asked for without a Prefect server every run shares."""

    def __init__(self, title: str) -> None:
        self.title = title
        super().__init__(
            f"storyboard {title}: board_lock needs a Prefect server shared by every run that "
            "may pay for the board (set PREFECT_API_URL, e.g. after `prefect server start`): "
            "a run's temporary server would lock no other run out"
        )


class LimitUnusable(GMICloudError):
    """A Prefect global concurrency limit a run names (its quota or its budget) is missing or
    cannot serve; raised before anything is paid, with how to create or fix it."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class UnsafeStore(StorageError):
    """The store does not honour conditional writes, so two runs could both believe they own a
    shot and pay for it twice. Raised before anything is paid, naming the store and what it did.
    """


class StoryboardHalted(GMICloudError):
    """GMI refused a submit for the whole account (``402 Insufficient credits``): the run
    submitted nothing more from then on. Shots already paid were still waited for and stored.

    Attributes:
        reason: GMI's refusal.
        paid: shot -> request id of every shot this board has a paid request for.
        not_submitted: the shots left without a request.
    """

    def __init__(
        self,
        title: str,
        reason: str,
        paid: dict[str, str],
        not_submitted: list[str],
        ledger_uri: str,
    ) -> None:
        self.reason = reason = reason.rstrip(". ")
        self.paid = paid
        self.not_submitted = not_submitted
        listed = ", ".join(not_submitted) or "none"
        super().__init__(
            f"storyboard {title!r} halted: {reason}. {len(paid)} shot(s) paid (their requests "
            f"are recorded in {ledger_uri}); no further submit was sent; {len(not_submitted)} "
            f"shot(s) not submitted ({listed}). Add credits, then run the storyboard again: "
            "paid shots are collected, not paid again, and only the others are submitted."
        )


class StoryboardInterrupted(GMICloudError):
    """A storyboard run was stopped (SIGTERM, SIGINT, cancellation) before it finished.

    Every request it paid for is recorded in the ledger; running the storyboard again
    collects them instead of paying again.

    Attributes:
        running: request ids left running, by shot.
    """

    def __init__(self, title: str, running: dict[str, str], how_to_resume: str) -> None:
        self.running = running
        listed = ", ".join(f"{shot}={rid}" for shot, rid in running.items()) or "none"
        super().__init__(
            f"storyboard {title!r} stopped; requests left running (shot=request id): {listed}. "
            f"{how_to_resume}"
        )


class StoryboardIncomplete(GMICloudError):
    """Some shots are not stored; the others are, and the ledger says what each one holds.

    Attributes:
        failed: the shots not stored.
        paid_not_stored: shot -> request id, for shots whose request exists (paid) but whose
            files are not stored yet: running the storyboard again collects them, unpaid.
    """

    def __init__(
        self,
        title: str,
        failed: dict[str, str],
        stored: int,
        paid_not_stored: dict[str, str],
        ledger_uri: str,
    ) -> None:
        self.failed = list(failed)
        self.paid_not_stored = paid_not_stored
        reasons = "\n".join(f"  - {shot}: {reason[:300]}" for shot, reason in failed.items())
        paid = ", ".join(f"{shot}={rid}" for shot, rid in paid_not_stored.items())
        super().__init__(
            f"storyboard {title!r}: {stored} shot(s) stored, {len(failed)} failed "
            f"({', '.join(failed)}):\n{reasons}\n"
            + (f"Paid, not stored yet (shot=request id): {paid}.\n" if paid else "")
            + f"Run it again to retry only those (paid requests are resumed, not paid again); "
            f"ledger {ledger_uri}."
        )


class StoryboardNotApproved(GMICloudError):
    """A reviewed storyboard's review ended (stopped, or not answered in time) before approval.

    Every shot is stored and recorded: running the storyboard again with review reuses them
    and asks again; nothing is paid twice.
    """

    def __init__(self, title: str, why: str, ledger_uri: str) -> None:
        self.why = why
        super().__init__(
            f"storyboard {title!r}: every shot is stored, but the review ended ({why}); no "
            "final cut was made. Run the storyboard again with review to review it (stored "
            f"shots are reused, not paid again); ledger {ledger_uri}."
        )
