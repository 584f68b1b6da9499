"""Each symbol of the universe resolved to its IB contract, or named with why it could not be."""

from __future__ import annotations

from collections.abc import Sequence

from ibkr_pipeline.broker.errors import IBKRError
from ibkr_pipeline.domain.contracts import ContractInfo
from ibkr_pipeline.domain.results import SymbolResults


def resolved(symbols: Sequence[str], found: Sequence[ContractInfo | IBKRError]) -> SymbolResults[ContractInfo]:
    """``found`` answers ``symbols`` in order (``IBKRClient.resolve_many_async``); an IB error stays with its symbol."""
    values: dict[str, ContractInfo] = {}
    errors: dict[str, str] = {}
    for symbol, result in zip(symbols, found, strict=True):
        if isinstance(result, IBKRError):
            errors[symbol] = f"contracts: {result}"
        else:
            values[symbol] = result
    return SymbolResults(values, errors)
