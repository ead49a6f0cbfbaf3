"""One TLS context per process for every HTTP client we make.

httpx builds a context per client, loading the CA bundle each time (~40 ms of CPU). Prefect
tasks make a client per call, so a 100-shot storyboard spent almost half of its event loop
there (benchmarks/overhead.py, profiled with py-spy). Contexts are safe to share.
"""

from __future__ import annotations

import functools
import os
import ssl

import certifi


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """The context httpx would make by default (``SSL_CERT_FILE``/``SSL_CERT_DIR``, certifi)."""
    if os.environ.get("SSL_CERT_FILE"):
        return ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    if os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    return ssl.create_default_context(cafile=certifi.where())
