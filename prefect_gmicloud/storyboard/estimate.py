"""What a storyboard would cost before anything is paid: generated seconds per model, and money
where GMI says a price.

Pure except :func:`fetch_prices`, which reads ``GET /models/{id}``. GMI does not document prices;
its SDK reads ``price_info {price, pricing_type, unit}`` from the model detail, so prices are read
tolerantly: a price per second or per video gives a cost, anything else gives none and says why.
Reference videos are billed too by some resellers, but they are URLs here: their length is
unknown, and the estimate says so instead of guessing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from prefect_gmicloud.errors import GMICloudError
from prefect_gmicloud.models.base import GMIPayload
from prefect_gmicloud.references.limits import media_kind_of
from prefect_gmicloud.storyboard.plan import PlannedShot

if TYPE_CHECKING:
    # The client package brings httpx: `storyboard validate` estimates without it.
    from prefect_gmicloud.client.records import ModelInfo

_PER_SECOND = {"s", "sec", "secs", "second", "seconds", "per_second", "per second", "/s"}
_PER_VIDEO = {"video", "videos", "per_video", "per video", "request", "generation", "each"}
_NUMBER = re.compile(r"^\s*\$?\s*(\d+(?:\.\d+)?)\s*(?:usd)?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Price:
    """A model's price, as GMI's model detail states it.

    Attributes:
        amount: the price, in the vendor's currency (USD on its pages).
        per: what one ``amount`` pays for: one generated second, or one video.
    """

    amount: float
    per: Literal["second", "video"]

    def __str__(self) -> str:
        return f"{self.amount:g} per {self.per}"


def parse_price(info: ModelInfo) -> Price | str:
    """The price in a model detail's ``price_info``, or why there is none (never raises).

    Args:
        info: the model's description (``GMICloudClient.get_model``); unknown fields are kept.
    """
    raw = (info.model_extra or {}).get("price_info")
    if raw is None:
        return "no price information"
    if not isinstance(raw, Mapping):
        return f"price_info is not an object ({type(raw).__name__})"
    amount = _amount(raw.get("price"))
    if amount is None:
        return f"price {raw.get('price')!r} is not a number"
    words = [str(raw.get(key) or "").strip().lower() for key in ("unit", "pricing_type")]
    if any(word in _PER_SECOND or "second" in word for word in words):
        return Price(amount, "second")
    if any(word in _PER_VIDEO for word in words):
        return Price(amount, "video")
    unit = ", ".join(f"{key}={raw.get(key)!r}" for key in ("unit", "pricing_type"))
    return f"unknown price unit ({unit})"


def _amount(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str) and (match := _NUMBER.match(value)):
        number = float(match.group(1))
    else:
        return None
    return number if math.isfinite(number) and number >= 0 else None


class ModelReader(Protocol):
    """What :func:`fetch_prices` needs of a client (``GMICloudClient`` is one)."""

    async def get_model(self, model_id: str) -> ModelInfo: ...


async def fetch_prices(client: ModelReader, model_ids: Iterable[str]) -> dict[str, Price | str]:
    """Each model's price, or why there is none (a failed read is a reason, not an error).

    Args:
        client: reads ``GET /models/{id}``.
        model_ids: the models to price; each is read once.
    """
    prices: dict[str, Price | str] = {}
    for model_id in dict.fromkeys(model_ids):
        try:
            prices[model_id] = parse_price(await client.get_model(model_id))
        except GMICloudError as exc:
            prices[model_id] = f"model detail not read ({type(exc).__name__})"
    return prices


@dataclass
class ModelEstimate:
    """The shots of one model that would be paid.

    Attributes:
        model_id: the model.
        shots: how many shots would be paid.
        seconds: generated seconds, read from the field the model's spec names (``duration``,
            Veo's ``durationSeconds``...), counting a shot that sets none at the model's
            published default or else the longest it accepts (GMI picks; this bounds it).
        defaulted: shots without a length (counted at the default or the longest).
        unknown: shots whose length cannot be bounded (none set, no default, no maximum).
        reference_videos: reference videos sent whose length is unknown (https URLs).
        input_seconds: seconds of the reference videos whose length is known (read from
            the files and objects): some resellers bill input video seconds too.
        price: the model's price, or why there is none (``None``: prices were not asked for).
    """

    model_id: str
    shots: int = 0
    seconds: float = 0.0
    defaulted: int = 0
    unknown: int = 0
    reference_videos: int = 0
    input_seconds: float = 0.0
    price: Price | str | None = None

    @property
    def cost(self) -> float | None:
        """The estimated cost, when the price is known and every shot's length is bounded."""
        if not isinstance(self.price, Price) or self.unknown:
            return None
        if self.price.per == "second":
            return self.price.amount * self.seconds
        return self.price.amount * self.shots

    @property
    def why_no_cost(self) -> str:
        """Why :attr:`cost` is ``None`` (empty when it is not)."""
        if self.price is None:
            return "prices not fetched"
        if isinstance(self.price, str):
            return self.price
        return f"{self.unknown} shot(s) of unknown length" if self.unknown else ""


@dataclass
class Estimate:
    """What a run would generate, per model; shots already stored are free and listed apart.

    Attributes:
        models: the paid shots, per model (in order of first appearance).
        free: shots already stored with the same inputs (not paid again).
    """

    models: list[ModelEstimate] = field(default_factory=list)
    free: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        """Generated seconds in all (shots without duration at their model's longest)."""
        return sum(m.seconds for m in self.models)

    @property
    def unknown(self) -> int:
        """Shots whose length cannot be bounded."""
        return sum(m.unknown for m in self.models)

    @property
    def cost(self) -> float | None:
        """The total cost, when every paid model has one (``None`` otherwise)."""
        costs = [m.cost for m in self.models]
        return None if any(c is None for c in costs) else sum(c for c in costs if c is not None)

    def with_prices(self, prices: Mapping[str, Price | str]) -> Estimate:
        """This estimate with each model's price (or why none) from ``prices``."""
        for model in self.models:
            model.price = prices.get(model.model_id, "not priced")
        return self

    def lines(self) -> list[str]:
        """One line per model and a total, for people."""
        lines = [_model_line(m) for m in self.models]
        shots = sum(m.shots for m in self.models)
        total = f"total: {self.seconds:g} s generated in {shots} shot(s)"
        if self.unknown:
            total += f" + {self.unknown} shot(s) of unknown length"
        if any(m.price is not None for m in self.models):
            cost = self.cost
            total += f"; cost {cost:.2f}" if cost is not None else "; cost unknown"
        lines.append(total)
        if self.free:
            lines.append(f"already stored, not paid again: {', '.join(self.free)}")
        return lines

    def markdown(self, title: str) -> str:
        """A markdown table of the estimate (for a Prefect artifact)."""
        rows = [
            f"# Estimate for storyboard {title}",
            "",
            "| model | shots | generated seconds | reference video seconds | cost |",
            "|---|---|---|---|---|",
        ]
        for m in self.models:
            cost = f"{m.cost:.2f} ({m.price})" if m.cost is not None else m.why_no_cost
            rows.append(
                f"| {m.model_id} | {m.shots} | {_seconds(m)} | {_input(m) or '0'} | {cost} |"
            )
        rows += ["", *self.lines()[len(self.models) :]]
        return "\n".join(rows)


def _seconds(model: ModelEstimate) -> str:
    text = f"{model.seconds:g}"
    if model.defaulted:
        text += f" (≤; {model.defaulted} shot(s) without duration counted at the longest)"
    if model.unknown:
        text += f" + {model.unknown} shot(s) of unknown length"
    return text


def _input(model: ModelEstimate) -> str:
    """The reference video the model reads: known seconds, and videos of unknown length."""
    parts = [f"reading {model.input_seconds:g} s of reference video"] if model.input_seconds else []
    if model.reference_videos:
        parts.append(f"{model.reference_videos} reference video(s) of unknown length")
    return " + ".join(parts)


def _model_line(model: ModelEstimate) -> str:
    line = f"{model.model_id}: {model.shots} shot(s), {_seconds(model)} s generated"
    if _input(model):
        line += f", {_input(model)}"
    if model.price is not None:
        line += f"; cost {model.cost:.2f}" if model.cost is not None else "; cost unknown"
        line += f" ({model.price if model.cost is not None else model.why_no_cost})"
    return line


def estimate(
    planned: Iterable[PlannedShot],
    stored: Iterable[str] = (),
    video_seconds: Callable[[str], float | None] = lambda url: None,
) -> Estimate:
    """Generated seconds per model of the shots that would be paid (pure; sends nothing).

    Args:
        planned: the shots (``plan_storyboard``).
        stored: inputs hashes already stored (those shots are free); none by default.
        video_seconds: the length of the reference video a payload URL names, when known.
    """
    free_hashes = set(stored)
    result = Estimate()
    by_model: dict[str, ModelEstimate] = {}
    for shot in planned:
        if free_hashes and shot.inputs_hash in free_hashes:
            result.free.append(shot.shot_id)
            continue
        payload = shot.payload
        model = by_model.get(payload.model_id)
        if model is None:
            model = by_model[payload.model_id] = ModelEstimate(payload.model_id)
            result.models.append(model)
        model.shots += 1
        if not isinstance(payload, GMIPayload):
            model.unknown += 1  # no typed spec says how its seconds are counted
            continue
        for url in _reference_videos(payload):
            length = video_seconds(url)
            if length is None:
                model.reference_videos += 1
            else:
                model.input_seconds += length
        asked = payload.asked_seconds()
        if asked is not None:
            model.seconds += asked
            continue
        bound = type(payload).unset_seconds()
        if bound is None:
            model.unknown += 1
        else:
            model.seconds += bound
            model.defaulted += 1
    return result


def _reference_videos(payload: GMIPayload) -> list[str]:
    """The URLs of the videos a payload sends the model (references, clips to edit...)."""
    return [
        url
        for where, url in payload.media_urls()
        if media_kind_of(payload.model_id, where.split("[")[0]) == "video"
    ]
