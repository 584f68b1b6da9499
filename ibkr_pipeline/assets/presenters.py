"""What each step of a tick shows in the Dagster UI: tables, galleries and texts built from the step's results.

The steps themselves (``ibkr_pipeline.pipeline``) know nothing of metadata; the assets hand
their results here. Everything from outside (model answers, broker messages) is escaped.
"""

from __future__ import annotations

import base64
from urllib.parse import urlsplit

from ibkr_pipeline.assets.markdown import code_block, escape, link, table
from ibkr_pipeline.assets.order_audit import audit_page
from ibkr_pipeline.database.ledger import Ledger
from ibkr_pipeline.domain import indicators as ind
from ibkr_pipeline.domain.analysis import AnalysisRecord
from ibkr_pipeline.domain.bars import Frames
from ibkr_pipeline.domain.contracts import ContractInfo
from ibkr_pipeline.domain.signals import Signal
from ibkr_pipeline.pipeline.bars import FetchedRow
from ibkr_pipeline.pipeline.charts import DrawnChart
from ibkr_pipeline.trading.tick import SymbolDecision


def fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def check_description(step: str, total: int, errors: dict[str, str]) -> str:
    """What the check says at a glance: how many symbols failed, which, and why (the first reasons)."""
    if not errors:
        return f"all {total} symbols got through {step}"
    shown = "; ".join(f"{symbol} — {reason}" for symbol, reason in list(errors.items())[:3])
    more = f"; and {len(errors) - 3} more" if len(errors) > 3 else ""
    return f"{len(errors)} of {total} symbols did not get through {step}: {shown}{more}"


def contracts_table(contracts: dict[str, ContractInfo]) -> str:
    return table(
        ["symbol", "conId", "primary", "currency", "name", "min tick"],
        [[c.symbol, c.con_id, c.primary_exchange, c.currency, c.long_name, c.min_tick] for c in contracts.values()],
    )


def bars_table(rows: list[FetchedRow]) -> str:
    return table(
        ["symbol", "timeframe", "requested", "fetched", "in window", "first", "last"],
        [
            [
                r.symbol,
                r.timeframe,
                r.requested,
                r.fetched,
                r.in_window,
                f"{r.first:%Y-%m-%d %H:%M}",
                f"{r.last:%Y-%m-%d %H:%M}",
            ]
            for r in rows
        ],
    )


def latest_values(frames: dict[str, Frames]) -> dict[str, dict[str, dict[str, float | None]]]:
    """Per symbol and timeframe, every column's last value: what the tick's decision read."""
    return {s: {tf: ind.latest_values(f) for tf, f in per_tf.items()} for s, per_tf in frames.items()}


def latest_table(latest: dict[str, dict[str, dict[str, float | None]]], timeframe: str, columns: set[str]) -> str:
    shown = sorted(columns - set(ind.PRICE_COLUMNS) - {"open", "high", "low"})
    return table(
        ["symbol", "close", *shown],
        [[s, *[fmt(latest[s][timeframe].get(c)) for c in ["close", *shown]]] for s in latest if timeframe in latest[s]],
    )


def chart_gallery(drawn: list[DrawnChart], not_drawn: list[str]) -> str:
    """Thumbnails of the first charts; a universe's hundreds are named by count (``chart_keys`` has every one)."""
    shown = [(c, c.thumbnail) for c in drawn if c.thumbnail is not None]
    parts = [
        f"**{c.title}** — `{c.ref['path'] or c.ref['uri']}`\n\n"
        f"![{c.symbol} {c.timeframe}](data:image/png;base64,{base64.b64encode(png).decode()})\n"
        for c, png in shown
    ]
    if len(drawn) > len(shown):
        parts.append(f"… and {len(drawn) - len(shown)} more charts (every one in `chart_keys`)\n")
    if not_drawn:
        parts.append(f"Not drawn (chart.when): {', '.join(not_drawn)}\n")
    return "\n".join(parts) or "(no charts)"


def funnel_figures(records: dict[str, AnalysisRecord], kept_out: dict[str, str]) -> dict[str, float]:
    """What the screen saved: each symbol kept out at this tick's mean price of one that was asked
    (LLM calls, tokens, dollars; a tick whose answers all came from the cache priced nothing)."""
    asked = len(records) or 1
    per = {
        "llm_calls": sum(r.calls for r in records.values()) / asked,
        "tokens": sum(r.prompt_tokens + r.completion_tokens for r in records.values()) / asked,
        "cost_usd": sum(r.cost_usd for r in records.values()) / asked,
    }
    return {
        "tokens_per_symbol": round(per["tokens"], 1),
        "cost_usd_per_asked_symbol": round(per["cost_usd"], 6),
        "llm_calls_saved_estimate": round(per["llm_calls"] * len(kept_out), 1),
        "tokens_saved_estimate": round(per["tokens"] * len(kept_out)),
        "cost_usd_saved_estimate": round(per["cost_usd"] * len(kept_out), 6),
    }


def analyst_label(offline: bool, model: str, base_url: str) -> str:
    return (
        "offline analyst (no LLM endpoint configured)"
        if offline
        else f"{model} via {urlsplit(base_url).hostname or '?'}"
    )


def analysis_markdown(records: dict[str, AnalysisRecord]) -> str:
    """Everything the model wrote is escaped: its text is shown, never rendered (no links, images or HTML)."""
    parts = []
    for symbol, r in records.items():
        a = r.analysis
        verdict = f"{a.action} ({a.confidence:.2f})" if a else "none"
        status = "accepted" if r.accepted else "REJECTED → HOLD: " + escape("; ".join(r.problems))
        parts.append(
            f"### {escape(symbol)} — {verdict}, {status}\n\n"
            f"source `{r.source}` model {escape(r.model)} · tokens {r.prompt_tokens}+{r.completion_tokens} · "
            f"cost ${r.cost_usd:.4f} · cache hits {r.cache_hits} · charts sent: {escape(', '.join(r.charts_sent) or 'none')}\n\n"
            + (
                f"entry {fmt(a.entry) or '-'} · stop {fmt(a.stop_loss) or '-'} · target {fmt(a.take_profit) or '-'} · "
                f"horizon {escape(a.horizon) or '-'} · trend "
                f"{escape(', '.join(f'{tf} {t}' for tf, t in a.trend.items())) or '-'} · support "
                f"{', '.join(fmt(p) for p in a.key_levels.support) or '-'} · resistance "
                f"{', '.join(fmt(p) for p in a.key_levels.resistance) or '-'}\n\n> {escape(a.rationale)}\n\n"
                if a
                else ""
            )
            + code_block(r.user_prompt)
            + "\n"
        )
    return "\n".join(parts) or "(nothing analysed)"


def signals_table(signals: dict[str, Signal]) -> str:
    return table(
        ["symbol", "action", "entry", "stop", "target", "why"],
        [
            [s.symbol, s.action, fmt(s.entry), fmt(s.stop_loss), fmt(s.take_profit), "; ".join(s.reasons)]
            for s in signals.values()
        ],
    )


def orders_table(ledger: Ledger, decisions: list[SymbolDecision]) -> str:
    rows = []
    for d in decisions:
        i = d.intent
        rows.append(
            [
                d.symbol,
                d.signal,
                quantity_shown(ledger, d),
                i.entry_type if i else "",
                fmt(i.limit_price) if i else "",
                fmt(i.stop_loss) if i else "",
                fmt(i.take_profit) if i else "",
                d.summary,
                link(i.order_ref, audit_page(i.order_ref)) if i else "",
            ]
        )
    return table(["symbol", "signal", "qty", "type", "limit", "stop", "target", "outcome", "orderRef"], rows)


def quantity_shown(ledger: Ledger, decision: SymbolDecision) -> str:
    """What was sent: an order placed or adopted earlier keeps its quantity, whatever this run would size now."""
    intent, placement = decision.intent, decision.placement
    if intent is None:
        return ""
    if placement is None or placement.outcome not in ("already_done", "adopted", "claimed_elsewhere"):
        return str(intent.quantity)
    row = ledger.get(intent.order_ref)
    if row is None or row.quantity == intent.quantity:
        return str(intent.quantity)
    return f"{row.quantity} (sent; sized {intent.quantity} now)"
