"""The benchmarks' local services, each in a process of its own: the GMI simulator and moto S3.

Separate processes keep their CPU out of the measured process (two cores here).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

API_KEY = "sim-local-key"


@dataclass
class Servers:
    """Where the services listen; ``simulator_stats`` is filled in once they have stopped."""

    base_url: str
    s3_endpoint: str
    bucket: str
    simulator_stats: dict[str, Any] = field(default_factory=dict)

    def s3_client(self) -> Any:
        return s3_client(self.s3_endpoint)


def s3_client(endpoint: str) -> Any:
    """A plain boto3 client for the local S3 server (none of the package's settings)."""
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, deadline: float = 30.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


@contextlib.contextmanager
def quiet_prefect() -> Iterator[None]:
    """A temporary local Prefect API (SQLite, its own process); run logs at WARNING only.

    Hundreds of task runs would otherwise bury the benchmark's table in log lines.
    """
    from prefect.testing.utilities import prefect_test_harness

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    for name in ("prefect", "prefect.flow_runs", "prefect.task_runs", "prefect.engine"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("prefect.server").setLevel(logging.NOTSET)
    with prefect_test_harness(server_startup_timeout=120):
        yield
        # The temporary server stops with events still unflushed: its tracebacks are teardown's.
        logging.getLogger("prefect.server").setLevel(logging.CRITICAL)


@contextlib.contextmanager
def local_servers(*simulator_args: str, bucket: str = "bench") -> Iterator[Servers]:
    """Start moto and the simulator (with ``simulator_args``); stop both on exit."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench-secret")
    s3_port = free_port()
    with tempfile.TemporaryDirectory(prefix="gmi-bench-") as workdir:
        stats_file = Path(workdir) / "simulator-stats.json"
        env = {**os.environ, "PREFECT_GMICLOUD_SIM_CACHE": str(Path(workdir) / "sim")}
        moto = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(s3_port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        simulator = subprocess.Popen(
            [sys.executable, "-m", "prefect_gmicloud.simulator", "--port", "0",
             "--stats-file", str(stats_file), *simulator_args],
            stdout=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        try:
            assert simulator.stdout is not None
            match = re.search(r"base_url=(\S+)", simulator.stdout.readline())
            assert match, "the simulator did not start"
            wait_for_port(s3_port)
            servers = Servers(match.group(1), f"http://127.0.0.1:{s3_port}", bucket)
            servers.s3_client().create_bucket(Bucket=bucket)
            yield servers
        finally:
            simulator.send_signal(signal.SIGINT)
            simulator.wait(timeout=30)
            moto.terminate()
            moto.wait(timeout=30)
        if stats_file.exists():
            servers.simulator_stats = json.loads(stats_file.read_text())
