"""The simulated account: cash, positions with IB-style average cost, P&L and account values."""

from __future__ import annotations

from dataclasses import dataclass

from ibkr_pipeline.exchange.universe import Instrument

MARGIN_RATE = 0.25
BUYING_POWER_MULTIPLIER = 4.0


@dataclass
class Position:
    instrument: Instrument
    quantity: float = 0.0
    average_cost: float = 0.0  # per share, commissions included, as IB reports it
    realized_pnl: float = 0.0


def ibkr_fixed_commission(shares: float, price: float) -> float:
    """IBKR Pro Fixed for US stocks: $0.005 a share, at least $1, at most 1% of trade value."""
    value = abs(shares) * price
    return round(min(max(abs(shares) * 0.005, 1.0), value * 0.01), 4)


class Account:
    """Cash and positions kept consistent with every fill."""

    def __init__(self, account_id: str, starting_cash: float, currency: str = "USD"):
        self.account_id = account_id
        self.currency = currency
        self.starting_cash = starting_cash
        self.cash = starting_cash
        self.realized_pnl = 0.0
        self.positions: dict[int, Position] = {}

    def apply_fill(
        self, instrument: Instrument, side: str, shares: float, price: float, commission: float
    ) -> float | None:
        """Book a fill; return the realised P&L it closed, or None when it only opened."""
        sign = 1.0 if side == "BUY" else -1.0
        pos = self.positions.setdefault(instrument.con_id, Position(instrument))
        self.cash -= sign * shares * price + commission
        q, avg = pos.quantity, pos.average_cost
        if q == 0 or (q > 0) == (sign > 0):
            new_q = q + sign * shares
            pos.average_cost = (avg * abs(q) + price * shares + sign * commission) / abs(new_q)
            pos.quantity = new_q
            return None
        closing = min(shares, abs(q))
        realized = (price - avg) * closing * (-sign) - commission * closing / shares
        remaining = shares - closing
        pos.quantity = q + sign * closing
        if remaining > 0:
            pos.quantity = sign * remaining
            pos.average_cost = price + sign * commission * (remaining / shares) / remaining
        elif pos.quantity == 0:
            pos.average_cost = 0.0
        pos.realized_pnl += realized
        self.realized_pnl += realized
        return realized

    def unrealized_pnl(self, marks: dict[int, float]) -> float:
        return sum((marks[c] - p.average_cost) * p.quantity for c, p in self.positions.items() if p.quantity)

    def values(self, marks: dict[int, float]) -> dict[str, float]:
        """The account values IB reports, from cash, positions and current marks."""
        gross = sum(abs(p.quantity) * marks[c] for c, p in self.positions.items() if p.quantity)
        stock_value = sum(p.quantity * marks[c] for c, p in self.positions.items() if p.quantity)
        net_liq = self.cash + stock_value
        margin = gross * MARGIN_RATE
        available = net_liq - margin
        return {
            "NetLiquidation": net_liq,
            "TotalCashValue": self.cash,
            "SettledCash": self.cash,
            "CashBalance": self.cash,
            "StockMarketValue": stock_value,
            "GrossPositionValue": gross,
            "EquityWithLoanValue": net_liq,
            "InitMarginReq": margin,
            "MaintMarginReq": margin,
            "AvailableFunds": available,
            "ExcessLiquidity": available,
            "BuyingPower": max(available, 0.0) * BUYING_POWER_MULTIPLIER,
            "UnrealizedPnL": self.unrealized_pnl(marks),
            "RealizedPnL": self.realized_pnl,
        }
