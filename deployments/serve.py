"""Serve the storyboard flow from this process: no work pool, for one machine or a laptop.

    .venv/bin/python deployments/serve.py

Creates the same two deployments as prefect.yaml (nightly + on demand) and runs their flow runs
here until stopped. Needs a Prefect API (`prefect server start`, or Prefect Cloud).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from prefect import serve
from prefect.deployments.runner import RunnerDeployment

from prefect_gmicloud.flows.storyboard import run_storyboard

HERE = Path(__file__).resolve().parent


def parameters() -> dict[str, Any]:
    """The example parameters of prefect.yaml, so both ways of deploying agree."""
    spec = yaml.safe_load((HERE / "prefect.yaml").read_text(encoding="utf-8"))
    found: dict[str, Any] = spec["definitions"]["storyboard_parameters"]
    return found


def deployments() -> list[RunnerDeployment]:
    """The nightly and the on-demand deployment of ``run_storyboard``."""
    built = [
        run_storyboard.to_deployment(
            name="cafe-nightly", cron="0 2 * * *", parameters=parameters()
        ),
        run_storyboard.to_deployment(name="storyboard-on-demand", parameters=parameters()),
    ]
    # Called outside an event loop, to_deployment returns the deployment, not a coroutine.
    return [d for d in built if isinstance(d, RunnerDeployment)]


if __name__ == "__main__":
    serve(*deployments())
