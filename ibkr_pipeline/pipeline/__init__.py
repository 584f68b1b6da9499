"""The tick, step by step, with no Dagster: what the live assets and the backtest both call.

bars → indicators → charts → analysis → signals, each step taking and returning per-symbol
results (``SymbolResults``) so a symbol that fails is named with its reason while the others
carry on. The Dagster assets (``assets/strategy.py``) call these and add metadata; the
backtest (``backtest/runner.py``) calls the same functions on point-in-time bars.
Trading the signals is ``trading.tick.trade_tick``, shared the same way.
"""
