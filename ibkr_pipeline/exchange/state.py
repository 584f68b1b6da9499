"""The simulated paper account on disk, so it outlives the simulator process as a real paper account does.

Cash, positions, orders (working ones keep working after a restart), executions and the id
counters are written as JSON after every order event, atomically (a temporary file renamed
over the old one). ``make demo``, ``make ui`` and a restarted ``gateway-sim`` share one account.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from ibkr_pipeline.exchange.account import Account, Position
from ibkr_pipeline.exchange.matching import Fill, MatchingEngine, SimOrder
from ibkr_pipeline.exchange.universe import Universe

VERSION = 1
_DATES = ("placed_at", "checked_until", "completed_at")


class StateError(RuntimeError):
    """A state file that cannot be read back: named, never silently replaced by a fresh account."""


def default_state_file(data_dir: Path, account_id: str) -> Path:
    return Path(data_dir) / "gateway_sim" / f"{account_id}.json"


def _order_dict(order: SimOrder) -> dict[str, Any]:
    data = {f.name: getattr(order, f.name) for f in dataclasses.fields(order) if f.name != "instrument"}
    data["con_id"] = order.instrument.con_id
    for name in _DATES:
        data[name] = data[name].isoformat() if data[name] else None
    return data


def save(path: Path, account: Account, engine: MatchingEngine, next_order_ids: dict[int, int]) -> None:
    state = {
        "version": VERSION,
        "account": {
            "id": account.account_id,
            "cash": account.cash,
            "realized_pnl": account.realized_pnl,
            "starting_cash": account.starting_cash,
            "positions": [
                {"con_id": c, "quantity": p.quantity, "average_cost": p.average_cost, "realized_pnl": p.realized_pnl}
                for c, p in account.positions.items()
            ],
        },
        "orders": [_order_dict(o) for o in engine.orders.values()],
        "fills": [
            {
                "exec_id": f.exec_id,
                "order": list(f.order.key),
                "time": f.time.isoformat(),
                "shares": f.shares,
                "price": f.price,
                "commission": f.commission,
                "realized_pnl": f.realized_pnl,
            }
            for f in engine.fills
        ],
        "next_perm_id": engine.peek_perm_id(),
        "next_exec_seq": engine.peek_exec_seq(),
        "next_order_ids": {str(k): v for k, v in next_order_ids.items()},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".state-", dir=path.parent)
    with os.fdopen(fd, "w") as handle:
        json.dump(state, handle)
    os.replace(tmp, path)


def load(path: Path, account: Account, engine: MatchingEngine, universe: Universe) -> dict[int, int]:
    """Restore the account into ``account`` and ``engine``; returns the next order id per client."""
    try:
        state = json.loads(path.read_text())
        if state.get("version") != VERSION or state["account"]["id"] != account.account_id:
            raise StateError(
                f"{path}: written for account {state['account']['id']!r} (version "
                f"{state.get('version')}); start with --fresh or another --state-file"
            )
        account.cash = float(state["account"]["cash"])
        account.realized_pnl = float(state["account"]["realized_pnl"])
        account.starting_cash = float(state["account"]["starting_cash"])
        for row in state["account"]["positions"]:
            instrument = universe.by_con_id(int(row["con_id"]))
            if instrument is None:
                raise StateError(f"{path}: position in conId {row['con_id']}, which this universe does not have")
            account.positions[instrument.con_id] = Position(
                instrument, row["quantity"], row["average_cost"], row["realized_pnl"]
            )
        for row in state["orders"]:
            instrument = universe.by_con_id(int(row.pop("con_id")))
            if instrument is None:
                continue
            for name in _DATES:
                row[name] = datetime.fromisoformat(row[name]) if row[name] else None
            order = SimOrder(instrument=instrument, **row)
            engine.orders[order.key] = order
        for row in state["fills"]:
            filled = engine.orders.get(tuple(row["order"]))
            if filled is not None:
                engine.fills.append(
                    Fill(
                        row["exec_id"],
                        filled,
                        datetime.fromisoformat(row["time"]),
                        row["shares"],
                        row["price"],
                        row["commission"],
                        row["realized_pnl"],
                    )
                )
        engine.restore_counters(int(state["next_perm_id"]), int(state["next_exec_seq"]))
        return {int(k): int(v) for k, v in state["next_order_ids"].items()}
    except StateError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StateError(
            f"{path}: cannot read the simulator's account state ({type(exc).__name__}: {exc}); "
            "start with --fresh to begin a new account"
        ) from exc
