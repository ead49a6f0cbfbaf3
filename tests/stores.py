"""Real S3 stores that break the ledger's assumptions, for tests that must meet them.

- :func:`condition_stripping_proxy`: an HTTP proxy in front of a real S3 server that drops
  ``If-None-Match`` and ``If-Match`` from every request, as GCS's S3 interoperability,
  Garage and DigitalOcean Spaces (for ``If-Match``) ignore them on writes.
- :func:`s3rver`: npm's disk-backed ``s3rver``, which ignores both on PUT. ``./dev`` installs
  it beside the venv where npm is present.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import httpx
import pytest

from prefect_gmicloud.storage import StorageLocation
from prefect_gmicloud.storage.s3_store import S3Store
from tests.processes import start_in_group, stop_group

ROOT = Path(__file__).resolve().parents[1]
#: Where ``./dev`` installs npm's s3rver.
S3RVER = ROOT / ".venv" / "node" / "node_modules" / ".bin" / "s3rver"
_STRIPPED = {"if-none-match", "if-match"}
#: The only keys s3rver accepts.
S3RVER_KEYS = {"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER"}


@contextlib.contextmanager
def condition_stripping_proxy(target: str) -> Iterator[str]:
    """Serve an endpoint that forwards to ``target`` without the conditional-write headers."""
    host, _, port = target.removeprefix("http://").partition(":")

    class Forward(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _STRIPPED}
            upstream = http.client.HTTPConnection(host, int(port), timeout=60)
            try:
                upstream.request(self.command, self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
            finally:
                upstream.close()
            self.send_response_only(answer.status, answer.reason)
            for name, value in answer.getheaders():
                if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Forward)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def s3rver_location(endpoint: str, bucket: str, prefix: str = "out") -> StorageLocation:
    """The storage of ``bucket`` on an s3rver, with the keys it accepts."""
    client = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=S3RVER_KEYS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3RVER_KEYS["AWS_SECRET_ACCESS_KEY"],
    )  # fmt: skip
    return StorageLocation(S3Store(client), bucket, prefix)


def s3rver_available() -> bool:
    """Whether npm's s3rver and node are installed for the tests."""
    return S3RVER.exists() and shutil.which("node") is not None


def require_s3rver() -> None:
    """Skip without s3rver, naming how to get it; under CI, fail instead."""
    if s3rver_available():
        return
    why = f"npm's s3rver is not installed at {S3RVER} (./dev installs it where npm is present)"
    if os.environ.get("CI"):
        pytest.fail(why)
    pytest.skip(why)


@contextlib.contextmanager
def s3rver(bucket: str) -> Iterator[str]:
    """A disk-backed s3rver on loopback with ``bucket``; its endpoint URL.

    Its clients sign with :data:`S3RVER_KEYS` (it accepts no others).
    """
    require_s3rver()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    with tempfile.TemporaryDirectory(prefix="s3rver-") as folder:
        process = start_in_group(
            [str(S3RVER), "-d", folder, "-a", "127.0.0.1", "-p", str(port), "-s",
             "--configure-bucket", bucket],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )  # fmt: skip
        endpoint = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, "s3rver exited at start"
                assert time.monotonic() < deadline, "s3rver did not start"
                with contextlib.suppress(httpx.TransportError):
                    httpx.get(endpoint, timeout=2)
                    break
                time.sleep(0.2)
            yield endpoint
        finally:
            stop_group(process)
