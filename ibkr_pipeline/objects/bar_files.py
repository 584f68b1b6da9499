"""Bar frames as Parquet bytes (polars writes, pandas is the frame the pipeline passes around)."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pandas as pd
import polars as pl

from ibkr_pipeline.domain.bars import empty_bars, normalize_bars
from ibkr_pipeline.objects import keys
from ibkr_pipeline.objects.object_store import ObjectStore

PARQUET = "application/vnd.apache.parquet"


def to_parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    pl.from_pandas(frame).write_parquet(buffer)
    return buffer.getvalue()


def from_parquet(data: bytes | None) -> pd.DataFrame:
    if not data:
        return empty_bars()
    return normalize_bars(pl.read_parquet(io.BytesIO(data)).to_pandas())


@dataclass(frozen=True)
class StrategyBars:
    """A strategy's bar histories in the object store (``keys.bars``), as bar frames: what each tick extends."""

    store: ObjectStore
    strategy: str

    def get(self, symbol: str, timeframe: str) -> pd.DataFrame:
        return from_parquet(self.store.get(keys.bars(self.strategy, symbol, timeframe)))

    def put(self, symbol: str, timeframe: str, history: pd.DataFrame) -> None:
        self.store.put(keys.bars(self.strategy, symbol, timeframe), to_parquet(history), PARQUET)
