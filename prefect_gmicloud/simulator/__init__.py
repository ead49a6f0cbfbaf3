"""A local, GMI-compatible request-queue simulator: `python -m prefect_gmicloud.simulator`."""

from prefect_gmicloud.simulator.config import FaultRates, SimulatorConfig
from prefect_gmicloud.simulator.server import Simulator
from prefect_gmicloud.simulator.state import SimulatorStats

__all__ = ["FaultRates", "Simulator", "SimulatorConfig", "SimulatorStats"]
