"""The local stack: the GMI simulator and an S3-protocol server (moto) on loopback, with a bucket.

``./dev demo`` runs against one on free ports; ``prefect-gmicloud local-stack`` serves one in
the foreground on the fixed ports the defaults of ``deployments/prefect.yaml`` point at
(simulator 8790, S3 9000, bucket ``gmicloud-local``). moto comes with the ``local`` extra
(``pip install -e '.[local]'`` from a clone); it accepts any AWS keys.

This module also holds what the demo and the CLI share about starting Prefect on a small
machine: a longer wait for Prefect's temporary API server, and one-line explanations of the
failures a first run meets.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prefect_gmicloud.errors import LocalStackError

if TYPE_CHECKING:
    from prefect_gmicloud.simulator import Simulator, SimulatorConfig
    from prefect_gmicloud.storage import S3Destination

SIMULATOR_PORT = 8790
S3_PORT = 9000
BUCKET = "gmicloud-local"

#: The setting that bounds Prefect's wait for its temporary API server, and our default for it.
#: Prefect's own default (20 s) is shorter than that server's start on an idle 2-core machine
#: (17-25 s measured, database created on first use), and with both cores busy with other work
#: it took over 120 s; a wait that long is only paid when the machine is that slow.
STARTUP_TIMEOUT_SETTING = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
STARTUP_TIMEOUT_SECONDS = 600


def allow_slow_prefect_start() -> None:
    """Give Prefect's temporary API server time to start, unless the user chose a timeout.

    Takes effect only if called before Prefect is imported (Prefect reads its settings once).
    Nothing changes when ``PREFECT_API_URL`` names a running server: then none is started.
    """
    os.environ.setdefault(STARTUP_TIMEOUT_SETTING, str(STARTUP_TIMEOUT_SECONDS))


def _unreachable_prefect_api(exc: BaseException) -> str | None:
    """The Prefect API URL ``exc`` failed to connect to, if that is what it is."""
    text = str(exc)
    if isinstance(exc, RuntimeError) and text.startswith("Failed to reach API at "):
        return text.removeprefix("Failed to reach API at ")
    api_url = os.environ.get("PREFECT_API_URL", "")
    if not api_url or type(exc).__name__ not in ("ConnectError", "ConnectTimeout"):
        return None
    try:
        target = str(exc.request.url)  # type: ignore[attr-defined]
    except (AttributeError, RuntimeError):  # httpx raises RuntimeError when unset
        return None
    return api_url if target.startswith(api_url.rstrip("/")) else None


def explain_failure(exc: BaseException) -> str | None:
    """A one-line cause and fix for the failures a first run meets; ``None`` for others."""
    text = str(exc)
    if isinstance(exc, RuntimeError) and "ephemeral Prefect API server" in text:
        waited = os.environ.get(STARTUP_TIMEOUT_SETTING, "20")
        return (
            f"Prefect's temporary API server did not start within {waited} s (a busy machine). "
            f"Fix: set {STARTUP_TIMEOUT_SETTING} higher, or run `prefect server start` and set "
            "PREFECT_API_URL=http://127.0.0.1:4200/api"
        )
    unreachable = _unreachable_prefect_api(exc)
    if unreachable is not None:
        return (
            f"the Prefect API cannot be reached: {unreachable} (PREFECT_API_URL). Fix: start "
            "it (`prefect-gmicloud local-stack --prefect`, or `prefect server start`), or "
            "unset PREFECT_API_URL for a temporary server per run"
        )
    name = type(exc).__name__
    if name == "NoCredentialsError":
        return (
            "no AWS keys for S3. Fix: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (any value "
            "works for the local stack), or an AWS profile"
        )
    if name == "EndpointConnectionError":
        return (
            f"{text}. Fix: start the local S3 server (`prefect-gmicloud local-stack`) or give the "
            "storage an endpoint_url that is up"
        )
    if isinstance(exc, LocalStackError):
        return text
    return None


def refuse_taken_port(port: int, option: str) -> None:
    """Raise :class:`LocalStackError` naming ``option`` if something listens on ``port``.

    Args:
        port: A loopback port (0: any free port, never refused).
        option: The command-line option that changes it.
    """
    if port == 0:
        return
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise LocalStackError(
                f"port {port} is already in use (another local stack?). Fix: stop it, or pick "
                f"another port with {option}"
            ) from None


@dataclass(frozen=True)
class LocalStack:
    """A running simulator and S3 server, and the bucket created on the latter."""

    simulator: Simulator
    s3_endpoint: str
    bucket: str

    def storage(self, prefix: str = "gmicloud") -> S3Destination:
        """Where flows store into this stack's bucket (keys from the AWS chain)."""
        from prefect_gmicloud.storage import S3Destination

        return S3Destination(bucket=self.bucket, prefix=prefix, endpoint_url=self.s3_endpoint)


@contextlib.contextmanager
def local_stack(
    config: SimulatorConfig | None = None,
    *,
    simulator_port: int = 0,
    s3_port: int = 0,
    bucket: str = BUCKET,
) -> Iterator[LocalStack]:
    """Start the simulator and moto on loopback, create ``bucket``; stop both on exit.

    Args:
        config: The simulator's settings (timings, faults); its defaults otherwise.
        simulator_port: The simulator's API port (0: any free port).
        s3_port: The S3 server's port (0: any free port).
        bucket: The bucket created on the S3 server.
    """
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        raise LocalStackError(
            "the local S3 server needs moto. Fix: pip install -e '.[local]' in the clone "
            "(pip install 'prefect-gmicloud[local]' once published)"
        ) from None
    from prefect_gmicloud.simulator import Simulator
    from prefect_gmicloud.storage.s3_store import S3Store, local_s3_client

    refuse_taken_port(simulator_port, "--port")
    refuse_taken_port(s3_port, "--s3-port")
    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=s3_port, verbose=False)
    s3.start()
    try:
        host, port = s3.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        # moto takes any keys; these are not the user's, so they are passed, not exported.
        S3Store(local_s3_client(endpoint)).create_bucket(bucket)
        with Simulator(config, port=simulator_port) as simulator:
            yield LocalStack(simulator=simulator, s3_endpoint=endpoint, bucket=bucket)
    finally:
        s3.stop()
