"""IBKRResource inside Dagster: configured like production, used from an asset, run with dg.materialize."""

import dagster as dg

from ibkr_pipeline.domain.contracts import ContractSpec
from ibkr_pipeline.resources.database import DatabaseResource
from ibkr_pipeline.resources.ibkr import IBKRResource


def test_resource_resolves_and_fetches_inside_an_asset(gateway, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_IBKR_PORT", str(gateway.port))

    @dg.asset
    def spy_closes(context: dg.AssetExecutionContext, ibkr: IBKRResource, database: DatabaseResource) -> list[float]:
        from ibkr_pipeline.broker.client import BarsRequest

        with ibkr.get_client(database) as client:
            info = client.resolve(ContractSpec(symbol="SPY"))
            bars = client.bars(BarsRequest(info, None, "1 M", "1 day"))
        context.add_output_metadata({"con_id": info.con_id, "bars": len(bars)})
        return bars["close"].tolist()

    resource = IBKRResource(port=dg.EnvVar.int("TEST_IBKR_PORT"))
    database = DatabaseResource(url=f"sqlite:///{tmp_path / 'db.sqlite'}")
    result = dg.materialize([spy_closes], resources={"ibkr": resource, "database": database})
    assert result.success
    closes = result.output_for_node("spy_closes")
    assert 19 <= len(closes) <= 23
    materialization = result.asset_materializations_for_node("spy_closes")[0]
    assert materialization.metadata["bars"].value == len(closes)
