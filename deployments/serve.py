"""Serve the storyboard flow from this process: no work pool, for one machine or a laptop.

    .venv/bin/python deployments/serve.py

Creates the deployments of prefect.yaml (nightly + on demand) under names ending in
``-served`` (``cafe-nightly-served``, ``storyboard-on-demand-served``), with the same
parameters, descriptions and schedules, and runs their flow runs here until stopped. The
names differ so that serving never overwrites the work-pool deployments of prefect.yaml, and
their runs never go to a worker. Needs a Prefect API (`prefect server start`, or Prefect Cloud)
and, with the default parameters, the local stack (`prefect-gmicloud local-stack`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from prefect import serve
from prefect.client.schemas.schedules import CronSchedule
from prefect.deployments.runner import RunnerDeployment

from prefect_gmicloud.flows.storyboard import run_storyboard

HERE = Path(__file__).resolve().parent
SUFFIX = "-served"


def spec() -> dict[str, Any]:
    """prefect.yaml, read as data."""
    loaded: dict[str, Any] = yaml.safe_load((HERE / "prefect.yaml").read_text(encoding="utf-8"))
    return loaded


def deployments() -> list[RunnerDeployment]:
    """prefect.yaml's deployments of ``run_storyboard``, renamed with ``-served``."""
    built = []
    for entry in spec()["deployments"]:
        schedules = [
            CronSchedule(cron=s["cron"], timezone=s.get("timezone"))
            for s in entry.get("schedules", [])
        ]
        deployment = run_storyboard.to_deployment(
            name=entry["name"] + SUFFIX,
            description=entry.get("description"),
            schedules=schedules or None,
            parameters=entry["parameters"],
        )
        # Called outside an event loop, to_deployment returns the deployment, not a coroutine.
        assert isinstance(deployment, RunnerDeployment)
        built.append(deployment)
    return built


if __name__ == "__main__":
    serve(*deployments())
