"""Prefect blocks of prefect-gmicloud."""

from prefect_gmicloud.blocks.credentials import GMICloudCredentials

__all__ = ["GMICloudCredentials"]
