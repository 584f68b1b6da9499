"""Bar frames as Parquet bytes (polars writes, pandas is the frame the pipeline passes around)."""

from __future__ import annotations

import io

import pandas as pd
import polars as pl

from ibkr_pipeline.domain.bars import empty_bars, normalize_bars


def to_parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    pl.from_pandas(frame).write_parquet(buffer)
    return buffer.getvalue()


def from_parquet(data: bytes | None) -> pd.DataFrame:
    if not data:
        return empty_bars()
    return normalize_bars(pl.read_parquet(io.BytesIO(data)).to_pandas())
