"""One tick's trading: signals → sized intents → risk checks → exactly-once placement."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from ibkr_pipeline.domain.contracts import ContractInfo
from ibkr_pipeline.domain.orders import OrderIntent, order_ref, round_to_tick
from ibkr_pipeline.domain.risk import RiskCheck, RiskContext, check_order, passed
from ibkr_pipeline.domain.signals import Signal
from ibkr_pipeline.domain.sizing import position_size
from ibkr_pipeline.domain.strategy import StrategySpec
from ibkr_pipeline.domain.calendar import nyse_calendar
from ibkr_pipeline.store.ledger import Ledger
from ibkr_pipeline.trading.broker import Broker
from ibkr_pipeline.trading.executor import Placement


@dataclass
class SymbolDecision:
    symbol: str
    signal: str
    intent: OrderIntent | None = None
    checks: list[RiskCheck] = field(default_factory=list)
    placement: Placement | None = None
    skipped: str = ""

    @property
    def summary(self) -> str:
        if self.skipped:
            return self.skipped
        failed = [c.name for c in self.checks if not c.passed]
        if failed:
            return "risk checks failed: " + ", ".join(failed)
        return f"{self.placement.outcome} ({self.placement.status})" if self.placement else ""


def market_state(now: datetime) -> tuple[bool, datetime | None]:
    cal = nyse_calendar()
    minute = pd.Timestamp(now).floor("min")
    try:
        is_open = bool(cal.is_open_on_minute(minute))
        next_open = cal.next_open(minute).to_pydatetime()
    except ValueError:  # outside the calendar's range
        return False, None
    return is_open, next_open


def trade_tick(
    spec: StrategySpec,
    tick: str,
    signals: dict[str, Signal],
    contracts: dict[str, ContractInfo],
    broker: Broker,
    ledger: Ledger,
    data_dir: Path,
) -> list[SymbolDecision]:
    account = broker.account
    blocked = broker.blocked_reason(spec.mode, data_dir)
    summary = broker.account_values()
    net_liq = summary.get("NetLiquidation", 0.0)
    now = broker.now()
    is_open, next_open = market_state(now)
    positions = broker.holdings()
    marks = {symbol: abs(p.quantity) * p.average_cost for symbol, p in positions.items()}
    working: dict[str, list[str]] = {}
    for row in ledger.open_orders():
        working.setdefault(row.symbol, []).append(row.order_ref)
    day_start = datetime.combine(now.date(), datetime.min.time(), tzinfo=UTC)
    snapshots = [s for s in ledger.snapshots() if s.at.replace(tzinfo=s.at.tzinfo or UTC) >= day_start]
    daily_pnl = net_liq - snapshots[0].net_liquidation if snapshots else 0.0
    if not snapshots:
        ledger.snapshot(now, account, net_liq, summary.get("TotalCashValue", 0.0), summary.get("UnrealizedPnL", 0.0),
                        summary.get("RealizedPnL", 0.0), {})
    decisions = []
    orders_today = ledger.orders_since(now - timedelta(days=1))
    for symbol, signal in signals.items():
        decision = SymbolDecision(symbol, signal.action)
        decisions.append(decision)
        contract = contracts.get(symbol)
        if signal.action == "HOLD" or contract is None:
            decision.skipped = "HOLD" if contract else "no contract"
            continue
        quote = broker.quote(contract)
        held = positions.get(symbol)
        if signal.action == "SELL":
            if held is None or held.quantity <= 0:
                decision.skipped = "SELL with no long position to close (shorting is not enabled)"
                continue
            quantity, stop, target = int(held.quantity), None, None
        else:
            # Size at the price the order will meet: the quote for market orders, the limit otherwise.
            price = (quote if spec.order.entry == "MKT" else signal.entry) or quote or signal.entry
            stop = round_to_tick(signal.stop_loss, contract.min_tick) if signal.stop_loss else None
            target = round_to_tick(signal.take_profit, contract.min_tick) if signal.take_profit else None
            if spec.order.bracket and (stop is None or target is None):
                decision.skipped = "no stop and target for a bracket (set signal.atr or use the LLM analysis)"
                continue
            quantity = position_size(spec.order, spec.risk, net_liq, price or 0.0, stop)
            if quantity <= 0:
                decision.skipped = "sized to zero shares"
                continue
        reference = signal.entry or quote
        limit = round_to_tick(reference, contract.min_tick) if spec.order.entry == "LMT" and reference else None
        intent = OrderIntent(
            order_ref=order_ref(spec.name, symbol, tick), strategy=spec.name, symbol=symbol, con_id=contract.con_id,
            tick=tick, mode=spec.mode, action=signal.action, quantity=quantity,
            entry_type="LMT" if limit else "MKT", limit_price=limit,
            stop_loss=stop if signal.action == "BUY" else None, take_profit=target if signal.action == "BUY" else None,
            tif=spec.order.tif, outside_rth=spec.order.outside_rth,
        )
        decision.intent = intent
        context = RiskContext(
            now=now, trading_enabled=not blocked, trading_block_reason=blocked, market_open=is_open,
            next_open=next_open, net_liquidation=net_liq, gross_exposure=summary.get("GrossPositionValue", 0.0),
            open_positions=len(positions), orders_today=orders_today, daily_pnl=daily_pnl,
            position_value=marks if signal.action == "BUY" else {}, working_refs_by_symbol=working,
            quote_price=quote, signal_confidence=signal.confidence,
        )
        decision.checks = check_order(intent, spec.risk, context)
        if not passed(decision.checks):
            failed = "; ".join(f"{c.name} ({c.detail or f'{c.value} vs {c.limit}'})"
                               for c in decision.checks if not c.passed)
            decision.placement = broker.place(ledger, intent, contract, blocked_reason=failed)
            continue
        decision.placement = broker.place(ledger, intent, contract)
        if decision.placement.outcome == "placed":
            orders_today += 1
            working.setdefault(symbol, []).append(intent.order_ref)
    return decisions
