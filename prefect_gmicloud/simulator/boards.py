"""Synthetic storyboards of any size, for load tests and benchmarks against the simulator."""

from __future__ import annotations

from prefect_gmicloud.storyboard.schema import Storyboard


def synthetic_storyboard(shots: int, title: str) -> Storyboard:
    """``shots`` distinct 2 s shots of one character, titled ``title``, ids ``shot-0000``…"""
    return Storyboard.parse(
        {
            "title": title,
            "characters": {"hero": {"image": "https://refs.example/hero.png"}},
            "defaults": {"model": "wan2.7-r2v", "resolution": "720P", "duration": 2},
            "shots": [
                {
                    "id": f"shot-{number:04d}",
                    "prompt": f"{{hero}} walks on in {title}, take {number}",
                }
                for number in range(shots)
            ],
        }
    )
