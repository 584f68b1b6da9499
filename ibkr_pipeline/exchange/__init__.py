"""The simulated exchange and paper account, apart from any wire protocol.

Instruments (``universe``), price paths on the NYSE calendar (``market``), the clock,
order matching (``matching``), cash and positions (``account``) and their persistence
(``state``). The gateway simulator puts the TWS socket protocol in front of it; the
backtest's replay broker uses it directly. Production code never imports the simulator.
"""
