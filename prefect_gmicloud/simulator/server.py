"""Run the simulator: both hosts on uvicorn, in a background thread or in the foreground."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from pathlib import Path
from types import TracebackType
from typing import Self

import uvicorn

from prefect_gmicloud.simulator.app import API_PREFIX, SimulatorApps, _SimulatedDisconnect
from prefect_gmicloud.simulator.config import SimulatorConfig
from prefect_gmicloud.simulator.media import MediaRenderer
from prefect_gmicloud.simulator.state import SimulatorState, SimulatorStats


class _HideSimulatedDisconnects(logging.Filter):
    """Uvicorn logs an app's exception; an injected disconnect is not one worth showing."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        while error is not None:
            if isinstance(error, _SimulatedDisconnect):
                return False
            nested = getattr(error, "exceptions", None)
            error = nested[0] if nested else error.__cause__ or error.__context__
        return True


logging.getLogger("uvicorn.error").addFilter(_HideSimulatedDisconnects())


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


class Simulator:
    """A GMI-compatible API and its file host on loopback; a context manager for tests and demos.

    Example:
        ```python
        from prefect_gmicloud.simulator import Simulator, SimulatorConfig

        with Simulator(SimulatorConfig(processing_seconds=0.5)) as sim:
            client = GMICloudClient(sim.api_key, base_url=sim.base_url)
            ...
            assert sim.stats.duplicate_submits == 0
        ```
    """

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        files_port: int = 0,
        cache_dir: Path | None = None,
    ) -> None:
        self.config = config or SimulatorConfig()
        self.state = SimulatorState(self.config)
        self.apps = SimulatorApps(self.state, MediaRenderer(cache_dir))
        self._api_socket = _bind(host, port)
        self._files_socket = _bind(host, files_port)
        self.host = host
        self.port = self._api_socket.getsockname()[1]
        self.files_port = self._files_socket.getsockname()[1]
        url_host = f"[{host}]" if ":" in host else host
        self.root_url = f"http://{url_host}:{self.port}"
        self.base_url = f"{self.root_url}{API_PREFIX}"
        self.apps.files_base_url = f"http://{url_host}:{self.files_port}"
        self._servers = [
            uvicorn.Server(
                # The API dates its answers on GMI's clock itself (GMIDate).
                uvicorn.Config(
                    self.apps.api_app(), log_level="warning", access_log=False, date_header=False
                )
            ),
            uvicorn.Server(
                uvicorn.Config(self.apps.files_app(), log_level="warning", access_log=False)
            ),
        ]
        self._thread: threading.Thread | None = None

    @property
    def api_key(self) -> str:
        """The key the simulator accepts."""
        return self.config.api_key

    @property
    def stats(self) -> SimulatorStats:
        """What the simulator has received so far."""
        return self.state.stats

    def served_file(self, request_id: str, name: str) -> Path:
        """The local file behind an output URL (``video.mp4``, ``thumb.jpg``...), for checks."""
        path = self.apps._file_path(self.state.requests[request_id], name)
        if path is None:
            raise KeyError(f"request {request_id} has no file {name!r}")
        return path

    async def serve(self) -> None:
        """Serve until stopped (both hosts, on the current event loop)."""
        await asyncio.gather(
            self._servers[0].serve(sockets=[self._api_socket]),
            self._servers[1].serve(sockets=[self._files_socket]),
        )

    def start(self) -> Self:
        """Serve in a daemon thread; returns once both hosts accept connections."""
        self._thread = threading.Thread(target=asyncio.run, args=(self.serve(),), daemon=True)
        self._thread.start()
        deadline = threading.Event()
        while not all(server.started for server in self._servers):
            if not self._thread.is_alive():
                raise RuntimeError("the simulator failed to start")
            deadline.wait(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread to end."""
        for server in self._servers:
            server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
