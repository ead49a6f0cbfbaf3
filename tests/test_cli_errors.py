"""The CLI as a user types it: one line for the failures a first day meets, --traceback for more.

Real processes: the installed ``prefect-gmicloud`` command, a closed port for an unreachable
Prefect API, the simulator refusing a wrong key, and ``local-stack --prefect`` stopped by SIGTERM.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml

from prefect_gmicloud.simulator import Simulator
from prefect_gmicloud.simulator.boards import synthetic_storyboard
from prefect_gmicloud.storage import S3Destination
from tests.processes import running
from tests.reliability.boards import storyboard_command
from tests.reliability.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = str(ROOT / "examples" / "cafe.yaml")


def command(*args: str) -> list[str]:
    executable = shutil.which("prefect-gmicloud", path=str(Path(sys.executable).parent))
    assert executable, "the prefect-gmicloud command is not installed"
    return [executable, *args]


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}/api"


def test_an_unreachable_prefect_api_is_one_line_naming_the_fix() -> None:
    env = {**os.environ, "PREFECT_API_URL": closed_port_url()}
    done = subprocess.run(
        command("storyboard", "run", EXAMPLE, "--bucket", "media"),
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    output = (done.stdout + done.stderr).strip()
    assert done.returncode == 1, output
    assert len(output.splitlines()) == 1, output
    assert "the Prefect API cannot be reached" in output and env["PREFECT_API_URL"] in output
    assert "local-stack --prefect" in output


def test_any_subcommand_ends_in_one_line_unless_traceback_is_asked() -> None:
    env = {**os.environ, "PREFECT_API_URL": closed_port_url()}
    arguments = ("request", "status", "some-id", "--credentials", "gmicloud")
    short = subprocess.run(
        command(*arguments), env=env, capture_output=True, text=True, timeout=300
    )
    output = short.stdout + short.stderr
    assert short.returncode == 1 and "Traceback" not in output, output
    assert "the Prefect API cannot be reached" in output and "--traceback" in output
    assert len(output.strip().splitlines()) == 2, output
    whole = subprocess.run(
        command(*arguments, "--traceback"), env=env, capture_output=True, text=True, timeout=300
    )
    assert whole.returncode == 1
    assert "Traceback" in whole.stderr and "ConnectError" in whole.stderr


@pytest.mark.usefixtures("prefect_api")
def test_a_wrong_key_stops_the_board_before_any_shot_and_says_to_check_it(
    make_simulator: Callable[..., Simulator], bucket: S3Destination, tmp_path: Path
) -> None:
    from prefect.settings import PREFECT_API_URL

    sim = make_simulator()
    board = tmp_path / "board.yaml"
    data = synthetic_storyboard(4, "wrong-key").model_dump(mode="json", exclude_defaults=True)
    board.write_text(yaml.safe_dump(data))
    env = {
        **os.environ,
        "GMI_TEST_KEY": "not-the-key",
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
    }
    done = subprocess.run(
        storyboard_command(board, bucket, sim), env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "check the key in $GMI_TEST_KEY (--api-key-env)" in output, output
    assert "Run it again" not in output and "To retry" not in output, output
    assert sim.stats.calls["submit"] == 0, sim.stats.calls
    assert "Traceback" not in output, output


def port_is_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.timeout(900)
def test_local_stack_with_prefect_serves_a_real_server_and_sigterm_stops_everything(
    tmp_path: Path,
) -> None:
    prefect_port = free_port()
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    env.pop("PREFECT_API_URL", None)
    log = tmp_path / "local-stack.log"
    arguments = ("local-stack", "--prefect", "--prefect-port", str(prefect_port), "--port", "0")
    with (
        log.open("w") as out,
        running(
            command(*arguments, "--s3-port", "0", "--save-block", "local-test"),
            env=env, stdout=out, stderr=subprocess.STDOUT,
        ) as stack,
    ):  # fmt: skip
        deadline = time.monotonic() + 600  # minutes for Prefect on a busy 2-core machine
        while "Ctrl-C stops everything" not in log.read_text():
            assert stack.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        api_url = f"http://127.0.0.1:{prefect_port}/api"
        assert f"export PREFECT_API_URL={api_url}" in log.read_text()
        assert httpx.get(f"{api_url}/health", timeout=10).is_success
        assert (tmp_path / "state" / "prefect-gmicloud" / "prefect" / "prefect.db").exists()
        stack.send_signal(signal.SIGTERM)
        code = stack.wait(timeout=120)
    output = log.read_text()
    print(f"\nlocal-stack --prefect: exit {code} after SIGTERM; output:\n{output}")
    assert code == 0 and "Traceback" not in output, output
    assert output.rstrip().endswith("stopped"), output
    assert not port_is_open(prefect_port), "the Prefect server outlived local-stack"
    assert "saved the GMICloudCredentials block 'local-test'" in output
