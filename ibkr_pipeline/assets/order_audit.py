"""``order_audit``: one partition per orderRef, holding every reason that order was sent.

The orders step adds each new orderRef as a partition; the ``order_audits`` sensor materializes it,
and again whenever the ledger has news of the order (a status change, a fill). In the UI: Catalog →
``order_audit`` → the orderRef in its partitions (the search box filters them) shows the record.
"""

import base64
from typing import Any
from urllib.parse import quote

import dagster as dg

from ibkr_pipeline.assets.markdown import code_block, escape, table
from ibkr_pipeline.assets.portfolio import table_metadata
from ibkr_pipeline.audit import AuditFacts, gather, sections
from ibkr_pipeline.domain import charts
from ibkr_pipeline.objects import keys
from ibkr_pipeline.objects.bar_files import StrategyBars
from ibkr_pipeline.resources.database import DatabaseResource
from ibkr_pipeline.resources.objects import ObjectStoreResource
from ibkr_pipeline.trading.views import View

ORDER_REFS_NAME = "order_refs"
ORDER_REFS = dg.DynamicPartitionsDefinition(name=ORDER_REFS_NAME)
AUDIT_KEY = dg.AssetKey("order_audit")


def audit_page(order_ref: str) -> str:
    """The order's audit record in the Dagster UI (relative to the webserver's root)."""
    return f"/assets/order_audit?view=partitions&partition={quote(order_ref, safe='')}"


def register_orders(instance: dg.DagsterInstance, refs: list[str]) -> None:
    """Each orderRef becomes a partition of ``order_audit`` (adding one that exists is a no-op)."""
    new = [ref for ref in refs if not instance.has_dynamic_partition(ORDER_REFS_NAME, ref)]
    if new:
        instance.add_dynamic_partitions(ORDER_REFS_NAME, new)


def trade_chart(facts: AuditFacts, store: ObjectStoreResource) -> bytes | None:
    """The order on the chart of its signal's timeframe: levels, the tick, and the fills since."""
    row = facts.row
    timeframe = next(iter(facts.chart_uris), "daily")
    frame = StrategyBars(store, row.strategy).get(row.symbol, timeframe)
    at = row.tick_as_of or row.created_at
    if frame.empty:
        return None
    marks = [charts.FillMark(f.time, f.side, f.price) for f in facts.fills]
    title = f"{row.symbol} {timeframe}: {row.action} {row.quantity} ({row.order_ref})"
    return charts.render_trade_chart(frame, title, facts.levels(), marks, at).full


def record_markdown(facts: AuditFacts, chart_png: bytes | None, analysed_png: bytes | None) -> str:
    """The whole record as one document: the charts first, then every section, all outside text escaped."""
    parts = [f"## {escape(facts.row.order_ref)}"]
    if chart_png:
        parts.append(f"![order on its chart](data:image/png;base64,{base64.b64encode(chart_png).decode()})")
    if analysed_png:
        parts.append(
            "chart the analyst saw:\n\n"
            f"![chart the analyst saw](data:image/png;base64,{base64.b64encode(analysed_png).decode()})"
        )
    for section in sections(facts):
        if section.title == "risk checks":
            risk = risk_view(facts)
            parts.append(
                "### risk checks\n\n" + table([name for name, _kind in risk.columns], [list(row) for row in risk.rows])
            )
        else:
            parts.append(f"### {escape(section.title)}\n\n" + code_block("\n".join(section.lines)))
    return "\n\n".join(parts)


def risk_view(facts: AuditFacts) -> View:
    return View(
        "risk checks",
        (("check", "text"), ("passed", "text"), ("value", "text"), ("limit", "text"), ("detail", "text")),
        [
            (
                c["name"],
                "pass" if c["passed"] else "FAIL",
                str(c.get("value")),
                str(c.get("limit")),
                c.get("detail") or "",
            )
            for c in facts.checks
        ],
    )


@dg.asset(
    key=AUDIT_KEY,
    partitions_def=ORDER_REFS,
    group_name="audit",
    description="One order's audit record, by orderRef: the chart with entry, stop, target, the analyst's levels "
    "and fills drawn; the signal and its rule values; the prompt (template hash) and the answer; the risk "
    "checks with their numbers; the bars; the strategy file as it was and the code commit; IB status "
    "history, fills and the runs.",
    kinds={"python"},
)
def order_audit(
    context: dg.AssetExecutionContext, database: DatabaseResource, objects: ObjectStoreResource
) -> dg.MaterializeResult:
    ledger = database.ledger()
    try:
        facts = gather(context.instance, ledger, context.partition_key)
    except KeyError as exc:
        raise dg.Failure(description=str(exc.args[0])) from exc
    problems: list[str] = []
    try:
        chart_png = trade_chart(facts, objects)
    except Exception as exc:  # the record without its chart is still the record
        chart_png = None
        problems.append(f"trade chart: {type(exc).__name__}: {exc}")
    analysed = _analysed_chart(facts, objects)
    row, analysis, orders_meta = facts.row, facts.analysis, facts.meta["orders"]
    metadata: dict[str, Any] = {
        "chart": dg.MetadataValue.md(
            f"![{escape(row.order_ref)} on its chart](data:image/png;base64,{base64.b64encode(chart_png).decode()})"
            if chart_png
            else "(no bars stored for this order's chart)"
        ),
        "record": dg.MetadataValue.md(record_markdown(facts, chart_png, analysed)),
        "order": dg.MetadataValue.text(
            f"{row.action} {row.quantity} {row.symbol} {row.entry_type}; status {row.status}"
        ),
        "strategy": dg.MetadataValue.text(row.strategy),
        "tick": dg.MetadataValue.text(str(orders_meta.get("tick") or row.tick)),
        "status": dg.MetadataValue.text(row.status),
        "risk_checks": table_metadata(risk_view(facts)),
        # Text is shown in place on the partition's page; the record above is the same, formatted, in a dialog.
        "prompt": dg.MetadataValue.text(
            f"{analysis.get('system_prompt', '')}\n\n{analysis.get('user_prompt', '')}"
            if analysis
            else "(no analysis recorded)"
        ),
        "prompt_template_hash": dg.MetadataValue.text(analysis.get("prompt_template_hash") or "not recorded"),
        "answer": dg.MetadataValue.text(
            "\n\n".join(analysis.get("answers") or ["(none)"]) if analysis else "(no analysis recorded)"
        ),
        "strategy_file": dg.MetadataValue.text(
            _unfenced(str(orders_meta.get("strategy_file_text") or "(not recorded)"))
        ),
        "strategy_file_hash": dg.MetadataValue.text(str(orders_meta.get("strategy_file_hash", "not recorded"))),
        "git_sha": dg.MetadataValue.text(str(orders_meta.get("git_sha", "not recorded"))),
        "fills": len(facts.fills),
        **{f"run/{step}": dg.MetadataValue.url(f"/runs/{run_id}") for step, run_id in facts.runs.items()},
    }
    if chart_png:
        stored = objects.put(keys.order_audit_chart(row.strategy, row.order_ref), chart_png, "image/png")
        metadata["chart_file"] = dg.MetadataValue.path(stored.path or stored.uri)
    if problems:
        metadata["problems"] = dg.MetadataValue.json(problems)
        context.log.warning("; ".join(problems))
    return dg.MaterializeResult(metadata=metadata)


def _unfenced(block: str) -> str:
    """The strategy file's text without the Markdown fence it is stored in on the orders step."""
    lines = block.strip().splitlines()
    return "\n".join(lines[1:-1]) if len(lines) >= 2 and lines[0].startswith("```") else block


def _analysed_chart(facts: AuditFacts, store: ObjectStoreResource) -> bytes | None:
    """The chart image the analyst was given (first timeframe), read back from the store by its key."""
    for key in facts.chart_store_keys.values():
        data = store.get(key)
        if data:
            return charts.thumbnail(data, 600)
    return None


order_audit_job = dg.define_asset_job(
    "order_audit_job",
    selection=[order_audit],
    partitions_def=ORDER_REFS,
    description="Writes (or refreshes) one order's audit record.",
)
