"""Where the client may send the API key: the base URL policy and the bearer auth.

The key goes only to the API's own origin (scheme, host and port), and only over https, except
to loopback (the local simulator). Result files live on other hosts and never see it.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Generator
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr

from prefect_gmicloud._version import __version__

DEFAULT_BASE_URL = "https://console.gmicloud.ai/api/v1/ie/requestqueue/apikey"


def user_agent() -> str:
    """``prefect-gmicloud/<version>``."""
    return f"prefect-gmicloud/{__version__}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(base_url: str) -> str:
    """Refuse a base URL that would send the key in clear text or nowhere sensible.

    Args:
        base_url: the request-queue API root.

    Returns:
        The URL without a trailing slash.

    Raises:
        ValueError: not http(s), or plain http to a host other than loopback.
    """
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"base_url: must be an http(s) URL, got {base_url!r}")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError(
            "base_url: plain http is allowed only on loopback (the simulator); "
            f"use https for {parts.hostname}"
        )
    return base_url.rstrip("/")


def alternate_models_url(base_url: str) -> str:
    """The other ``GET /models`` path one vendor page gives (``/api/v1/apikey/models``)."""
    return base_url.replace("/ie/requestqueue/apikey", "/apikey") + "/models"


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default_port = {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host, url.port or default_port


class BearerAuth(httpx.Auth):
    """Adds the key only to requests for the API's own origin (scheme, host and port)."""

    def __init__(self, api_key: SecretStr, api_url: str) -> None:
        self._api_key = api_key
        self._api_origin = _origin(httpx.URL(api_url))

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if _origin(request.url) == self._api_origin:
            request.headers["Authorization"] = f"Bearer {self._api_key.get_secret_value()}"
        yield request


#: Where the client looks for the API key when none is given.
API_KEY_ENV = "GMI_CLOUD_API_KEY"


def resolve_api_key(api_key: SecretStr | str | None) -> SecretStr:
    """The key given, else the one in ``$GMI_CLOUD_API_KEY``.

    Raises:
        ValueError: neither is set, or the key is blank (the message names the variable, never
            a key).
    """
    if api_key is None:
        from_env = os.environ.get(API_KEY_ENV)
        if from_env is None:
            raise ValueError(f"api_key: none given and ${API_KEY_ENV} is not set")
        api_key, where = from_env, f"${API_KEY_ENV}"
    else:
        where = "api_key"
    key = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)
    if not key.get_secret_value().strip():
        raise ValueError(f"{where}: must not be empty")
    return key
