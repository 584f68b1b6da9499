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

from ibkr_pipeline.store.ledger import Ledger

STEPS = ("contracts", "bars", "indicators", "charts", "analysis", "signals", "orders")


@dataclass(frozen=True)
class AuditSection:
    title: str
    lines: list[str]


def step_metadata(instance: dg.DagsterInstance, strategy: str, step: str, tick: str) -> tuple[dict[str, Any], str]:
    """The newest materialization of ``[strategy, step]`` for the tick: its metadata values, and its run id."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey([strategy, step]), asset_partitions=[tick]), limit=1).records
    if not records:
        return {}, ""
    record = records[0]
    materialization = record.asset_materialization
    values = {k: v.value for k, v in (materialization.metadata if materialization else {}).items()}
    return values, record.run_id


def audit_record(instance: dg.DagsterInstance, ledger: Ledger, order_ref: str) -> list[AuditSection]:
    row = ledger.get(order_ref)
    if row is None:
        raise KeyError(f"no order {order_ref!r} in the ledger (ibkr-pipeline orders lists them)")
    symbol, tick = row.symbol, row.tick
    steps = {step: step_metadata(instance, row.strategy, step, tick) for step in STEPS}
    meta = {step: values for step, (values, _run) in steps.items()}
    sections = [
        AuditSection("order", [
            f"{row.order_ref}: {row.action} {row.quantity} {row.symbol} {row.entry_type}"
            + (f" limit {row.limit_price}" if row.limit_price else "")
            + (f", stop {row.stop_loss}, target {row.take_profit}" if row.stop_loss else ""),
            f"strategy {row.strategy}, tick {tick}, mode {row.mode}; status {row.status}"
            + (f": {row.error}" if row.error else ""),
            f"IB order ids {row.broker_order_ids or '-'}, permIds {row.perm_ids or '-'}",
        ]),
        AuditSection("status history", [f"{status}: {detail}" if detail else status
                                         for status, detail in ledger.events(order_ref)]),
        AuditSection("fills", [f"{f.time:%Y-%m-%d %H:%M:%S} {f.side} {f.shares:g} @ {f.price:.2f}, commission "
                               f"{f.commission:.2f}, realized {f.realized_pnl:.2f} ({f.exec_id})"
                               for f in ledger.fills(exact_ref=order_ref)] or ["none recorded"]),
    ]
    signal = (meta["signals"].get("detail") or {}).get(symbol)
    if signal:
        sections.append(AuditSection("signal", [
            f"{signal['action']} confidence {signal['confidence']}, entry {signal['entry']}, stop {signal['stop_loss']}, "
            f"target {signal['take_profit']} (source {signal['source']})",
            *[f"because: {reason}" for reason in signal.get("reasons", [])],
            f"rule values: {json.dumps(signal.get('values', {}), default=str)}",
        ]))
    analysis = (meta["analysis"].get("records") or {}).get(symbol)
    if analysis:
        sections.append(AuditSection("analysis", [
            f"{analysis['source']} analyst, model {analysis['model'] or '-'}, prompt {analysis['prompt_name']}; "
            f"accepted {analysis['accepted']}" + (f"; problems: {'; '.join(analysis['problems'])}"
                                                  if analysis["problems"] else ""),
            f"charts sent: {', '.join(analysis['charts_sent']) or 'none'}",
            "system prompt:", analysis["system_prompt"], "user prompt:", analysis["user_prompt"],
            "answer:", *(analysis["answers"] or ["(none)"]),
        ]))
    checks = (meta["orders"].get("risk_checks") or {}).get(symbol, [])
    if checks:
        sections.append(AuditSection("risk checks", [
            f"{'pass' if c['passed'] else 'FAIL'}  {c['name']}: {c.get('value')} vs {c.get('limit')}"
            + (f" ({c['detail']})" if c.get("detail") else "") for c in checks]))
    bars = [line for line in str(meta["bars"].get("bars", "")).splitlines() if line.startswith(f"| {symbol} |")]
    charts = (meta["charts"].get("chart_keys") or {}).get(symbol, {})
    sections.append(AuditSection("data", [
        *(bars or ["bars: not recorded for this tick"]),
        *[f"chart {timeframe}: {uri}" for timeframe, uri in charts.items()],
    ]))
    orders_meta = meta["orders"]
    sections.append(AuditSection("strategy and code", [
        f"file {orders_meta.get('strategy_file', '-')}, hash {orders_meta.get('strategy_file_hash', '-')}, "
        f"code {orders_meta.get('code_version', '-')}",
        *(["file as it was at the tick:", str(orders_meta["strategy_file_text"])]
          if orders_meta.get("strategy_file_text") else []),
    ]))
    sections.append(AuditSection("runs", [f"{step}: run {run_id}" for step, (_v, run_id) in steps.items() if run_id]
                                 or ["no run of this tick in this Dagster instance"]))
    return sections
