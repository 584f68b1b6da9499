"""The instruments the simulator knows: US stocks and ETFs routed through SMART."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import yaml

# symbol | primary exchange | STK or ETF | start price | industry | long name
_DEFAULT_TABLE = """
AAPL|NASDAQ|STK|190|Technology|APPLE INC
MSFT|NASDAQ|STK|410|Technology|MICROSOFT CORP
NVDA|NASDAQ|STK|120|Technology|NVIDIA CORP
AMZN|NASDAQ|STK|180|Consumer, Cyclical|AMAZON.COM INC
GOOGL|NASDAQ|STK|170|Communications|ALPHABET INC-CL A
GOOG|NASDAQ|STK|172|Communications|ALPHABET INC-CL C
META|NASDAQ|STK|500|Communications|META PLATFORMS INC-CLASS A
TSLA|NASDAQ|STK|240|Consumer, Cyclical|TESLA INC
AVGO|NASDAQ|STK|160|Technology|BROADCOM INC
BRK B|NYSE|STK|420|Financial|BERKSHIRE HATHAWAY INC-CL B
JPM|NYSE|STK|200|Financial|JPMORGAN CHASE & CO
V|NYSE|STK|280|Financial|VISA INC-CLASS A SHARES
MA|NYSE|STK|460|Financial|MASTERCARD INC - A
UNH|NYSE|STK|520|Consumer, Non-cyclical|UNITEDHEALTH GROUP INC
XOM|NYSE|STK|115|Energy|EXXON MOBIL CORP
JNJ|NYSE|STK|155|Consumer, Non-cyclical|JOHNSON & JOHNSON
PG|NYSE|STK|165|Consumer, Non-cyclical|PROCTER & GAMBLE CO/THE
HD|NYSE|STK|360|Consumer, Cyclical|HOME DEPOT INC
COST|NASDAQ|STK|850|Consumer, Non-cyclical|COSTCO WHOLESALE CORP
ABBV|NYSE|STK|175|Consumer, Non-cyclical|ABBVIE INC
MRK|NYSE|STK|120|Consumer, Non-cyclical|MERCK & CO. INC.
LLY|NYSE|STK|800|Consumer, Non-cyclical|ELI LILLY & CO
PEP|NASDAQ|STK|170|Consumer, Non-cyclical|PEPSICO INC
KO|NYSE|STK|62|Consumer, Non-cyclical|COCA-COLA CO/THE
WMT|NYSE|STK|70|Consumer, Cyclical|WALMART INC
BAC|NYSE|STK|40|Financial|BANK OF AMERICA CORP
CVX|NYSE|STK|155|Energy|CHEVRON CORP
ADBE|NASDAQ|STK|520|Technology|ADOBE INC
CRM|NYSE|STK|270|Technology|SALESFORCE INC
NFLX|NASDAQ|STK|650|Communications|NETFLIX INC
AMD|NASDAQ|STK|160|Technology|ADVANCED MICRO DEVICES
INTC|NASDAQ|STK|30|Technology|INTEL CORP
CSCO|NASDAQ|STK|50|Communications|CISCO SYSTEMS INC
ORCL|NYSE|STK|140|Technology|ORACLE CORP
QCOM|NASDAQ|STK|170|Technology|QUALCOMM INC
TXN|NASDAQ|STK|190|Technology|TEXAS INSTRUMENTS INC
IBM|NYSE|STK|190|Technology|INTL BUSINESS MACHINES CORP
AMAT|NASDAQ|STK|200|Technology|APPLIED MATERIALS INC
MU|NASDAQ|STK|110|Technology|MICRON TECHNOLOGY INC
NOW|NYSE|STK|780|Technology|SERVICENOW INC
INTU|NASDAQ|STK|620|Technology|INTUIT INC
PYPL|NASDAQ|STK|70|Financial|PAYPAL HOLDINGS INC
UBER|NYSE|STK|72|Technology|UBER TECHNOLOGIES INC
SHOP|NYSE|STK|75|Communications|SHOPIFY INC - CLASS A
DIS|NYSE|STK|95|Communications|WALT DISNEY CO/THE
NKE|NYSE|STK|85|Consumer, Cyclical|NIKE INC -CL B
MCD|NYSE|STK|280|Consumer, Cyclical|MCDONALD'S CORP
SBUX|NASDAQ|STK|90|Consumer, Cyclical|STARBUCKS CORP
LOW|NYSE|STK|240|Consumer, Cyclical|LOWE'S COS INC
TGT|NYSE|STK|150|Consumer, Cyclical|TARGET CORP
BA|NYSE|STK|170|Industrial|BOEING CO/THE
CAT|NYSE|STK|350|Industrial|CATERPILLAR INC
DE|NYSE|STK|390|Industrial|DEERE & CO
GE|NYSE|STK|170|Industrial|GENERAL ELECTRIC
HON|NASDAQ|STK|210|Industrial|HONEYWELL INTERNATIONAL INC
UPS|NYSE|STK|135|Industrial|UNITED PARCEL SERVICE-CL B
LMT|NYSE|STK|480|Industrial|LOCKHEED MARTIN CORP
RTX|NYSE|STK|110|Industrial|RTX CORP
GS|NYSE|STK|480|Financial|GOLDMAN SACHS GROUP INC
MS|NYSE|STK|100|Financial|MORGAN STANLEY
WFC|NYSE|STK|58|Financial|WELLS FARGO & CO
C|NYSE|STK|62|Financial|CITIGROUP INC
AXP|NYSE|STK|240|Financial|AMERICAN EXPRESS CO
BLK|NYSE|STK|820|Financial|BLACKROCK INC
SCHW|NYSE|STK|70|Financial|SCHWAB (CHARLES) CORP
PFE|NYSE|STK|29|Consumer, Non-cyclical|PFIZER INC
TMO|NYSE|STK|580|Consumer, Non-cyclical|THERMO FISHER SCIENTIFIC INC
ABT|NYSE|STK|110|Consumer, Non-cyclical|ABBOTT LABORATORIES
DHR|NYSE|STK|250|Consumer, Non-cyclical|DANAHER CORP
BMY|NYSE|STK|45|Consumer, Non-cyclical|BRISTOL-MYERS SQUIBB CO
AMGN|NASDAQ|STK|310|Consumer, Non-cyclical|AMGEN INC
GILD|NASDAQ|STK|75|Consumer, Non-cyclical|GILEAD SCIENCES INC
CVS|NYSE|STK|60|Consumer, Non-cyclical|CVS HEALTH CORP
T|NYSE|STK|18|Communications|AT&T INC
VZ|NYSE|STK|40|Communications|VERIZON COMMUNICATIONS INC
TMUS|NASDAQ|STK|180|Communications|T-MOBILE US INC
CMCSA|NASDAQ|STK|40|Communications|COMCAST CORP-CLASS A
COP|NYSE|STK|115|Energy|CONOCOPHILLIPS
SLB|NYSE|STK|48|Energy|SLB
OXY|NYSE|STK|60|Energy|OCCIDENTAL PETROLEUM CORP
NEE|NYSE|STK|75|Utilities|NEXTERA ENERGY INC
DUK|NYSE|STK|100|Utilities|DUKE ENERGY CORP
SO|NYSE|STK|80|Utilities|SOUTHERN CO/THE
LIN|NASDAQ|STK|450|Basic Materials|LINDE PLC
FCX|NYSE|STK|45|Basic Materials|FREEPORT-MCMORAN INC
NEM|NYSE|STK|45|Basic Materials|NEWMONT CORP
PLD|NYSE|STK|115|Financial|PROLOGIS INC
AMT|NYSE|STK|200|Financial|AMERICAN TOWER CORP
SPG|NYSE|STK|150|Financial|SIMON PROPERTY GROUP INC
SPY|ARCA|ETF|520|Funds|SPDR S&P 500 ETF TRUST
QQQ|NASDAQ|ETF|440|Funds|INVESCO QQQ TRUST SERIES 1
IWM|ARCA|ETF|205|Funds|ISHARES RUSSELL 2000 ETF
DIA|ARCA|ETF|390|Funds|SPDR DOW JONES INDUSTRIAL AVERAGE
VTI|ARCA|ETF|260|Funds|VANGUARD TOTAL STOCK MKT ETF
TLT|NASDAQ|ETF|92|Funds|ISHARES 20+ YEAR TREASURY BOND
GLD|ARCA|ETF|215|Funds|SPDR GOLD SHARES
SLV|ARCA|ETF|27|Funds|ISHARES SILVER TRUST
XLK|ARCA|ETF|210|Funds|TECHNOLOGY SELECT SECT SPDR
XLF|ARCA|ETF|42|Funds|FINANCIAL SELECT SECTOR SPDR
XLE|ARCA|ETF|92|Funds|ENERGY SELECT SECTOR SPDR
XLV|ARCA|ETF|145|Funds|HEALTH CARE SELECT SECTOR
XLY|ARCA|ETF|180|Funds|CONSUMER DISCRETIONARY SELT
XLP|ARCA|ETF|78|Funds|CONSUMER STAPLES SPDR
XLI|ARCA|ETF|125|Funds|INDUSTRIAL SELECT SECT SPDR
XLB|ARCA|ETF|90|Funds|MATERIALS SELECT SECTOR SPDR
XLU|ARCA|ETF|70|Funds|UTILITIES SELECT SECTOR SPDR
XLRE|ARCA|ETF|40|Funds|REAL ESTATE SELECT SECT SPDR
XLC|ARCA|ETF|82|Funds|COMMUNICATION SERVICES SPDR
SMH|NASDAQ|ETF|230|Funds|VANECK SEMICONDUCTOR ETF
ARKK|ARCA|ETF|48|Funds|ARK INNOVATION ETF
EEM|ARCA|ETF|42|Funds|ISHARES MSCI EMERGING MARKETS
EFA|ARCA|ETF|78|Funds|ISHARES MSCI EAFE ETF
HYG|ARCA|ETF|77|Funds|ISHARES IBOXX HIGH YLD CORP
"""

ETF_VOLATILITY = 0.16
STOCK_VOLATILITY_RANGE = (0.20, 0.45)


@dataclass(frozen=True)
class Instrument:
    """One tradable contract and the parameters of its simulated price path."""

    symbol: str
    primary_exchange: str
    sec_type: str  # IB reports ETFs as STK with stockType ETF
    stock_type: str
    long_name: str
    industry: str
    start_price: float
    annual_volatility: float
    currency: str = "USD"
    listed: date | None = None  # no bars before this day (a recent IPO)
    min_tick: float = 0.01
    time_zone: str = "US/Eastern"
    valid_exchanges: tuple[str, ...] = field(default=("SMART", "NYSE", "NASDAQ", "ARCA", "BATS", "IEX", "EDGX"))

    @property
    def con_id(self) -> int:
        """A stable contract id derived from the symbol, like IB's permanent conId."""
        return 10_000_000 + zlib.crc32(f"{self.symbol}/{self.currency}".encode()) % 890_000_000

    @property
    def trading_class(self) -> str:
        return self.symbol.replace(" ", "")

    @property
    def local_symbol(self) -> str:
        return self.symbol


def _volatility_for(symbol: str, stock_type: str) -> float:
    if stock_type == "ETF":
        return ETF_VOLATILITY
    low, high = STOCK_VOLATILITY_RANGE
    return round(low + (zlib.crc32(symbol.encode()) % 1000) / 1000 * (high - low), 4)


def _instrument(
    symbol: str, primary: str, kind: str, price: float, industry: str, name: str, listed: date | None = None
) -> Instrument:
    return Instrument(
        symbol=symbol,
        primary_exchange=primary,
        sec_type="STK",
        stock_type="ETF" if kind == "ETF" else "COMMON",
        long_name=name,
        industry=industry,
        start_price=float(price),
        annual_volatility=_volatility_for(symbol, kind),
        listed=listed,
    )


class Universe:
    """Instrument lookup by symbol and by conId, plus IB-style symbol search."""

    def __init__(self, instruments: list[Instrument]):
        self._by_symbol = {i.symbol: i for i in instruments}
        self._by_con_id = {i.con_id: i for i in instruments}
        if len(self._by_con_id) != len(self._by_symbol):
            raise ValueError("two instruments hash to the same conId; rename one")

    def __len__(self) -> int:
        return len(self._by_symbol)

    def __iter__(self):
        return iter(self._by_symbol.values())

    @property
    def symbols(self) -> list[str]:
        return list(self._by_symbol)

    def by_symbol(self, symbol: str) -> Instrument | None:
        return self._by_symbol.get(symbol.upper())

    def by_con_id(self, con_id: int) -> Instrument | None:
        return self._by_con_id.get(con_id)

    def search(self, pattern: str, limit: int = 16) -> list[Instrument]:
        """Symbols starting with the pattern first, then names containing it."""
        needle = pattern.strip().upper()
        if not needle:
            return []
        starts = [i for i in self if i.symbol.startswith(needle)]
        contains = [i for i in self if needle in i.long_name and i not in starts]
        starts.sort(key=lambda i: (len(i.symbol), i.symbol))
        return (starts + contains)[:limit]

    @classmethod
    def default(cls) -> Universe:
        rows = [line.split("|") for line in _DEFAULT_TABLE.strip().splitlines()]
        return cls([_instrument(s, p, k, float(px), ind, n) for s, p, k, px, ind, n in rows])

    @classmethod
    def from_file(cls, path: Path) -> Universe:
        """Load instruments from YAML: a list of {symbol, primary_exchange, type, price, name, listed}."""
        try:
            entries = yaml.safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ValueError(f"{path}: cannot read universe file: {exc}") from exc
        if not isinstance(entries, list):
            raise ValueError(f"{path}: a universe file is a YAML list of instruments")
        instruments = []
        for n, entry in enumerate(entries):
            try:
                symbol = str(entry["symbol"]).upper()
                kind = str(entry.get("type", "STK")).upper()
                instruments.append(
                    _instrument(
                        symbol,
                        str(entry.get("primary_exchange", "NYSE")),
                        kind,
                        float(entry.get("price", 100.0)),
                        str(entry.get("industry", "")),
                        str(entry.get("name", symbol)).encode("ascii", "replace").decode(),
                        entry.get("listed"),
                    )
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"{path}: entry {n}: {exc!r}") from exc
        return cls(instruments)
