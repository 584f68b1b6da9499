"""Each strategy's trading pool on the production instance (PostgreSQL, deploy/dagster.yaml), created up front."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import dagster as dg
import pytest
import sqlalchemy.exc

from ibkr_pipeline.assets.strategy import create_trading_pools
from ibkr_pipeline_tests.deploy.local_deployment import ROOT, instance_env

DEPLOY_INSTANCE = ROOT / "deploy" / "dagster.yaml"


@pytest.fixture
def postgres_instance(tmp_path, postgres_database, monkeypatch) -> Iterator[dg.DagsterInstance]:
    for name, value in instance_env(tmp_path, postgres_database).items():
        monkeypatch.setenv(name, value)
    shutil.copy(DEPLOY_INSTANCE, tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        instance.upgrade()
        yield instance


def test_dagsters_lazy_pool_creation_fails_the_second_creator_on_postgres(postgres_instance):
    """Why the pools are created up front (dagster-io/dagster#33552): when this starts passing on an upgrade,
    Dagster's own creation is safe and `ibkr-pipeline init-pools` becomes a convenience."""
    storage = postgres_instance.event_log_storage
    assert storage.initialize_concurrency_limit_to_default("alpha_trading") is True
    with pytest.raises(sqlalchemy.exc.InternalError, match="InFailedSqlTransaction"):
        storage.initialize_concurrency_limit_to_default("alpha_trading")


def test_pools_created_up_front_hold_one_orders_step_at_a_time_and_are_not_dagsters_defaults(postgres_instance):
    assert create_trading_pools(postgres_instance, ["alpha", "beta"]) == ["alpha_trading", "beta_trading"]
    storage = postgres_instance.event_log_storage
    # Not from the default: Dagster's claim path creates (and races on) only missing or default-made pools.
    limits = sorted((p.name, p.limit, p.from_default) for p in storage.get_pool_limits())
    assert limits == [("alpha_trading", 1, False), ("beta_trading", 1, False)]
    first = storage.claim_concurrency_slot("alpha_trading", "run-1", "alpha__orders")
    second = storage.claim_concurrency_slot("alpha_trading", "run-2", "alpha__orders")
    other = storage.claim_concurrency_slot("beta_trading", "run-2", "beta__orders")
    assert (first.is_claimed, second.is_claimed, other.is_claimed) == (True, False, True)
    storage.free_concurrency_slot_for_step("run-1", "alpha__orders")
    assert storage.claim_concurrency_slot("alpha_trading", "run-2", "alpha__orders").is_claimed
    # Run again (a deployment restarted, a strategy added): same pools, nothing claimed is disturbed.
    assert create_trading_pools(postgres_instance, ["alpha", "beta", "gamma"])[-1] == "gamma_trading"
    assert storage.check_concurrency_claim("alpha_trading", "run-2", "alpha__orders").is_claimed
    assert storage.get_concurrency_info("alpha_trading").slot_count == 1
