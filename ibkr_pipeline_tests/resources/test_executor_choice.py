"""Which executor runs a tick's steps: in one process for ``make ui``, multiprocess by default, Celery when asked."""

import dagster as dg
import pytest

from ibkr_pipeline.resources.defaults import executor_from_env


@pytest.mark.parametrize(
    ("choice", "name"), [("in_process", "in_process"), ("", None), ("multiprocess", None), ("celery", "celery")]
)
def test_the_executor_follows_the_environment(monkeypatch, choice, name):
    if choice:
        monkeypatch.setenv("IBKR_PIPELINE_EXECUTOR", choice)
    else:
        monkeypatch.delenv("IBKR_PIPELINE_EXECUTOR", raising=False)
    executor = executor_from_env()
    assert (executor.name if executor else None) == name
    if name == "in_process":
        assert executor is dg.in_process_executor
