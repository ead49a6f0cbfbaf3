"""A real ``prefect server start`` beside the local stack: ``local-stack --prefect``.

Without ``PREFECT_API_URL`` every script starts a temporary Prefect API server of its own (15-60 s
on a small, busy machine) and those servers share the user's database. This one is started once
for the day, on loopback, with a home and SQLite database of its own under
``~/.local/state/prefect-gmicloud/prefect`` (``$XDG_STATE_HOME`` is honoured), so it never locks
the database of the user's own Prefect. It runs in a process group of its own and is stopped
with everything it started.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from prefect_gmicloud.errors import LocalStackError
from prefect_gmicloud.localstack import refuse_taken_port
from prefect_gmicloud.process_group import start_in_group, stop_group

PREFECT_PORT = 4200
#: How long to wait for the server to answer /health: minutes on a 2-core machine under load.
START_SECONDS = 600.0


def state_home() -> Path:
    """Where the local Prefect server keeps its home and database."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "prefect-gmicloud" / "prefect"


def _prefect_executable() -> str:
    beside = Path(sys.executable).parent / "prefect"
    return str(beside) if beside.exists() else "prefect"


def _tail(log: Path, lines: int = 5) -> str:
    try:
        return " | ".join(log.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


@contextlib.contextmanager
def prefect_server(
    port: int = PREFECT_PORT, home: Path | None = None, wait: float = START_SECONDS
) -> Iterator[str]:
    """``prefect server start`` on 127.0.0.1:``port`` until the block ends; its API URL.

    Args:
        port: The server's port (0 is not accepted: the URL must be known to export it).
        home: Its ``PREFECT_HOME`` and database folder (default: :func:`state_home`).
        wait: Seconds to wait for it to answer ``/health``.

    Raises:
        LocalStackError: the port is taken, or the server exited or did not answer in time
            (the message holds the end of its log).
    """
    refuse_taken_port(port, "--prefect-port")
    home = home or state_home()
    home.mkdir(parents=True, exist_ok=True)
    api_url = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": api_url,
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    env.pop("PREFECT_API_DATABASE_CONNECTION_URL", None)
    log = home / "server.log"
    with log.open("w") as out:
        command = [_prefect_executable(), "server", "start", "--host", "127.0.0.1"]
        server = start_in_group(
            [*command, "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + wait
        while not _healthy(api_url):
            if server.poll() is not None:
                raise LocalStackError(f"prefect server start exited: {_tail(log)} (log: {log})")
            if time.monotonic() > deadline:
                raise LocalStackError(
                    f"the Prefect server did not answer within {wait:.0f} s (log: {log})"
                )
            time.sleep(0.5)
        yield api_url
    finally:
        stop_group(server)


def _healthy(api_url: str) -> bool:
    try:
        return httpx.get(f"{api_url}/health", timeout=2).is_success
    except httpx.HTTPError:
        return False
