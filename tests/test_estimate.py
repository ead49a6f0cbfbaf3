"""Estimates and a run's own budget: pure, from planned shots (and model details for prices)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from prefect_gmicloud.cli import app
from prefect_gmicloud.client.records import ModelInfo
from prefect_gmicloud.errors import BudgetExceeded, NotFoundError
from prefect_gmicloud.simulator import Simulator
from prefect_gmicloud.storyboard import Storyboard, plan_storyboard
from prefect_gmicloud.storyboard.budget_check import check_budget
from prefect_gmicloud.storyboard.estimate import Price, estimate, fetch_prices, parse_price

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def board(*shots: dict[str, Any]) -> Storyboard:
    return Storyboard.parse(
        {
            "title": "cafe",
            "characters": {
                "barista": {"video": "https://refs.example/barista.mp4"},
                "guest": {"image": "https://refs.example/guest.png"},
            },
            "defaults": {"model": "wan2.7-r2v", "duration": 5},
            "shots": list(shots),
        }
    )


def shot(shot_id: str, prompt: str = "{guest} waves", **settings: Any) -> dict[str, Any]:
    return {"id": shot_id, "prompt": f"{prompt} ({shot_id})", "settings": settings}


def model_info(price_info: Any) -> ModelInfo:
    return ModelInfo.model_validate({"model": "m", "price_info": price_info})


def test_seconds_per_model_and_reference_videos() -> None:
    planned = plan_storyboard(
        board(
            shot("a"),
            shot("b", "{barista} pours", duration=3),
            shot("c", "a fox", model="wan2.7-t2v", duration=10),
        )
    )
    found = estimate(planned)
    assert [(m.model_id, m.shots, m.seconds) for m in found.models] == [
        ("wan2.7-r2v", 2, 8.0),
        ("wan2.7-t2v", 1, 10.0),
    ]
    assert found.models[0].reference_videos == 1 and found.models[1].reference_videos == 0
    assert found.seconds == 18.0 and found.cost is None
    assert found.lines() == [
        "wan2.7-r2v: 2 shot(s), 8 s generated, 1 reference video(s) of unknown length",
        "wan2.7-t2v: 1 shot(s), 10 s generated",
        "total: 18 s generated in 3 shot(s)",
    ]


def test_a_shot_without_duration_counts_at_the_longest_its_model_takes() -> None:
    data = board(shot("a")).model_dump(exclude_none=True)
    data["defaults"].pop("duration")
    data["shots"].append(shot("b", "{barista} pours", model="wan2.6-r2v"))
    found = estimate(plan_storyboard(Storyboard.parse(data)))
    assert [(m.seconds, m.defaulted) for m in found.models] == [(15.0, 1), (10.0, 1)]
    assert "counted at the longest" in found.lines()[0]


def test_stored_shots_are_free() -> None:
    planned = plan_storyboard(board(shot("a"), shot("b"), shot("c")))
    found = estimate(planned, stored={planned[1].inputs_hash})
    assert found.seconds == 10.0 and found.free == ["b"]
    assert found.lines()[-1] == "already stored, not paid again: b"


@pytest.mark.parametrize(
    ("price_info", "expected"),
    [
        ({"price": 0.05, "pricing_type": "per_second", "unit": "second"}, Price(0.05, "second")),
        ({"price": "$0.10", "unit": "seconds"}, Price(0.10, "second")),
        ({"price": "1.5", "pricing_type": "per_video"}, Price(1.5, "video")),
        ({"price": 2, "unit": "video"}, Price(2.0, "video")),
        (None, "no price information"),
        ("cheap", "price_info is not an object (str)"),
        ({"price": "call us", "unit": "second"}, "price 'call us' is not a number"),
        ({"price": -1, "unit": "second"}, "price -1 is not a number"),
        ({"price": True, "unit": "second"}, "price True is not a number"),
        ({"price": 3, "unit": "token"}, "unknown price unit (unit='token', pricing_type=None)"),
    ],
)
def test_prices_are_read_tolerantly(price_info: Any, expected: Price | str) -> None:
    assert parse_price(model_info(price_info)) == expected


def test_no_price_info_at_all() -> None:
    assert parse_price(ModelInfo(model="m")) == "no price information"


async def test_cost_where_prices_are_known() -> None:
    class Client:
        async def get_model(self, model_id: str) -> ModelInfo:
            if model_id == "wan2.7-t2v":
                raise NotFoundError(404, "no such model")
            return model_info({"price": 0.1, "unit": "second"})

    planned = plan_storyboard(board(shot("a"), shot("b", duration=3)))
    priced = estimate(planned).with_prices(await fetch_prices(Client(), ["wan2.7-r2v"]))
    assert priced.cost == pytest.approx(0.8)
    assert priced.lines()[-1] == "total: 8 s generated in 2 shot(s); cost 0.80"
    mixed = plan_storyboard(board(shot("a"), shot("c", "a fox", model="wan2.7-t2v", duration=5)))
    found = estimate(mixed).with_prices(await fetch_prices(Client(), ["wan2.7-r2v", "wan2.7-t2v"]))
    assert found.cost is None
    assert found.models[1].why_no_cost == "model detail not read (NotFoundError)"
    assert "| wan2.7-t2v | 1 | 5 | 0 | model detail not read" in found.markdown("cafe")
    per_video = estimate(planned).with_prices({"wan2.7-r2v": Price(2.0, "video")})
    assert per_video.cost == 4.0


def test_over_max_generated_seconds_says_by_how_much() -> None:
    found = estimate(plan_storyboard(board(*(shot(f"s{n}", duration=8) for n in range(8)))))
    check_budget("cafe", found, max_generated_seconds=64)
    with pytest.raises(BudgetExceeded) as caught:
        check_budget("cafe", found, max_generated_seconds=50)
    assert str(caught.value) == (
        "storyboard 'cafe' not run, nothing was paid: this run would generate 64 s; "
        "max_generated_seconds is 50: 14 s over"
    )


def test_max_cost_needs_prices_and_is_checked_with_them() -> None:
    found = estimate(plan_storyboard(board(shot("a"), shot("b"))))
    with pytest.raises(BudgetExceeded, match=r"max_cost is 1 but the cost is unknown \("):
        check_budget("cafe", found, max_cost=1)
    found.with_prices({"wan2.7-r2v": "no price information"})
    with pytest.raises(BudgetExceeded, match=r"wan2.7-r2v: no price information"):
        check_budget("cafe", found, max_cost=1)
    found.with_prices({"wan2.7-r2v": Price(0.1, "second")})
    check_budget("cafe", found, max_cost=1)
    with pytest.raises(BudgetExceeded, match=r"would cost 1.00; max_cost is 0.5: 0.50 over"):
        check_budget("cafe", found, max_cost=0.5)


def test_validate_prints_the_seconds_and_sends_nothing() -> None:
    result = runner.invoke(app, ["storyboard", "validate", str(ROOT / "examples" / "cafe.yaml")])
    assert result.exit_code == 0, result.output
    assert "wan2.7-r2v: 6 shot(s), 19 s generated, 4 reference video(s) of unknown length" in (
        result.output
    )
    assert "total: 19 s generated in 6 shot(s)" in result.output
    assert "cost" not in result.output


def test_validate_prices_asks_gmi_and_says_when_there_are_none(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GMI_TEST_KEY", sim.api_key)
    arguments = [
        "storyboard", "validate", str(ROOT / "examples" / "cafe.yaml"), "--prices",
        "--api-key-env", "GMI_TEST_KEY", "--base-url", sim.base_url,
    ]  # fmt: skip
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert "19 s generated" in result.output
    assert "cost unknown (no price information)" in result.output
    assert sim.stats.calls["models"] == 1 and sim.stats.calls["submit"] == 0
