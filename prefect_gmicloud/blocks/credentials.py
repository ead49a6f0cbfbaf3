"""``GMICloudCredentials``: the Prefect block that holds the API key and hands out clients."""

from __future__ import annotations

from typing import Any, ClassVar

from prefect.blocks.abstract import CredentialsBlock
from pydantic import Field, SecretStr, field_validator
from typing_extensions import Unpack

from prefect_gmicloud.client.http import ClientOptions, GMICloudClient
from prefect_gmicloud.client.sync import GMICloudSyncClient
from prefect_gmicloud.client.urls import DEFAULT_BASE_URL, check_base_url


class GMICloudCredentials(CredentialsBlock):
    """Credentials for GMI Cloud's request-queue API.

    The key is a secret: Prefect stores it encrypted, shows it masked, and this package sends it
    only to ``base_url``'s host. ``get_client()`` gives an async client, ``get_sync_client()`` a
    blocking one.

    Example:
        Save the key once, then load it and list the models it may use. This is a script;
        in async code (a flow, a notebook) ``await`` ``save`` and ``load`` and use
        ``get_client()`` with ``async with``:
        ```python
        from prefect_gmicloud import GMICloudCredentials

        GMICloudCredentials(api_key="YOUR_KEY").save("BLOCK_NAME", overwrite=True)  # once
        credentials = GMICloudCredentials.load("BLOCK_NAME")
        with credentials.get_sync_client() as client:
            print(client.list_models())
        ```
    """

    _block_type_name = "GMI Cloud Credentials"
    _description = (
        "The API key (and optional organization) for GMI Cloud's request queue; set base_url "
        "only to point it at the local simulator."
    )
    _documentation_url: ClassVar[Any] = (
        "https://docs.gmicloud.ai/inference-engine/api-reference/video-api-reference"
    )
    # No logo on purpose. Prefect takes a logo only as an http(s) URL (no data: URI, no
    # packaged file) and GMI Cloud publishes no stable URL for one that this package could
    # vouch for; a guessed or third-party link would break silently. Prefect shows its
    # default block icon. Set _logo_url here once GMI Cloud names an official image URL.
    _logo_url: ClassVar[Any] = None

    api_key: SecretStr = Field(
        default=...,
        description="The GMI Cloud API key, sent as a Bearer token to base_url only.",
    )
    base_url: str = Field(
        default=DEFAULT_BASE_URL,
        description=(
            "The request-queue API root; change it only for the local simulator "
            "(plain http is accepted on loopback only)."
        ),
    )
    organization_id: str | None = Field(
        default=None,
        description="Sent as X-Organization-ID, for keys that belong to several organizations.",
    )

    @field_validator("api_key")
    @classmethod
    def _key_not_blank(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("api_key: must not be empty")
        return value

    @field_validator("base_url")
    @classmethod
    def _safe_base_url(cls, value: str) -> str:
        return check_base_url(value)

    def get_client(self, **options: Unpack[ClientOptions]) -> GMICloudClient:
        """A new :class:`GMICloudClient` with this block's key, base URL and organization.

        Use it as an async context manager so its connections are closed.

        Args:
            options: the client's other keyword options, typed (``ClientOptions``: timeout,
                retry and wait policies, transport, clock and sleep for tests...).
        """
        return GMICloudClient(
            self.api_key,
            base_url=self.base_url,
            organization_id=self.organization_id,
            **options,
        )

    def get_sync_client(self, **options: Unpack[ClientOptions]) -> GMICloudSyncClient:
        """A new blocking :class:`GMICloudSyncClient` with this block's key, URL and organization.

        For scripts without an event loop; use it as a context manager so its thread and
        connections are closed.

        Args:
            options: the client's other keyword options, as for :meth:`get_client`.
        """
        return GMICloudSyncClient(
            self.api_key,
            base_url=self.base_url,
            organization_id=self.organization_id,
            **options,
        )
