"""LLM-assisted technical-analysis trading on Interactive Brokers, orchestrated by Dagster."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ibkr_pipeline")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"
