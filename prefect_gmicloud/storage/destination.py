"""``S3Destination``: a bucket and prefix on S3 or an S3-compatible endpoint, holding no secret.

Its keys come from the standard AWS chain (environment, profile, instance role), so it is safe
as a flow parameter. Users who keep S3 settings and keys in Prefect use a prefect-aws
``S3Bucket`` block instead; ``resolve_storage`` takes either.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic import ConfigDict, Field, field_validator

from prefect_gmicloud.form_schema import WithoutNones, plain_optionals
from prefect_gmicloud.storage.keys import refuse_odd_segments

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def plain_prefix(prefix: str) -> str:
    """``prefix`` as a folder: one trailing ``/`` is dropped, anything else odd is refused.

    ``"gmicloud/"`` is the folder ``gmicloud``; ``"/gmicloud"``, ``"a//b"``, ``".."`` and
    control characters are refused rather than rewritten into some other folder.

    Raises:
        UnsafeKeyError: naming the segment.
    """
    folder = prefix[:-1] if prefix.endswith("/") else prefix
    if folder:
        refuse_odd_segments(folder.split("/"), prefix)
    return folder


class S3Destination(WithoutNones):
    """A bucket and prefix on S3 or an S3-compatible endpoint; keys from the AWS chain.

    Example:
        ```python
        S3Destination(bucket="media", prefix="gmicloud", endpoint_url="http://127.0.0.1:9000")
        ```
    """

    # Unknown fields are refused: a misspelt endpoint_url would otherwise send the videos to AWS.
    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra=plain_optionals)

    bucket: str = Field(min_length=3, max_length=63, description="The bucket name.")
    prefix: str = Field(
        "",
        description="A folder inside the bucket for everything written, such as gmicloud "
        "(one trailing / is dropped; a leading / or an empty segment is refused).",
    )
    endpoint_url: str | None = Field(None, description="For S3-compatible stores (MinIO...).")
    region_name: str | None = Field(None, description="The bucket's region.")
    profile_name: str | None = Field(None, description="An AWS profile to take keys from.")

    @field_validator("endpoint_url", "region_name", "profile_name", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # The run form sends an input a person cleared as "".
        return None if value == "" else value

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint_is_an_http_url(cls, url: str | None) -> str | None:
        if url is not None and not re.fullmatch(r"https?://[^\s/?#]+(/\S*)?", url):
            raise ValueError(f"must be an http(s) URL such as http://127.0.0.1:9000, got {url!r}")
        return url

    @field_validator("prefix")
    @classmethod
    def _prefix_is_a_plain_folder(cls, prefix: str) -> str:
        return plain_prefix(prefix)

    def s3_client(self) -> S3Client:
        """A boto3 S3 client for this destination, made once per process and settings."""
        from prefect_gmicloud.storage.s3_store import s3_client

        return s3_client(self.profile_name, self.endpoint_url, self.region_name)
