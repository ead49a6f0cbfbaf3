"""Prefect flows: one request end to end, and recovery of requests submitted earlier."""

from prefect_gmicloud.flows.collect import collect_requests
from prefect_gmicloud.flows.generate import generate_video
from prefect_gmicloud.flows.results import CollectedRequest, GeneratedVideo

__all__ = ["CollectedRequest", "GeneratedVideo", "collect_requests", "generate_video"]
