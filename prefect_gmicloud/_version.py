"""The installed version of prefect-gmicloud, read from the package metadata."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("prefect-gmicloud")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
