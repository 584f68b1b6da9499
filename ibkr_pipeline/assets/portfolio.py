"""The portfolio: positions, cash, net liquidation, P&L and attribution per strategy, with an equity curve."""

import base64
import io
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from ibkr_pipeline.domain.charts import plotting
from ibkr_pipeline.objects import keys
from ibkr_pipeline.resources.database import DatabaseResource
from ibkr_pipeline.resources.ibkr import IBKRResource
from ibkr_pipeline.resources.objects import ObjectStoreResource
from ibkr_pipeline.trading.views import View, equity_points, fills_view, orders_view, pnl_view, realized_by_strategy


def curves_png(title: str, series: dict[str, list[tuple[datetime, float]]]) -> bytes:
    """Lines over time, each in time order, dollars on the axis (no scientific offset)."""
    plt, _ = plotting()
    from matplotlib.ticker import FuncFormatter

    fig, ax = plt.subplots(figsize=(10, 4))
    for name, points in series.items():
        points = sorted(points)
        if points:
            ax.plot(
                [p[0] for p in points],
                [p[1] for p in points],
                label=name,
                drawstyle="steps-post",
                marker="o" if len(points) < 30 else None,
            )
    if len(series) > 1:
        ax.legend(loc="upper left", fontsize=8)
    ax.set_title(title)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"${value:,.0f}"))
    ax.grid(True, alpha=0.3)
    fig.autofmt_xdate()
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return out.getvalue()


def equity_curve_png(points: list[tuple[datetime, float]]) -> bytes:
    """Net liquidation in time order, in dollars on the axis."""
    return curves_png("Net liquidation (USD)", {"net liquidation": points})


def table_metadata(view: View) -> dg.TableMetadataValue:
    """A ledger view as Dagster table metadata, with its schema."""
    kinds = {"text": "string", "int": "int", "float": "float"}
    schema = dg.TableSchema(columns=[dg.TableColumn(name, kinds[kind]) for name, kind in view.columns])
    records = [
        dg.TableRecord({name: value for (name, _k), value in zip(view.columns, row, strict=True) if value is not None})
        for row in view.rows
    ]
    return dg.MetadataValue.table(records, schema)


def build_portfolio(orders: list[dg.AssetKey]) -> dg.AssetsDefinition:
    """The portfolio asset, downstream of every strategy's ``orders`` in the lineage (what it snapshots)."""

    @dg.asset(
        key="portfolio",
        deps=orders,
        group_name="portfolio",
        description="Account snapshot from IB: positions, cash, net liquidation, realised/unrealised P&L, "
        "attribution per strategy (by orderRef), equity curve.",
        kinds={"python"},
    )
    def portfolio(
        context: dg.AssetExecutionContext, ibkr: IBKRResource, database: DatabaseResource, objects: ObjectStoreResource
    ) -> dg.MaterializeResult:
        ledger = database.ledger()
        with ibkr.get_client(database) as client:
            summary = client.account_summary()
            lines = client.portfolio()
            now = client.current_time()
            account = client.settings.account or client.managed_accounts()[0]
        positions = {
            line.symbol: {
                "position": line.position,
                "avg_cost": round(line.average_cost, 4),
                "market_price": line.market_price,
                "market_value": line.market_value,
                "unrealized_pnl": line.unrealized_pnl,
                "realized_pnl": line.realized_pnl,
            }
            for line in lines
            if line.position
        }
        ledger.snapshot(
            now,
            account,
            summary.get("NetLiquidation", 0.0),
            summary.get("TotalCashValue", 0.0),
            summary.get("UnrealizedPnL", 0.0),
            summary.get("RealizedPnL", 0.0),
            positions,
        )
        pnl = pnl_view(ledger)
        attribution = {
            strategy: {"fills": n, "realized_pnl": realized, "commission": fees}
            for strategy, n, realized, fees in pnl.rows
        }
        curve = equity_points(ledger)
        stored = objects.put(keys.equity_plot(now), equity_curve_png(curve), "image/png")
        image = base64.b64encode(equity_curve_png(curve[-200:])).decode()
        pnl_image = base64.b64encode(
            curves_png("Realized P&L by strategy (USD)", realized_by_strategy(ledger))
        ).decode()
        rows = "\n".join(
            f"| {s} | {p['position']:g} | {p['avg_cost']:.2f} | {p['market_price']:.2f} | {p['market_value']:.2f} "
            f"| {p['unrealized_pnl']:.2f} |"
            for s, p in positions.items()
        )
        metadata: dict[str, Any] = {
            "as_of": dg.MetadataValue.timestamp(now.astimezone(UTC)),
            "net_liquidation": summary.get("NetLiquidation", 0.0),
            "cash": summary.get("TotalCashValue", 0.0),
            "gross_position_value": summary.get("GrossPositionValue", 0.0),
            "unrealized_pnl": summary.get("UnrealizedPnL", 0.0),
            "realized_pnl": summary.get("RealizedPnL", 0.0),
            "open_positions": len(positions),
            "positions": dg.MetadataValue.md(
                "| symbol | qty | avg cost | price | value | unrealized |\n|---|---|---|---|---|---|\n" + rows
            ),
            "attribution": dg.MetadataValue.json(attribution),
            # Plotted over time by the UI, one series per strategy.
            **{f"realized_pnl/{strategy}": values["realized_pnl"] for strategy, values in attribution.items()},
            "pnl_by_strategy": table_metadata(pnl),
            "open_orders": table_metadata(orders_view(ledger, live_only=True)),
            "orders": table_metadata(_latest(orders_view(ledger), newest_first=True)),
            "fills": table_metadata(_latest(fills_view(ledger), newest_first=False)),
            "equity_curve": dg.MetadataValue.md(
                f"![equity](data:image/png;base64,{image})\n\n`{stored.path or stored.uri}`"
            ),
            "realized_pnl_by_strategy": dg.MetadataValue.md(
                f"![realized P&L by strategy](data:image/png;base64,{pnl_image})"
            ),
        }
        return dg.MaterializeResult(metadata=metadata)

    return portfolio


portfolio = build_portfolio([])


def _latest(view: View, newest_first: bool, rows: int = 200) -> View:
    """The newest rows: the full history is ``ibkr-pipeline orders`` / ``fills``."""
    return View(view.title, view.columns, view.rows[:rows] if newest_first else view.rows[-rows:])


portfolio_job = dg.define_asset_job("portfolio_snapshot", selection=dg.AssetSelection.assets("portfolio"))
portfolio_schedule = dg.ScheduleDefinition(
    name="portfolio_every_30_minutes",
    job=portfolio_job,
    cron_schedule="*/30 * * * 1-5",
    execution_timezone="America/New_York",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
