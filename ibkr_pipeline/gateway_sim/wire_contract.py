"""A contract as the TWS API writes it in a request."""

from __future__ import annotations

from dataclasses import dataclass

from ibkr_pipeline.gateway_sim.protocol import (
    FieldReader,
)


@dataclass
class WireContract:
    con_id: int
    symbol: str
    sec_type: str
    exchange: str
    primary_exchange: str
    currency: str

    @classmethod
    def read(cls, r: FieldReader) -> WireContract:
        con_id = r.int()
        symbol, sec_type = r.str(), r.str()
        r.skip(4)  # lastTradeDate, strike, right, multiplier
        exchange, primary, currency = r.str(), r.str(), r.str()
        r.skip(2)  # localSymbol, tradingClass
        return cls(con_id, symbol, sec_type, exchange, primary, currency)
