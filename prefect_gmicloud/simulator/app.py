"""The simulator's two HTTP apps: the request-queue API, and the file host serving outputs.

The file host is another origin on purpose: the vendor's result URLs are public storage links,
and a client that sent its API key there would be leaking it. This host refuses (and counts)
any request carrying an ``Authorization`` header.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import time
import warnings
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from prefect_gmicloud.simulator.catalogue import (
    CATALOGUE,
    SimModel,
    clip_spec,
    model_description,
    sound_spec,
    still_spec,
)
from prefect_gmicloud.simulator.media import ClipSpec, MediaRenderer
from prefect_gmicloud.simulator.references import (
    ReferenceFetcher,
    _ReferenceFetchError,
    reference_urls,
)
from prefect_gmicloud.simulator.sound import _SoundUnavailable, render_sound
from prefect_gmicloud.simulator.state import TERMINAL, SimRequest, SimulatorState
from prefect_gmicloud.simulator.stills import render_still

API_PREFIX = "/api/v1/ie/requestqueue/apikey"
#: The models path one vendor page gives instead of the request-queue one.
ALTERNATE_MODELS_PATH = "/api/v1/apikey/models"


class _SimulatedDisconnect(Exception):
    """Raised inside a response to cut the connection, as a flaky network would."""


class _CutResponse(Response):
    """Announces a body, sends ``send_bytes`` of it, then drops the connection."""

    def __init__(
        self, status_code: int, headers: dict[str, str], body_parts: list[bytes] | None = None
    ) -> None:
        super().__init__(status_code=status_code, headers=headers)
        self._parts = body_parts or []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        for part in self._parts:
            await send({"type": "http.response.body", "body": part, "more_body": True})
        raise _SimulatedDisconnect("simulated dropped connection")


def _cut_json() -> Response:
    return _CutResponse(200, {"content-type": "application/json", "content-length": "256"})


class InFlightCounter:
    """ASGI wrapper counting concurrent HTTP requests (and their peak)."""

    def __init__(self, app: ASGIApp, state: SimulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        stats = self.state.stats
        stats.http_in_flight += 1
        stats.peak_http_in_flight = max(stats.peak_http_in_flight, stats.http_in_flight)
        try:
            await self.app(scope, receive, send)
        finally:
            stats.http_in_flight -= 1


class GMIDate:
    """ASGI wrapper giving every answer GMI's ``Date`` (its clock, off by the configured offset);
    the server's own Date header is turned off for this app."""

    def __init__(self, app: ASGIApp, state: SimulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def dated(message: Message) -> None:
            if message["type"] == "http.response.start":
                date = formatdate(self.state.gmi_time(), usegmt=True).encode()
                message["headers"] = [*message.get("headers", []), (b"date", date)]
            await send(message)

        await self.app(scope, receive, dated)


class SimulatorApps:
    """Builds the API app and the file app over one :class:`SimulatorState`."""

    def __init__(self, state: SimulatorState, renderer: MediaRenderer) -> None:
        self.state = state
        self.renderer = renderer
        self.files_base_url = ""  # set by the server once the file host's port is known
        self._renders: set[asyncio.Task[Any]] = set()
        config = state.config
        store = renderer.cache_dir / "references"
        store.mkdir(parents=True, exist_ok=True)
        self.fetcher = ReferenceFetcher(
            store,
            state.stats.reference_fetches,
            timeout=config.reference_timeout_seconds,
            max_bytes=config.reference_max_bytes,
            ffmpeg=renderer.ffmpeg,
        )

    # -- helpers -------------------------------------------------------------------------------

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        if self.state.config.error_shape == "nested":
            body: dict[str, Any] = {"error": {"message": message, "details": f"HTTP {status}"}}
        else:
            body = {"error": message}
        return JSONResponse(body, status_code=status, headers=headers)

    def _retry_after(self) -> dict[str, str]:
        seconds = self.state.config.retry_after_seconds
        if self.state.config.retry_after_as_date:
            return {"Retry-After": formatdate(self.state.gmi_time() + seconds, usegmt=True)}
        return {"Retry-After": f"{seconds:g}"}

    def _refusal(self, request: Request) -> Response | None:
        config = self.state.config
        if request.headers.get("authorization", "") != f"Bearer {config.api_key}":
            return self._error(401, "invalid or missing API key")
        org = request.headers.get("x-organization-id")
        if org and config.organizations and org not in config.organizations:
            return self._error(403, f"not a member of organization {org}")
        return None

    def _fault_response(self, fault: str | None) -> Response | None:
        if fault == "429":
            return self._error(429, "rate limit exceeded", self._retry_after())
        if fault in ("500", "502", "503"):
            return self._error(int(fault), "simulated server error")
        if fault == "drop":
            return _cut_json()
        return None

    async def _guarded(
        self,
        request: Request,
        endpoint: str,
        handle: Callable[[Request, str | None], Awaitable[Response]],
    ) -> Response:
        self.state.stats.calls[endpoint] += 1
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        fault = self.state.next_fault(endpoint)
        return self._fault_response(fault) or await handle(request, fault)

    # -- records -------------------------------------------------------------------------------

    def _file_url(self, request: SimRequest, name: str) -> str:
        return f"{self.files_base_url}/files/{request.request_id}/{name}"

    def _served(self, model_id: str) -> SimModel | None:
        """The catalogue's model, unless it is retired (then GMI answers as if it never was)."""
        if model_id in self.state.config.retired_models:
            return None
        return CATALOGUE.get(model_id)

    def _output_name(self, request: SimRequest) -> str:
        """The file name of an image or audio request's output."""
        model = CATALOGUE[request.model]
        if model.produces == "image":
            return f"image_0{still_spec(request.payload).suffix}"
        return f"audio.{sound_spec(model, request.payload).format}"

    def _outcome(self, request: SimRequest) -> dict[str, Any] | None:
        model = CATALOGUE[request.model]
        if model.produces == "audio":
            name = self._output_name(request)
            return {"audio_url": self._file_url(request, name), "format": name.split(".")[-1]}
        if model.produces == "image":
            url = self._file_url(request, self._output_name(request))
            return {"media_urls": [{"id": "0", "url": url}]}
        video, thumb = self._file_url(request, "video.mp4"), self._file_url(request, "thumb.jpg")
        if request.served == "no_video":
            return {"thumbnail_image_url": thumb}
        if request.media_urls or model.outcome == "media_urls":
            return {"media_urls": [{"id": "0", "url": video}, {"id": "1", "url": thumb}]}
        return {"video_url": video, "thumbnail_image_url": thumb}

    def record(self, request: SimRequest, *, full: bool = True) -> dict[str, Any]:
        """The request as the API shows it (``full=False``: the submit answer's fields)."""
        now = self.state.clock()
        status = request.status(now)
        self.state.stats.statuses_shown[status] += 1
        offset = self.state.config.clock_offset_seconds
        created = int(request.created_wall + offset)
        updated = int(request.finished_wall() + offset) if status in TERMINAL else created
        body: dict[str, Any] = {
            "request_id": request.request_id,
            "model": request.model,
            "status": status,
            "created_at": created,
            "updated_at": updated,
            "queued_at": created,
        }
        if full or request.sync:
            body |= {
                "org_id": request.org_id,
                "is_public": False,
                "payload": request.payload,
                # A sync model's record reads success at once; its outcome comes when done.
                "outcome": (
                    self._outcome(request)
                    if status == "success" and request.outcome_ready(now)
                    else None
                ),
            }
        if status == "failed":
            body["error_message"] = (
                request.error_message or "simulated failure: the generation did not converge"
            )
        return body

    # -- API endpoints -------------------------------------------------------------------------

    async def submit(self, request: Request) -> Response:
        return await self._guarded(request, "submit", self._submit)

    async def _submit(self, request: Request, fault: str | None) -> Response:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return self._error(400, "request body must be JSON")
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            return self._error(400, "model is required")
        model, payload = body["model"], body.get("payload")
        served = self._served(model)
        if served is None:
            return self._error(404, f"model {model} does not exist")
        if not isinstance(payload, dict) or not payload:
            return self._error(400, "payload is required and must be a non-empty object")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            problems = served.problems(payload)
        if problems:
            return self._error(400, "; ".join(problems))
        refusal = self._account_refusal(model, payload)
        if refusal is not None:
            return refusal
        sim_request = self.state.create(
            model, payload, request.headers.get("x-organization-id", "org-sim")
        )
        sim_request.sync = sim_request.sync or served.sync  # TTS: as its spec says
        self._start_work(sim_request)
        if fault == "drop_after_create":
            return _cut_json()
        if fault == "slow_after_create":
            await asyncio.sleep(self.state.config.slow_response_seconds)
        return JSONResponse(self.record(sim_request, full=False))

    def _account_refusal(self, model: str, payload: dict[str, Any]) -> Response | None:
        """How GMI refuses a valid submit for the account or its content, before creating it."""
        config = self.state.config
        if model in config.unentitled_models:
            return self._error(500, "Backend error (401)")
        marker = config.content_policy_marker
        if any(isinstance(v, str) and marker in v for v in payload.values()):
            return self._error(
                400, "the input was rejected by the content policy: it may contain unsafe content"
            )
        if not self.state.credits_left:
            return self._error(
                402, "Insufficient credits. Please add more credits to your account."
            )
        return None

    def _start_work(self, request: SimRequest) -> None:
        """Fetch the references and render while the request "processes", in the background.

        The request is accepted first, as the vendor's is; a reference that cannot be fetched
        fails it when processing ends (or later, if the download outlasts the planned time: the
        request stays ``processing`` until every reference is in). Rendering here means the
        output's download does not wait for ffmpeg.
        """
        request.fetching = self.state.config.fetch_references and bool(
            reference_urls(request.payload, request.model)
        )
        task = asyncio.ensure_future(self._work(request))
        self._renders.add(task)
        task.add_done_callback(self._renders.discard)

    async def _work(self, request: SimRequest) -> None:
        if request.fetching:
            try:
                request.fetched = await self.fetcher.fetch_all(request.payload, request.model)
            except _ReferenceFetchError as exc:
                request.ends, request.error_message = "failed", str(exc)
            finally:
                request.fetched_wall = time.time()
                request.fetching = False
        if request.ends == "failed":
            return
        produces = CATALOGUE[request.model].produces
        try:
            if produces != "video":
                await asyncio.to_thread(self._render_output, request)
            elif not self.state.config.video_bytes:
                await asyncio.to_thread(self.renderer.video, self.spec(request))
        except (_SoundUnavailable, subprocess.CalledProcessError) as exc:
            request.ends, request.error_message = "failed", f"simulator: {exc}"

    def _render_output(self, request: SimRequest) -> Path:
        """An image or audio request's file (rendered on first use, then cached)."""
        model = CATALOGUE[request.model]
        if model.produces == "image":
            return render_still(self.renderer, still_spec(request.payload))
        return render_sound(self.renderer, sound_spec(model, request.payload))

    @staticmethod
    def spec(request: SimRequest) -> ClipSpec:
        """What ``request``'s video shows, from its payload and its fetched references."""
        return clip_spec(request.model, request.payload, request.fetched)

    async def get_request(self, request: Request) -> Response:
        return await self._guarded(request, "get", self._get_request)

    async def _get_request(self, request: Request, fault: str | None) -> Response:
        found = self.state.requests.get(request.path_params["request_id"])
        if found is None:
            return self._error(404, "request not found")
        return JSONResponse(self.record(found))

    async def list_requests(self, request: Request) -> Response:
        return await self._guarded(request, "list", self._list_requests)

    async def _list_requests(self, request: Request, fault: str | None) -> Response:
        model_id = request.query_params.get("model_id")
        records = []
        for item in self.state.requests.values():
            if model_id and item.model != model_id:
                continue
            record = self.record(item)
            if not self.state.config.list_includes_payload:
                record.pop("payload", None)
            records.append(record)
        # The vendor SDK's shape; a page limit shows the first requests and the full total.
        limit = self.state.config.list_page_limit
        shown = records if limit is None else records[:limit]
        return JSONResponse({"requests": shown, "total": len(records)})

    async def list_models(self, request: Request) -> Response:
        async def handle(_: Request, __: str | None) -> Response:
            retired = self.state.config.retired_models
            return JSONResponse({"model_ids": [m for m in CATALOGUE if m not in retired]})

        return await self._guarded(request, "models", handle)

    async def get_model(self, request: Request) -> Response:
        async def handle(req: Request, _: str | None) -> Response:
            model = self._served(req.path_params["model_id"])
            if model is None:
                return self._error(404, f"model {req.path_params['model_id']} does not exist")
            drifted = self.state.config.served_parameters.get(model.model_id)
            return JSONResponse(model_description(model, drifted))

        return await self._guarded(request, "models", handle)

    def api_app(self) -> ASGIApp:
        """The request-queue API."""
        routes = [
            Route(f"{API_PREFIX}/requests", self.submit, methods=["POST"]),
            Route(f"{API_PREFIX}/requests", self.list_requests, methods=["GET"]),
            Route(f"{API_PREFIX}/requests/{{request_id}}", self.get_request, methods=["GET"]),
            Route(f"{API_PREFIX}/models", self.list_models, methods=["GET"]),
            Route(ALTERNATE_MODELS_PATH, self.list_models, methods=["GET"]),
            Route(f"{API_PREFIX}/models/{{model_id}}", self.get_model, methods=["GET"]),
        ]
        return GMIDate(InFlightCounter(Starlette(routes=routes), self.state), self.state)

    # -- file host -----------------------------------------------------------------------------

    async def serve_file(self, request: Request) -> Response:
        stats = self.state.stats
        key = self.state.config.api_key
        if any(key in value for value in request.headers.values()):
            stats.foreign_headers_seen.append(request.url.path)
        if "authorization" in request.headers:
            stats.file_requests_with_authorization += 1
            return self._error(403, "storage links are public: never send credentials here")
        found = self.state.requests.get(request.path_params["request_id"])
        if found is None or found.status(self.state.clock()) != "success":
            return self._error(404, "no such file")
        path = await asyncio.to_thread(self._file_path, found, request.path_params["name"])
        if path is None:
            return self._error(404, "no such file")
        stats.files_served += 1
        if found.served == "html":
            return HTMLResponse(_ERROR_PAGE)
        truncate = self.state.next_fault("file") == "truncate"
        return _file_response(
            path, request.headers.get("range"), truncate, self.state.config.chunk_size
        )

    def _file_path(self, request: SimRequest, name: str) -> Path | None:
        produces = CATALOGUE[request.model].produces
        big = self.state.config.video_bytes
        if produces == "video" and name in ("video.mp4", "thumb.jpg") and big:
            spec = self.spec(request)
            if name == "video.mp4":
                return self.renderer.sized_video(spec, big)
            return self.renderer.plain_thumbnail(spec)
        if produces == "video" and name in ("video.mp4", "thumb.jpg"):
            spec = self.spec(request)
            return (
                self.renderer.video(spec) if name == "video.mp4" else self.renderer.thumbnail(spec)
            )
        if produces in ("image", "audio") and name == self._output_name(request):
            return self._render_output(request)
        return None

    def files_app(self) -> ASGIApp:
        """The public storage host of the outputs."""
        routes = [Route("/files/{request_id}/{name}", self.serve_file, methods=["GET"])]
        return InFlightCounter(Starlette(routes=routes), self.state)


#: What a broken storage link may answer with status 200.
_ERROR_PAGE = "<!DOCTYPE html><html><body><h1>Link expired</h1></body></html>"

_CONTENT_TYPES = {
    ".mp4": "video/mp4",
    ".jpg": "image/jpeg",
    ".png": "image/png",
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".flac": "audio/flac",
}


def _file_response(path: Path, range_header: str | None, truncate: bool, chunk: int) -> Response:
    size = path.stat().st_size
    start, end = 0, size - 1
    status = 200
    match = re.fullmatch(r"bytes=(\d+)-(\d*)", (range_header or "").strip())
    if match:
        start = int(match.group(1))
        end = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
        if start >= size or start > end:
            return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})
        status = 206
    headers = {
        "content-type": _CONTENT_TYPES.get(path.suffix, "application/octet-stream"),
        "content-length": str(end - start + 1),
        "accept-ranges": "bytes",
    }
    if status == 206:
        headers["content-range"] = f"bytes {start}-{end}/{size}"
    stop = start + (end - start + 1) // 2 if truncate else end + 1
    return _StreamedFile(status, headers, path, start, stop, chunk, cut=truncate)


class _StreamedFile(Response):
    """Streams ``path[start:stop]`` in chunks; with ``cut``, drops the link at ``stop``."""

    def __init__(
        self,
        status_code: int,
        headers: dict[str, str],
        path: Path,
        start: int,
        stop: int,
        chunk: int,
        cut: bool,
    ) -> None:
        super().__init__(status_code=status_code, headers=headers)
        self._path, self._start, self._stop, self._chunk, self._cut = path, start, stop, chunk, cut

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        fd = os.open(self._path, os.O_RDONLY)
        try:
            position = self._start
            while position < self._stop:
                size = min(self._chunk, self._stop - position)
                data = os.pread(fd, size, position)
                position += len(data)
                await send({"type": "http.response.body", "body": data, "more_body": True})
        finally:
            os.close(fd)
        if self._cut:
            raise _SimulatedDisconnect("simulated truncated download")
        await send({"type": "http.response.body", "body": b"", "more_body": False})
