"""One tick's trading: signals → sized intents → risk checks → exactly-once placement.

Positions are the strategy's own, from its own fills in the ledger: an exit sells what this
strategy bought, never another strategy's or the trader's shares. A failure for one symbol
is recorded on that symbol and never stops the others.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from ibkr_pipeline.database.ledger import Ledger
from ibkr_pipeline.domain.brackets import bracket_levels
from ibkr_pipeline.domain.calendar import nyse_calendar
from ibkr_pipeline.domain.contracts import ContractInfo
from ibkr_pipeline.domain.freshness import cron_period, stale_reason
from ibkr_pipeline.domain.orders import OrderIntent, order_ref, round_to_tick
from ibkr_pipeline.domain.positions import StrategyPosition, exit_refusal, reconciliation
from ibkr_pipeline.domain.risk import RiskCheck, RiskContext, check_order, passed
from ibkr_pipeline.domain.signals import Signal
from ibkr_pipeline.domain.sizing import position_size
from ibkr_pipeline.domain.strategy import StrategySpec
from ibkr_pipeline.trading.broker import Broker
from ibkr_pipeline.trading.executor import Placement

log = logging.getLogger("ibkr_pipeline.trading")
STALE_OVERRIDE_TAG = "ibkr_pipeline/allow_stale_signals"
EXCHANGE_TZ = ZoneInfo("America/New_York")


@dataclass
class SymbolDecision:
    symbol: str
    signal: str
    intent: OrderIntent | None = None
    checks: list[RiskCheck] = field(default_factory=list)
    placement: Placement | None = None
    skipped: str = ""
    error: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        if self.error:
            return f"error: {self.error}"
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


def max_signal_age(spec: StrategySpec, tick_at: datetime) -> timedelta:
    if spec.risk.max_signal_age_minutes:
        return timedelta(minutes=spec.risk.max_signal_age_minutes)
    return cron_period(spec.schedule.cron, spec.schedule.timezone, tick_at)


def trading_day_start(now: datetime) -> datetime:
    """Midnight New York of ``now``'s trading day, in UTC: where per-day counts and the day's P&L start."""
    local = now.astimezone(EXCHANGE_TZ)
    return datetime.combine(local.date(), datetime.min.time(), tzinfo=EXCHANGE_TZ).astimezone(UTC)


def trade_tick(
    spec: StrategySpec,
    tick: str,
    signals: dict[str, Signal],
    contracts: dict[str, ContractInfo],
    broker: Broker,
    ledger: Ledger,
    tick_at: datetime | None = None,
    allow_stale: bool = False,
    legacy_tick: str = "",
) -> list[SymbolDecision]:
    """Decide and place this tick's orders. ``tick_at`` is the instant the signals are as of: a tick older than
    the strategy allows (or from before a session open or close) computes everything and sends nothing.
    ``legacy_tick`` is what this tick was called before ticks were named by the instant they run: a symbol
    already traded under that name is not traded again under the new one."""
    account = broker.account
    now = broker.now()
    blocked = broker.blocked_reason(spec.mode)
    if tick_at is not None and not allow_stale:
        stale = stale_reason(tick_at, now, max_signal_age(spec, tick_at))
        if stale:
            blocked = "; ".join(r for r in (blocked, f"{stale} (run tag {STALE_OVERRIDE_TAG}=true sends anyway)") if r)
    broker.reconcile(ledger)
    summary = broker.account_values()
    net_liq = summary.get("NetLiquidation", 0.0)
    is_open, next_open = market_state(now)
    held_by = ledger.positions()
    own: dict[str, StrategyPosition] = {
        sym: p for (strategy, sym), p in held_by.items() if strategy == spec.name and p.quantity
    }
    account_positions = broker.holdings()
    marks = {symbol: abs(p.quantity) * p.average_cost for symbol, p in own.items()}
    working = ledger.working_refs_by_symbol(spec.name)  # other strategies' orders are theirs to manage
    day_start = trading_day_start(now)
    day_opening = ledger.opening_net_liquidation(since=day_start)
    daily_pnl = net_liq - day_opening if day_opening is not None else 0.0
    if day_opening is None:
        ledger.snapshot(
            now,
            account,
            net_liq,
            summary.get("TotalCashValue", 0.0),
            summary.get("UnrealizedPnL", 0.0),
            summary.get("RealizedPnL", 0.0),
            {},
        )
    orders_today = ledger.orders_since(day_start, strategy=spec.name)
    by_symbol: dict[str, dict[str, float]] = {symbol: {} for symbol in signals}  # each strategy's fills, per symbol
    for (strategy, symbol), position in held_by.items():
        if symbol in by_symbol:
            by_symbol[symbol][strategy] = position.quantity
    account_qty = {s: account_positions[s].quantity if s in account_positions else 0.0 for s in signals}
    # An exit refused (nothing of ours to sell, or shares that are not ours) is refused before any price matters.
    exit_refused = {
        symbol: exit_refusal(
            symbol,
            by_symbol[symbol].get(spec.name, 0.0),
            sum(q for s, q in by_symbol[symbol].items() if s != spec.name),
            account_qty[symbol],
        )
        for symbol, signal in signals.items()
        if signal.action == "SELL"
    }
    # Every quote the tick needs, asked at once: one at a time, a universe's snapshots would take minutes at IB.
    wanted = [
        contracts[s]
        for s, signal in signals.items()
        if s in contracts and signal.action != "HOLD" and not exit_refused.get(s)
    ]
    try:
        quotes = broker.quotes(wanted)
    except Exception as exc:  # no quotes at all: each symbol goes on without its reference price, and says so
        quotes = {c.symbol: exc for c in wanted}
    decisions = []
    for symbol, signal in signals.items():
        decision = SymbolDecision(symbol, signal.action)
        if legacy_tick and (earlier := legacy_order(ledger, spec.name, symbol, legacy_tick)):
            decision.skipped = f"already traded as {earlier} (this tick's name before migration 0006)"
            decisions.append(decision)
            continue
        decisions.append(decision)
        mismatch = reconciliation(symbol, by_symbol[symbol], account_qty[symbol])
        if mismatch:
            decision.notes.append(mismatch)
        try:
            context = RiskContext(
                now=now,
                trading_enabled=not blocked,
                trading_block_reason=blocked,
                market_open=is_open,
                next_open=next_open,
                net_liquidation=net_liq,
                gross_exposure=summary.get("GrossPositionValue", 0.0),
                open_positions=sum(1 for p in own.values() if p.quantity > 0),
                orders_today=orders_today,
                daily_pnl=daily_pnl,
                position_value=marks,
                working_refs_by_symbol=working,
                signal_confidence=signal.confidence,
                strategy_position=own[symbol].quantity if symbol in own else 0.0,
            )
            _decide(
                spec,
                tick,
                tick_at,
                signal,
                contracts.get(symbol),
                quotes.get(symbol),
                broker,
                ledger,
                context,
                exit_refused.get(symbol, ""),
                decision,
            )
        except Exception as exc:  # one symbol's failure is recorded there; orders already sent stay recorded
            log.exception("%s: trading failed", symbol)
            decision.error = f"{type(exc).__name__}: {exc}"
            continue
        if decision.placement is not None and decision.placement.outcome == "placed":
            orders_today += 1
            working.setdefault(symbol, []).append(decision.placement.order_ref)
    if any(d.placement is not None and d.placement.outcome in ("placed", "adopted", "unconfirmed") for d in decisions):
        # IB reports executions of the current day only: what filled at once is recorded while it can be.
        broker.reconcile(ledger)
    return decisions


def legacy_order(ledger: Ledger, strategy: str, symbol: str, legacy_tick: str) -> str:
    """The orderRef this symbol was traded under when the tick bore its old name, if it was."""
    row = ledger.get(order_ref(strategy, symbol, legacy_tick))
    return row.order_ref if row is not None and row.tick_as_of is None else ""


def _decide(
    spec: StrategySpec,
    tick: str,
    tick_at: datetime | None,
    signal: Signal,
    contract: ContractInfo | None,
    quoted: float | None | Exception,
    broker: Broker,
    ledger: Ledger,
    context: RiskContext,
    exit_refused: str,
    decision: SymbolDecision,
) -> None:
    symbol = signal.symbol
    if signal.action == "HOLD" or contract is None:
        decision.skipped = "HOLD" if contract else "no contract"
        return
    quote = None if isinstance(quoted, Exception) else quoted
    if isinstance(quoted, Exception):  # a refused or slow quote costs this symbol its reference price, nothing more
        decision.notes.append(f"no quote: {type(quoted).__name__}: {quoted}")
    if signal.action == "SELL":
        own = context.strategy_position
        if exit_refused:
            decision.skipped = exit_refused
            return
        quantity, stop, target = int(own), None, None
        if quantity <= 0:
            decision.skipped = f"{symbol}: the strategy holds less than one whole share ({own:g})"
            return
    else:
        # Size at the price the order will meet: the quote for market orders, the limit otherwise.
        price = (quote if spec.order.entry == "MKT" else signal.entry) or quote or signal.entry
        stop = target = None
        if spec.order.bracket:
            raw_stop, raw_target, problem = bracket_levels(
                "BUY", price or 0.0, signal.stop_loss, signal.take_profit, spec.order
            )
            if problem:
                decision.skipped = problem
                return
            stop = round_to_tick(raw_stop, contract.min_tick)  # type: ignore[arg-type]
            target = round_to_tick(raw_target, contract.min_tick)  # type: ignore[arg-type]
        quantity = position_size(spec.order, spec.risk, context.net_liquidation, price or 0.0, stop)
        if quantity <= 0:
            decision.skipped = "sized to zero shares"
            return
    reference = signal.entry or quote
    limit = round_to_tick(reference, contract.min_tick) if spec.order.entry == "LMT" and reference else None
    intent = OrderIntent(
        order_ref=order_ref(spec.name, symbol, tick),
        strategy=spec.name,
        symbol=symbol,
        con_id=contract.con_id,
        tick=tick,
        tick_as_of=tick_at,
        mode=spec.mode,
        action=signal.action,
        quantity=quantity,
        entry_type="LMT" if limit else "MKT",
        limit_price=limit,
        stop_loss=stop if signal.action == "BUY" else None,
        take_profit=target if signal.action == "BUY" else None,
        tif=spec.order.tif,
        outside_rth=spec.order.outside_rth,
    )
    decision.intent = intent
    context = replace(context, quote_price=quote)
    decision.checks = check_order(intent, spec.risk, context)
    if not passed(decision.checks):
        failed = "; ".join(
            f"{c.name} ({c.detail or f'{c.value} vs {c.limit}'})" for c in decision.checks if not c.passed
        )
        decision.placement = broker.place(ledger, intent, contract, blocked_reason=failed)
        return
    decision.placement = broker.place(ledger, intent, contract)
