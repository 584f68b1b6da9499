"""An order's audit record: from an orderRef back to every reason it was sent.

The ledger holds the order, its status history and fills; the Dagster instance holds what each step of
its tick recorded (bars, chart keys, the prompt and the answer, the signal and its rule values, the risk
checks with their numbers, the strategy file's hash and text, the code version). This joins them for one
symbol of one tick, so ``ibkr-pipeline audit ORDERREF`` prints the whole chain in one place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import dagster as dg

from ibkr_pipeline.database.ledger import Ledger

STEPS = ("contracts", "bars", "indicators", "charts", "analysis", "signals", "orders")


@dataclass(frozen=True)
class AuditSection:
    title: str
    lines: list[str]


STANDING_BY = {"already_done", "claimed_elsewhere"}  # outcomes of a run that sent nothing for the order


def _materializations(instance: dg.DagsterInstance, strategy: str, step: str, tick: str) -> list[Any]:
    """The tick's materializations of ``[strategy, step]``, newest first."""
    return list(
        instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey([strategy, step]), asset_partitions=[tick]), limit=50
        ).records
    )


DATA_VERSION = "data version"  # kept beside the metadata: each step's output digest, from its tags


def _values(record: Any) -> dict[str, Any]:
    materialization = record.asset_materialization
    if materialization is None:
        return {}
    values = {k: v.value for k, v in materialization.metadata.items()}
    version = (materialization.tags or {}).get("dagster/data_version")
    return {**values, DATA_VERSION: version} if version else values


def deciding_run(orders_records: list[Any], symbol: str) -> str:
    """The run whose orders step decided this order (records newest first): a later re-execution that found it
    already done, and re-sized or re-checked it for nothing, is not the reason it was sent."""
    for record in orders_records:
        if (_values(record).get("outcomes") or {}).get(symbol) not in STANDING_BY:
            return record.run_id
    return orders_records[0].run_id if orders_records else ""


def _chosen(records: list[Any], run_id: str) -> Any:
    """The step's materialization in ``run_id``, else its newest."""
    return next((r for r in records if r.run_id == run_id), records[0] if records else None)


@dataclass(frozen=True)
class AuditFacts:
    """Everything recorded about one order: its ledger row, and what each step of its tick recorded."""

    row: Any
    meta: dict[str, dict[str, Any]]
    runs: dict[str, str]
    events: list[tuple[str, str]]
    fills: list[Any]

    @property
    def signal(self) -> dict[str, Any]:
        return (self.meta["signals"].get("detail") or {}).get(self.row.symbol) or {}

    @property
    def analysis(self) -> dict[str, Any]:
        return (self.meta["analysis"].get("records") or {}).get(self.row.symbol) or {}

    @property
    def checks(self) -> list[dict[str, Any]]:
        return (self.meta["orders"].get("risk_checks") or {}).get(self.row.symbol, [])

    @property
    def chart_uris(self) -> dict[str, str]:
        return (self.meta["charts"].get("chart_keys") or {}).get(self.row.symbol, {})

    @property
    def chart_store_keys(self) -> dict[str, str]:
        return (self.meta["charts"].get("chart_store_keys") or {}).get(self.row.symbol, {})

    def levels(self) -> dict[str, list[float]]:
        """Entry, stop and target as sent (the signal's entry for a market order), and the analyst's levels."""
        row, signal = self.row, self.signal
        key_levels = (self.analysis.get("analysis") or {}).get("key_levels") or {}
        return {
            "entry": [row.limit_price or signal.get("entry") or 0.0],
            "stop": [row.stop_loss or 0.0],
            "target": [row.take_profit or 0.0],
            "support": list(key_levels.get("support") or []),
            "resistance": list(key_levels.get("resistance") or []),
        }


def gather(instance: dg.DagsterInstance, ledger: Ledger, order_ref: str) -> AuditFacts:
    row = ledger.get(order_ref)
    if row is None:
        raise KeyError(f"no order {order_ref!r} in the ledger (ibkr-pipeline orders lists them)")
    records = {step: _materializations(instance, row.strategy, step, row.tick) for step in STEPS}  # read once
    run_id = deciding_run(records["orders"], row.symbol)
    chosen = {step: _chosen(found, run_id) for step, found in records.items()}
    return AuditFacts(
        row,
        {step: _values(c) if c else {} for step, c in chosen.items()},
        {step: c.run_id for step, c in chosen.items() if c},
        ledger.events(order_ref),
        ledger.fills(exact_ref=order_ref),
    )


def audit_record(instance: dg.DagsterInstance, ledger: Ledger, order_ref: str) -> list[AuditSection]:
    return sections(gather(instance, ledger, order_ref))


def sections(facts: AuditFacts) -> list[AuditSection]:
    row, meta, symbol = facts.row, facts.meta, facts.row.symbol
    tick = meta["orders"].get("tick") or (
        f"as of {row.tick_as_of:%Y-%m-%d %H:%M} UTC"
        if row.tick_as_of
        else "named by its window's start (before migration 0006)"
    )
    sections = [
        AuditSection(
            "order",
            [
                f"{row.order_ref}: {row.action} {row.quantity} {row.symbol} {row.entry_type}"
                + (f" limit {row.limit_price}" if row.limit_price else "")
                + (f", stop {row.stop_loss}, target {row.take_profit}" if row.stop_loss else ""),
                f"strategy {row.strategy}, tick {row.tick} ({tick}), mode {row.mode}; status {row.status}"
                + (f": {row.error}" if row.error else ""),
                f"IB order ids {row.broker_order_ids or '-'}, permIds {row.perm_ids or '-'}",
            ],
        ),
        AuditSection(
            "status history", [f"{status}: {detail}" if detail else status for status, detail in facts.events]
        ),
        AuditSection(
            "fills",
            [
                f"{f.time:%Y-%m-%d %H:%M:%S} {f.side} {f.shares:g} @ {f.price:.2f}, commission "
                f"{f.commission:.2f}, realized {f.realized_pnl:.2f} ({f.exec_id})"
                for f in facts.fills
            ]
            or ["none recorded"],
        ),
    ]
    signal = facts.signal
    if signal:
        sections.append(
            AuditSection(
                "signal",
                [
                    f"{signal['action']} confidence {signal['confidence']}, entry {signal['entry']}, stop {signal['stop_loss']}, "
                    f"target {signal['take_profit']} (source {signal['source']})",
                    *[f"because: {reason}" for reason in signal.get("reasons", [])],
                    f"rule values: {json.dumps(signal.get('values', {}), default=str)}",
                ],
            )
        )
    analysis = facts.analysis
    if not analysis:
        why = (facts.meta["analysis"].get("screened_out_reasons") or {}).get(facts.row.symbol)
        sections.append(AuditSection("analysis", [f"no analyst was asked: {why or 'no record of the analysis step'}"]))
    else:
        sections.append(
            AuditSection(
                "analysis",
                [
                    f"{analysis['source']} analyst, model {analysis['model'] or '-'}, prompt {analysis['prompt_name']} "
                    f"(template {analysis.get('prompt_template_hash') or 'hash not recorded'}); accepted {analysis['accepted']}"
                    + (f"; problems: {'; '.join(analysis['problems'])}" if analysis["problems"] else ""),
                    f"charts sent: {', '.join(analysis['charts_sent']) or 'none'}",
                    "system prompt:",
                    analysis["system_prompt"],
                    "user prompt:",
                    analysis["user_prompt"],
                    "answer:",
                    *(analysis["answers"] or ["(none)"]),
                ],
            )
        )
    if facts.checks:
        sections.append(
            AuditSection(
                "risk checks",
                [
                    f"{'pass' if c['passed'] else 'FAIL'}  {c['name']}: {c.get('value')} vs {c.get('limit')}"
                    + (f" ({c['detail']})" if c.get("detail") else "")
                    for c in facts.checks
                ],
            )
        )
    bars = [line for line in str(meta["bars"].get("bars", "")).splitlines() if line.startswith(f"| {symbol} |")]
    versions = ", ".join(f"{step} {meta[step][DATA_VERSION]}" for step in STEPS if meta[step].get(DATA_VERSION))
    sections.append(
        AuditSection(
            "data",
            [
                *(bars or ["bars: not recorded for this tick"]),
                *[f"chart {timeframe}: {uri}" for timeframe, uri in facts.chart_uris.items()],
                f"data versions: {versions or 'not recorded'}",
            ],
        )
    )
    orders_meta = meta["orders"]
    sections.append(
        AuditSection(
            "strategy and code",
            [
                f"file {orders_meta.get('strategy_file', '-')}, hash {orders_meta.get('strategy_file_hash', '-')}, "
                f"code {orders_meta.get('code_version', '-')}, commit {orders_meta.get('git_sha', 'not recorded')}",
                *(
                    ["file as it was at the tick:", str(orders_meta["strategy_file_text"])]
                    if orders_meta.get("strategy_file_text")
                    else []
                ),
            ],
        )
    )
    sections.append(
        AuditSection(
            "runs",
            [f"{step}: run {run_id}" for step, run_id in facts.runs.items()]
            or ["no run of this tick in this Dagster instance"],
        )
    )
    return sections
