"""Every check of ``prefect-gmicloud doctor``, each giving findings with one fix per failure.

The checks are those a run makes before paying (the key, the board's models, the store's
conditional writes, the limits it names) and those it does not need to make each time (the
bucket presigns links that work, Prefect's API answers, the clocks).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

from prefect_gmicloud.blocks.credentials import GMICloudCredentials
from prefect_gmicloud.client.http import GMICloudClient
from prefect_gmicloud.client.retry_policy import RetryPolicy
from prefect_gmicloud.client.served import model_drift, unserved_problems
from prefect_gmicloud.client.tls import shared_ssl_context
from prefect_gmicloud.doctor.clocks import ClockReading, DatedTransport, gmi_clock, store_clock
from prefect_gmicloud.doctor.report import Finding
from prefect_gmicloud.errors import AuthenticationError, GMICloudError, StorageError
from prefect_gmicloud.flows.budget import shot_seconds
from prefect_gmicloud.flows.limit_checks import limit_problem, prefect_api
from prefect_gmicloud.ledger.shot import ShotJob
from prefect_gmicloud.storage.location import StorageLocation
from prefect_gmicloud.storage.probe import check_store
from prefect_gmicloud.storyboard.plan import PlannedShot, plan_storyboard
from prefect_gmicloud.storyboard.schema import Storyboard

#: Where the bucket check writes (and deletes) its object, under the prefix.
_SCRATCH = ".gmicloud-doctor"
#: A doctor does not wait out a long outage: two tries per call.
_RETRIES = RetryPolicy(max_attempts=2, max_total=20.0)


@dataclass(frozen=True)
class DoctorOptions:
    """What to check.

    Attributes:
        credentials: the GMI credentials (a block, or a saved block's name).
        location: the run's storage (store, bucket, prefix).
        storyboard: a board whose models (and budget needs) are checked, when given.
        concurrency_limit: the quota limit runs name, when any.
        budget_limit: the budget limit runs name, when any.
        prefect_api_url: ``PREFECT_API_URL``, when set.
    """

    credentials: GMICloudCredentials | str
    location: StorageLocation
    storyboard: Path | None = None
    concurrency_limit: str | None = None
    budget_limit: str | None = None
    prefect_api_url: str | None = None


async def run_checks(options: DoctorOptions) -> list[Finding]:
    """Every check, in the order a run meets them; a failed one does not stop the others."""
    from prefect_gmicloud.flows.generate import load_credentials

    findings: list[Finding] = []
    planned = _board(options.storyboard, findings)
    try:
        credentials = await load_credentials(options.credentials)
    except Exception as exc:  # a saved block: Prefect's own errors, as they come
        findings.append(
            Finding(
                "GMI API key",
                "fail",
                f"the credentials block {options.credentials!r} was not "
                f"loaded ({type(exc).__name__}: {exc})",
                "save it (prefect-gmicloud local-stack --save-block NAME, or "
                "GMICloudCredentials(...).save(NAME)), or pass --api-key-env",
            )
        )
    else:
        findings += await _gmi(credentials, planned)
    findings += await _store(options.location)
    findings += await _prefect(options, planned)
    return findings


def _board(path: Path | None, findings: list[Finding]) -> list[PlannedShot] | None:
    if path is None:
        return None
    try:
        planned = plan_storyboard(Storyboard.load(path))
    except (GMICloudError, OSError, ValueError) as exc:
        findings.append(
            Finding(
                "storyboard",
                "fail",
                f"{path}: {exc}",
                f"prefect-gmicloud storyboard validate {path} lists every problem",
            )
        )
        return None
    models = sorted({shot.payload.model_id for shot in planned})
    findings.append(
        Finding("storyboard", "ok", f"{path}: {len(planned)} shots, models {', '.join(models)}")
    )
    return planned


async def _gmi(
    credentials: GMICloudCredentials, planned: list[PlannedShot] | None
) -> list[Finding]:
    """The key (``GET /models``, an authenticated read), the board's models, drift, GMI's clock."""
    dated = DatedTransport(httpx.AsyncHTTPTransport(verify=shared_ssl_context()))
    async with credentials.get_client(transport=dated, retry_policy=_RETRIES) as client:
        try:
            served = [model.id for model in await client.list_models()]
        except AuthenticationError as exc:
            return [
                Finding(
                    "GMI API key",
                    "fail",
                    f"{credentials.base_url} refused the key: {exc}",
                    "give a valid key (console.gmicloud.ai, API keys) in the block or the "
                    "variable --api-key-env names",
                )
            ]
        except GMICloudError as exc:
            return [
                Finding(
                    "GMI API key",
                    "fail",
                    f"GET /models at {credentials.base_url} failed: {exc}",
                    "check --base-url and the network; runs would fail the same way",
                )
            ]
        findings = [
            Finding(
                "GMI API key",
                "ok",
                f"GET /models at {credentials.base_url} answered: {len(served)} models served "
                "to this key",
            )
        ]
        findings.append(_served(planned, served))
        findings.append(await _drift(client, planned))
    findings.append(gmi_clock(dated.best()))
    return findings


def _served(planned: list[PlannedShot] | None, served: list[str]) -> Finding:
    check = "models served"
    if planned is None:
        return Finding(check, "skip", "no --storyboard given: no board's models to check")
    wanted = sorted({shot.payload.model_id for shot in planned})
    problems = unserved_problems(wanted, served)
    if problems:
        return Finding(
            check,
            "fail",
            "; ".join(problems),
            "name each model as GET /models spells it (ids are case-sensitive), or drop it",
        )
    return Finding(check, "ok", f"GMI serves {', '.join(wanted)}")


async def _drift(client: GMICloudClient, planned: list[PlannedShot] | None) -> Finding:
    check = "typed specs vs served"
    wanted = None if planned is None else sorted({s.payload.model_id for s in planned})
    try:
        drift = await model_drift(client, wanted)
    except GMICloudError as exc:
        return Finding(check, "warn", f"GET /models/{{id}} not read: {exc}")
    if drift:
        return Finding(
            check,
            "warn",
            "; ".join(drift),
            "runs still check every typed limit; report the difference so the spec is updated",
        )
    which = "the board's typed models" if wanted is not None else "every typed model served"
    return Finding(check, "ok", f"{which}: fields match GET /models/{{id}}")


async def _store(location: StorageLocation) -> list[Finding]:
    """Conditional writes (what the ledger needs), write/read/presign, and the store's clock."""
    where = f"{location.store.endpoint} (bucket {location.bucket})"
    findings: list[Finding] = []
    try:
        verdict = await check_store(location)
    except StorageError as exc:
        findings.append(
            Finding(
                "store conditional writes",
                "fail",
                f"{where}: not checked, {exc}",
                "check --endpoint-url, --bucket and the AWS keys",
            )
        )
    else:
        if verdict.safe:
            findings.append(
                Finding(
                    "store conditional writes",
                    "ok",
                    f"{where} refused a second create-if-absent, a stale replace, a replace of a "
                    f"missing key and all but one of 4 racing creates ({verdict.seconds:.2f} s)",
                )
            )
        else:
            findings.append(
                Finding("store conditional writes", "fail", verdict.summary(), verdict.fix())
            )
    findings += await _bucket(location, where)
    return findings


async def _bucket(location: StorageLocation, where: str) -> list[Finding]:
    check = "bucket write, read, presign"
    store, bucket = location.store, location.bucket
    key = location.key(_SCRATCH, uuid.uuid4().hex)
    data = b"prefect-gmicloud doctor " + key.encode()
    try:
        sent = time.time()
        await store.write(bucket, key, data, content_type="text/plain")
        received = time.time()
        info = await store.head(bucket, key)
        body = await store.read(bucket, key)
        if body is None or body.data != data:
            return [
                Finding(
                    check,
                    "fail",
                    f"{where}: {key} read back other bytes than written",
                    "check the store (a cache or proxy in front of it?)",
                )
            ]
        link = location.presigned_url(key, 300)
        async with httpx.AsyncClient(verify=shared_ssl_context(), timeout=20) as http:
            fetched = await http.get(link)
    except (StorageError, httpx.HTTPError) as exc:
        return [
            Finding(
                check,
                "fail",
                f"{where}: {exc}",
                "give the keys write, read and delete rights on the prefix",
            )
        ]
    finally:
        with contextlib.suppress(StorageError):
            await store.delete(bucket, key)
    if fetched.status_code != 200 or fetched.content != data:
        return [
            Finding(
                check,
                "fail",
                f"{where}: a presigned link to {key} answered {fetched.status_code} "
                "without the object",
                "GMI reads references through presigned links: the endpoint must be reachable "
                "as signed (check --endpoint-url and the region)",
            )
        ]
    reading = None
    if info is not None and info.last_modified is not None:
        reading = ClockReading.of(info.last_modified, sent, received)
    return [
        Finding(
            check,
            "ok",
            f"{where}: wrote, read back and fetched a presigned link to "
            f"{location.uri(key)} (deleted)",
        ),
        store_clock(reading),
    ]


async def _prefect(options: DoctorOptions, planned: list[PlannedShot] | None) -> list[Finding]:
    """Prefect's API (when one is set), and the limits runs name."""
    findings = []
    if options.prefect_api_url is None:
        findings.append(
            Finding(
                "Prefect API",
                "skip",
                "PREFECT_API_URL is not set: each run starts a temporary Prefect server of its "
                "own (~20 s), which no other run shares",
                "to share limits and the board lock between runs, run `prefect server start` "
                "and set PREFECT_API_URL",
            )
        )
    else:
        from prefect import get_client

        async with get_client() as prefect:
            failure = await prefect.api_healthcheck()
        if failure is not None:
            findings.append(
                Finding(
                    "Prefect API",
                    "fail",
                    f"{options.prefect_api_url} did not answer: {type(failure).__name__}: "
                    f"{failure}",
                    "start it (prefect server start) or fix PREFECT_API_URL",
                )
            )
            named = (options.concurrency_limit, options.budget_limit)
            for check, name in zip(("concurrency limit", "budget limit"), named, strict=True):
                if name is not None:
                    findings.append(Finding(check, "skip", f"{name!r}: Prefect API unreachable"))
            return findings
        findings.append(Finding("Prefect API", "ok", f"{options.prefect_api_url} answered"))
    largest = _largest_shot(planned)
    for name, budget in ((options.concurrency_limit, False), (options.budget_limit, True)):
        check = "budget limit" if budget else "concurrency limit"
        if name is None:
            option = "--budget-limit" if budget else "--concurrency-limit"
            findings.append(Finding(check, "skip", f"no {option} given"))
            continue
        try:
            problem = await limit_problem(name, budget=budget, largest_shot_seconds=largest)
        except Exception as exc:  # Prefect's own errors, as they come
            findings.append(
                Finding(
                    check,
                    "fail",
                    f"{name!r} not read from {prefect_api()}: {exc}",
                    "check PREFECT_API_URL",
                )
            )
            continue
        if problem is None:
            findings.append(Finding(check, "ok", f"{name!r} exists on {prefect_api()}"))
        else:
            findings.append(Finding(check, "fail", problem.problem, problem.fix))
    return findings


def _largest_shot(planned: list[PlannedShot] | None) -> int | None:
    """The most budget seconds one shot of the board takes, when every shot's is known."""
    if not planned:
        return None
    try:
        return max(shot_seconds(ShotJob(s.shot_id, s.inputs_hash, s.payload)) for s in planned)
    except GMICloudError:
        return None
