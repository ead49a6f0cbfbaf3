"""What the README says of a work pool that holds the trust boundary, checked on the installed
Prefect: a run's ``env`` job variable (which anyone who may run a deployment can edit in the
custom-run form) overrides the worker's environment and even ``env`` hard-coded in the base job
template; a template without ``env`` ignores it, and one without ``command`` runs the flow."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest
from prefect.workers.process import ProcessJobConfiguration, ProcessWorker

from prefect_gmicloud.storyboard.trust import BUCKETS_ENV, ROOTS_ENV

pytestmark = pytest.mark.usefixtures("prefect_api")

#: What a UI user puts in a run's job variables.
RUN_JOB_VARIABLES = {
    "env": {ROOTS_ENV: "/", BUCKETS_ENV: "everything"},
    "command": "cat /etc/shadow",
}


def configuration(template: dict[str, Any]) -> ProcessJobConfiguration:
    return asyncio.run(
        ProcessJobConfiguration.from_template_and_values(template, RUN_JOB_VARIABLES)
    )


def test_a_run_s_env_job_variable_wins_over_env_hard_coded_in_the_template() -> None:
    template = ProcessWorker.get_default_base_job_template()
    assert configuration(template).env == RUN_JOB_VARIABLES["env"]
    hard_coded = copy.deepcopy(template)
    hard_coded["job_configuration"]["env"] = {ROOTS_ENV: "/srv/refs", BUCKETS_ENV: "library"}
    assert configuration(hard_coded).env == RUN_JOB_VARIABLES["env"]


def test_a_template_without_env_and_command_ignores_what_a_run_sets() -> None:
    held = ProcessWorker.get_default_base_job_template()
    for key in ("env", "command", "working_dir"):
        del held["job_configuration"][key]
        del held["variables"]["properties"][key]
    found = configuration(held)
    assert found.env == {}  # the run gets the worker's own environment
    assert found.command is None  # the worker runs the flow (python -m prefect.engine)
    assert found.working_dir is None
