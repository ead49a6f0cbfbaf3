"""How the simulator behaves: timings, served models, and the faults it injects."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Rate = float


class FaultRates(BaseModel):
    """Probabilities (0–1) of each fault, drawn from the simulator's seeded random generator."""

    model_config = ConfigDict(extra="forbid")

    server_error: Rate = Field(0.0, ge=0, le=1, description="5xx on API reads.")
    rate_limit: Rate = Field(0.0, ge=0, le=1, description="429 with Retry-After, any API call.")
    drop: Rate = Field(
        0.0, ge=0, le=1, description="Dropped connection; on submit, half of them after creating."
    )
    truncate: Rate = Field(0.0, ge=0, le=1, description="Downloads cut halfway.")
    fail: Rate = Field(0.0, ge=0, le=1, description="Requests that end 'failed'.")
    stuck: Rate = Field(0.0, ge=0, le=1, description="Requests that never finish processing.")
    unknown_status: Rate = Field(
        0.0, ge=0, le=1, description="Requests that show undocumented statuses on the way."
    )
    media_urls: Rate = Field(
        0.0, ge=0, le=1, description="Video outcomes in the media_urls list shape."
    )


ScriptedFault = Literal[
    "none",  # answered as asked: a placeholder, so the next fault goes to a later call
    "500",
    "502",
    "503",
    "429",
    "drop",  # connection cut before the call is handled
    "drop_after_create",  # submit only: the request is created, then the connection is cut
    "slow_after_create",  # submit only: created, then the answer waits slow_response_seconds
    "truncate",  # files only
]


class SimulatorConfig(BaseModel):
    """The simulator's settings; every field has a default that makes a fast, fault-free run."""

    model_config = ConfigDict(extra="forbid")

    api_key: str = Field("sim-local-key", min_length=1)
    organizations: list[str] = Field(
        default_factory=list,
        description="When set, an X-Organization-ID outside this list is refused with 403.",
    )
    queue_seconds: float = Field(0.2, ge=0)
    processing_seconds: float = Field(1.0, ge=0)
    processing_seconds_by_model: dict[str, float] = Field(default_factory=dict)
    sync_models: list[str] = Field(
        default_factory=list,
        description=(
            "Models answered sync-style besides those whose spec says so (TTS): the submit"
            " reads success, the outcome shows on a later read."
        ),
    )
    retired_models: list[str] = Field(
        default_factory=list,
        description="Catalogue models answered as retired: not listed by GET /models, 404.",
    )
    served_parameters: dict[str, list[dict[str, Any]]] = Field(
        default_factory=dict,
        description="GET /models/{id} parameters to serve instead of a model's own (a drift).",
    )
    retry_after_seconds: float = Field(1.0, ge=0)
    retry_after_as_date: bool = False
    slow_response_seconds: float = Field(5.0, ge=0)
    error_shape: Literal["flat", "nested"] = "flat"
    list_includes_payload: bool = Field(
        True, description="Whether GET /requests shows each payload (the vendor does not say)."
    )
    list_page_limit: int | None = Field(
        None,
        ge=1,
        description=(
            "When set, GET /requests shows only the first this many matching requests (in"
            " creation order), with the full count in 'total'."
        ),
    )
    clock_offset_seconds: float = Field(
        0.0,
        description=(
            "GMI's clock minus this host's, in seconds: every created_at, updated_at and the"
            " API's Date header read the host's time plus this (a worker's clock off GMI's)."
        ),
    )
    queue_statuses: list[str] = Field(
        default_factory=lambda: ["queued"],
        min_length=1,
        description=(
            "The statuses a request shows, in turn, while it waits to be processed (the SDK's"
            " 'created' and 'dispatched' come before 'queued')."
        ),
    )
    credits_for_requests: int | None = Field(
        None,
        ge=0,
        description=(
            "When set, the account's credits pay for this many requests; every later submit is"
            " answered 402 Insufficient credits, as GMI does."
        ),
    )
    unentitled_models: list[str] = Field(
        default_factory=list,
        description=(
            "Served models the key is not entitled to: a submit is answered"
            ' 500 {"error": "Backend error (401)"}, as GMI does.'
        ),
    )
    content_policy_marker: str = Field(
        "[content-policy]",
        min_length=1,
        description="A payload text containing this is refused with 400 (content policy).",
    )
    faults: FaultRates = Field(default_factory=FaultRates)
    fetch_references: bool = Field(
        True,
        description=(
            "Download every reference URL of a video request, as the vendor's workers must: one"
            " that cannot be fetched fails the request. Placeholder hosts (example.com, *.example,"
            " *.invalid, *.test) are never fetched."
        ),
    )
    reference_timeout_seconds: float = Field(
        30.0, gt=0, description="How long one reference may take to download, in all."
    )
    reference_max_bytes: int = Field(
        120 * 1024 * 1024, ge=1, description="The largest reference the simulator downloads."
    )
    seed: int = 0
    chunk_size: int = Field(256 * 1024, ge=1024)
    video_bytes: int | None = Field(
        None,
        ge=1,
        description=(
            "Serve every video as one real clip per frame size and length, padded to this"
            " many bytes, and uncaptioned thumbnails, instead of one render per prompt"
            " (for benchmarks and large test boards)."
        ),
    )
