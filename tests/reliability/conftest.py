"""A real ``prefect server start`` on loopback, shared by the tests that deploy to workers."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.processes import Processes, start_in_group, stop_group


def prefect_command(*args: str) -> list[str]:
    """The ``prefect`` CLI of this environment, with ``args``."""
    return [str(Path(sys.executable).parent / "prefect"), *args]


def free_port() -> int:
    """A loopback port nothing listens on (now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def running_prefect_server(ui: bool = False) -> Iterator[dict[str, str]]:
    """``prefect server start`` on loopback with a fresh SQLite home; the env to reach it.

    Start it after the S3 server, so workers and their flow runs inherit its AWS keys.
    """
    with tempfile.TemporaryDirectory(prefix="gmi-prefect-server-") as home:
        port = free_port()
        env = {
            **os.environ,
            "PREFECT_HOME": home,
            "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_UI_ENABLED": str(ui).lower(),
            "PREFECT_WORKER_QUERY_SECONDS": "1",
        }
        log = Path(home) / "server.log"
        with log.open("w") as out:
            server = start_in_group(
                prefect_command("server", "start", "--host", "127.0.0.1", "--port", str(port)),
                env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            deadline = time.monotonic() + 300  # minutes on a busy 2-core machine
            while True:
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "the Prefect server did not start"
                try:
                    if httpx.get(env["PREFECT_API_URL"] + "/health", timeout=2).is_success:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.5)
            yield env
        finally:
            stop_group(server)


@contextlib.contextmanager
def start_worker(
    env: dict[str, str], pool: str, log: Path, name: str = "worker-1"
) -> Iterator[subprocess.Popen[bytes]]:
    """A process worker on ``pool`` taking one run at a time, logging to ``log``."""
    with log.open("w") as out:
        worker = start_in_group(
            prefect_command(
                "worker", "start", "--pool", pool, "--type", "process", "--name", name,
                "--limit", "1",
            ),
            env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
        )  # fmt: skip
    try:
        yield worker
    finally:
        stop_group(worker)


@pytest.fixture(scope="module")
def prefect_server(s3_endpoint: str) -> Iterator[dict[str, str]]:
    """A Prefect server without its UI for the module, started after the S3 server."""
    with running_prefect_server() as env:
        yield env


@pytest.fixture
def processes() -> Iterator[Processes]:
    """Start background processes through this; the test's teardown stops each group."""
    started = Processes()
    try:
        yield started
    finally:
        started.stop_all()
