"""Outgoing TWS messages at server version 178, each built field by field.

Layouts follow ib_async's ``Decoder`` (the ground truth); the tests decode every
encoder's output with it. Message ids: see ``OUT``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ibkr_pipeline.exchange.market import EXCHANGE_TZ, SessionCalendar
from ibkr_pipeline.exchange.matching import Fill, SimOrder
from ibkr_pipeline.exchange.universe import Instrument
from ibkr_pipeline.gateway_sim.history import Bar
from ibkr_pipeline.gateway_sim.protocol import Field


class OUT:
    TICK_PRICE = 1
    TICK_SIZE = 2
    ORDER_STATUS = 3
    ERR_MSG = 4
    OPEN_ORDER = 5
    ACCT_VALUE = 6
    PORTFOLIO_VALUE = 7
    ACCT_UPDATE_TIME = 8
    NEXT_VALID_ID = 9
    CONTRACT_DATA = 10
    EXECUTION_DATA = 11
    MANAGED_ACCTS = 15
    HISTORICAL_DATA = 17
    CURRENT_TIME = 49
    CONTRACT_DATA_END = 52
    OPEN_ORDER_END = 53
    ACCT_DOWNLOAD_END = 54
    EXECUTION_DATA_END = 55
    TICK_SNAPSHOT_END = 57
    MARKET_DATA_TYPE = 58
    COMMISSION_REPORT = 59
    POSITION_DATA = 61
    POSITION_END = 62
    ACCOUNT_SUMMARY = 63
    ACCOUNT_SUMMARY_END = 64
    ACCOUNT_UPDATE_MULTI = 73
    ACCOUNT_UPDATE_MULTI_END = 74
    SYMBOL_SAMPLES = 79
    HEAD_TIMESTAMP = 88
    COMPLETED_ORDER = 101
    COMPLETED_ORDERS_END = 102


ORDER_TYPES_OFFERED = "ACTIVETIM,AD,ADJUST,ALERT,ALGO,ALLOC,AVGCOST,BASKET,COND,DAY,GTC,GTD,IOC,LIT,LMT,MIT,MKT,MOC,MTL,NONALGO,OCA,OPG,POSTONLY,REL,STP,STPLMT,TRAIL,WHATIF"


def _contract_11(i: Instrument) -> list[Field]:
    """conId..tradingClass without primaryExchange, as in openOrder and execDetails."""
    return [i.con_id, i.symbol, i.sec_type, "", 0.0, "", "", "SMART", i.currency, i.local_symbol, i.trading_class]


def error(req_id: int, code: int, message: str) -> list[Field]:
    return [OUT.ERR_MSG, 2, req_id, code, message, ""]


def managed_accounts(account_id: str) -> list[Field]:
    return [OUT.MANAGED_ACCTS, 1, account_id]


def next_valid_id(order_id: int) -> list[Field]:
    return [OUT.NEXT_VALID_ID, 1, order_id]


def current_time(now: datetime) -> list[Field]:
    return [OUT.CURRENT_TIME, 1, int(now.timestamp())]


def _hours(calendar: SessionCalendar, now: datetime, extended: bool) -> str:
    """IB's trading-hours string for the coming week, e.g. ``20261125:0930-20261125:1600;...``."""
    parts = []
    day = now.astimezone(EXCHANGE_TZ).date()
    for offset in range(7):
        d = day + timedelta(days=offset)
        idx = calendar.index_of(d)
        stamp = d.strftime("%Y%m%d")
        if idx is None:
            parts.append(f"{stamp}:CLOSED")
            continue
        s = calendar.session(idx)
        start = (s.pre_open if extended else s.open).astimezone(EXCHANGE_TZ)
        end = (s.post_close if extended else s.close).astimezone(EXCHANGE_TZ)
        parts.append(f"{start:%Y%m%d:%H%M}-{end:%Y%m%d:%H%M}")
    return ";".join(parts)


def contract_details(req_id: int, i: Instrument, calendar: SessionCalendar, now: datetime) -> list[Field]:
    return [
        OUT.CONTRACT_DATA,
        req_id,
        i.symbol,
        i.sec_type,
        "",
        0.0,
        "",
        "SMART",
        i.currency,
        i.local_symbol,
        i.trading_class,
        i.trading_class,
        i.con_id,
        i.min_tick,
        "",
        ORDER_TYPES_OFFERED,
        ",".join(i.valid_exchanges),
        1,
        0,
        i.long_name,
        i.primary_exchange,
        "",
        i.industry,
        "",
        "",
        i.time_zone,
        _hours(calendar, now, extended=True),
        _hours(calendar, now, extended=False),
        "",
        "",
        1,
        "ISIN",
        f"US{i.con_id:010d}",
        1,
        "",
        "",
        "26",
        "",
        i.stock_type,
        "0.0001",
        "0.0001",
        "100",
    ]


def contract_details_end(req_id: int) -> list[Field]:
    return [OUT.CONTRACT_DATA_END, 1, req_id]


def symbol_samples(req_id: int, instruments: list[Instrument]) -> list[Field]:
    fields: list[Field] = [OUT.SYMBOL_SAMPLES, req_id, len(instruments)]
    for i in instruments:
        fields += [i.con_id, i.symbol, i.sec_type, i.primary_exchange, i.currency, 2, "OPT", "WAR"]
        fields += [i.long_name, ""]
    return fields


def historical_data(req_id: int, start: datetime, end: datetime, bars: list[Bar]) -> list[Field]:
    fields: list[Field] = [
        OUT.HISTORICAL_DATA,
        req_id,
        start.astimezone(UTC).strftime("%Y%m%d %H:%M:%S"),
        end.astimezone(UTC).strftime("%Y%m%d %H:%M:%S"),
        len(bars),
    ]
    for b in bars:
        fields += [b.date, b.open, b.high, b.low, b.close, b.volume, b.wap, b.count]
    return fields


def head_timestamp(req_id: int, stamp: str) -> list[Field]:
    return [OUT.HEAD_TIMESTAMP, req_id, stamp]


def market_data_type(req_id: int, kind: int = 1) -> list[Field]:
    return [OUT.MARKET_DATA_TYPE, 1, req_id, kind]


def tick_price(req_id: int, tick_type: int, price: float, size: float) -> list[Field]:
    return [OUT.TICK_PRICE, 6, req_id, tick_type, price, size, 0]


def tick_size(req_id: int, tick_type: int, size: float) -> list[Field]:
    return [OUT.TICK_SIZE, 6, req_id, tick_type, size]


def tick_snapshot_end(req_id: int) -> list[Field]:
    return [OUT.TICK_SNAPSHOT_END, 1, req_id]


def _order_core(o: SimOrder) -> list[Field]:
    return [
        o.action,
        o.quantity,
        o.order_type,
        o.lmt_price,
        o.aux_price,
        o.tif,
        o.oca_group,
        o.account,
        "O",
        0,
        o.order_ref,
    ]


def open_order(o: SimOrder) -> list[Field]:
    commission = o.commission if o.status == "Filled" else None
    return [
        OUT.OPEN_ORDER,
        o.order_id,
        *_contract_11(o.instrument),
        *_order_core(o),
        o.client_id,
        o.perm_id,
        o.outside_rth,
        False,
        0.0,
        "",
        "",
        "",
        "",
        "",
        # modelCode .. deltaNeutralAuxPrice
        "",
        "",
        "",
        "",
        "",
        0,
        "",
        "",
        "",
        None,
        None,
        None,
        None,
        None,
        0,
        False,
        False,
        False,
        None,
        o.oca_type or 3,
        False,
        False,
        None,
        o.parent_id,
        0,
        None,
        0,
        "",
        None,
        # continuousUpdate .. comboLegsDescrip, legs, order legs, smart params
        0,
        0,
        None,
        None,
        None,
        "",
        "",
        0,
        0,
        0,
        # scale, hedge, clearing, delta-neutral contract, algo
        None,
        None,
        "",
        "",
        False,
        "",
        "",
        False,
        0,
        "",
        # solicited, whatIf, status, margins, commission, warning, randomize
        False,
        False,
        o.status,
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        commission,
        None,
        None,
        "USD" if commission is not None else "",
        "",
        False,
        False,
        0,  # conditions
        "None",
        None,
        None,
        None,
        None,
        None,
        None,
        0,
        "",
        "",
        "",
        None,
        False,
        False,
        None,
        False,
        None,
        False,
        False,
        None,
        None,
        None,
        None,
        None,
    ]


def order_status(o: SimOrder) -> list[Field]:
    return [
        OUT.ORDER_STATUS,
        o.order_id,
        o.status,
        o.filled,
        o.remaining,
        o.avg_fill_price,
        o.perm_id,
        o.parent_id,
        o.last_fill_price,
        o.client_id,
        o.why_held,
        None,
    ]


def completed_order(o: SimOrder) -> list[Field]:
    completed = o.completed_at.astimezone(UTC).strftime("%Y%m%d %H:%M:%S UTC") if o.completed_at else ""
    return [
        OUT.COMPLETED_ORDER,
        *_contract_11(o.instrument),
        *_order_core(o),
        o.perm_id,
        o.outside_rth,
        False,
        0.0,
        "",
        "",
        "",
        "",
        # modelCode .. deltaNeutralAuxPrice
        "",
        "",
        "",
        None,
        "",
        0,
        "",
        "",
        None,
        None,
        None,
        None,
        None,
        0,
        False,
        False,
        None,
        o.oca_type or 3,
        0,
        None,
        0,
        "",
        None,
        # continuousUpdate, referencePriceType, trailStopPrice, trailingPercent, comboLegsDescrip
        0,
        0,
        None,
        None,
        "",
        0,
        0,
        0,  # legs, order legs, smart params
        None,
        None,
        "",  # scale
        "",  # hedge type
        "",
        "",
        False,
        0,  # clearing, notHeld, delta-neutral contract
        "",  # algo
        False,
        o.status,
        False,
        False,
        0,  # conditions
        None,
        None,
        None,
        False,
        False,
        "",
        o.filled,
        0,
        False,
        "",
        False,
        False,
        0,
        completed,
        o.completed_status,
        None,
        None,
        None,
        None,
        None,
    ]


def exec_details(req_id: int, f: Fill) -> list[Field]:
    o = f.order
    stamp = f.time.astimezone(UTC).strftime("%Y%m%d %H:%M:%S") + " UTC"
    return [
        OUT.EXECUTION_DATA,
        req_id,
        o.order_id,
        *_contract_11(o.instrument),
        f.exec_id,
        stamp,
        o.account,
        o.instrument.primary_exchange,
        "BOT" if o.is_buy else "SLD",
        f.shares,
        f.price,
        o.perm_id,
        o.client_id,
        0,
        f.shares,
        f.price,
        o.order_ref,
        "",
        None,
        "",
        1,
        False,
    ]


def commission_report(f: Fill) -> list[Field]:
    return [OUT.COMMISSION_REPORT, 1, f.exec_id, f.commission, "USD", f.realized_pnl, None, None]


def position(account: str, i: Instrument, quantity: float, average_cost: float) -> list[Field]:
    return [
        OUT.POSITION_DATA,
        3,
        account,
        i.con_id,
        i.symbol,
        i.sec_type,
        "",
        0.0,
        "",
        "",
        i.primary_exchange,
        i.currency,
        i.local_symbol,
        i.trading_class,
        quantity,
        average_cost,
    ]


def position_end() -> list[Field]:
    return [OUT.POSITION_END, 1]


def portfolio_value(
    account: str, i: Instrument, quantity: float, mark: float, average_cost: float, realized: float
) -> list[Field]:
    return [
        OUT.PORTFOLIO_VALUE,
        8,
        i.con_id,
        i.symbol,
        i.sec_type,
        "",
        0.0,
        "",
        "",
        i.primary_exchange,
        i.currency,
        i.local_symbol,
        i.trading_class,
        quantity,
        mark,
        round(quantity * mark, 2),
        average_cost,
        round((mark - average_cost) * quantity, 2),
        round(realized, 2),
        account,
    ]


def account_value(key: str, value: str, currency: str, account: str) -> list[Field]:
    return [OUT.ACCT_VALUE, 2, key, value, currency, account]


def account_update_time(now: datetime) -> list[Field]:
    return [OUT.ACCT_UPDATE_TIME, 1, now.astimezone(EXCHANGE_TZ).strftime("%H:%M")]


def account_download_end(account: str) -> list[Field]:
    return [OUT.ACCT_DOWNLOAD_END, 1, account]


def account_summary(req_id: int, account: str, tag: str, value: str, currency: str) -> list[Field]:
    return [OUT.ACCOUNT_SUMMARY, 1, req_id, account, tag, value, currency]


def account_summary_end(req_id: int) -> list[Field]:
    return [OUT.ACCOUNT_SUMMARY_END, 1, req_id]


def account_update_multi(req_id: int, account: str, key: str, value: str, currency: str) -> list[Field]:
    return [OUT.ACCOUNT_UPDATE_MULTI, 1, req_id, account, "", key, value, currency]


def account_update_multi_end(req_id: int) -> list[Field]:
    return [OUT.ACCOUNT_UPDATE_MULTI_END, 1, req_id]


def open_order_end() -> list[Field]:
    return [OUT.OPEN_ORDER_END, 1]


def completed_orders_end() -> list[Field]:
    return [OUT.COMPLETED_ORDERS_END]


def exec_details_end(req_id: int) -> list[Field]:
    return [OUT.EXECUTION_DATA_END, 1, req_id]
