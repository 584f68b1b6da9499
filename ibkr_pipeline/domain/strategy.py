"""Strategy files: YAML validated by pydantic, with errors that name the file and the field."""

from __future__ import annotations

import hashlib
import re
from datetime import date
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ibkr_pipeline.domain import indicators as ind
from ibkr_pipeline.domain import rules
from ibkr_pipeline.domain.contracts import ContractSpec, normalize_symbol

BAR_SIZES = (
    "1 min", "2 mins", "3 mins", "5 mins", "10 mins", "15 mins", "20 mins", "30 mins",
    "1 hour", "2 hours", "3 hours", "4 hours", "8 hours", "1 day", "1 week", "1 month",
)
_DURATION = re.compile(r"^\d+ [SDWMY]$")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class UniverseEntry(_Model):
    symbol: str
    exchange: str = "SMART"
    currency: str = "USD"
    sec_type: Literal["STK"] = "STK"
    primary_exchange: str = ""

    def contract_spec(self) -> ContractSpec:
        return ContractSpec(
            symbol=self.symbol, sec_type=self.sec_type, exchange=self.exchange,
            currency=self.currency, primary_exchange=self.primary_exchange,
        )

    _symbol = field_validator("symbol")(classmethod(lambda cls, value: normalize_symbol(value)))


class Schedule(_Model):
    cron: str = Field(description="When a tick runs, in the schedule's timezone (e.g. '15 16 * * 1-5')")
    timezone: str = "America/New_York"
    start: date = Field(default=date(2024, 1, 1), description="First partition (for backfills)")

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        if len(value.split()) != 5 or not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a 5-field cron expression")
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not an IANA time zone") from exc
        return value


class Timeframe(_Model):
    name: str
    bar_size: Literal[BAR_SIZES]  # type: ignore[valid-type]
    lookback: str = Field(description="IB duration string, e.g. '1 Y', '6 M', '30 D'")
    use_rth: bool = True

    @field_validator("lookback")
    @classmethod
    def _lookback(cls, value: str) -> str:
        if not _DURATION.match(value):
            raise ValueError(f"{value!r} is not an IB duration like '1 Y', '6 M', '30 D'")
        return value


class IndicatorSpec(_Model):
    kind: str = Field(description="Any pandas-ta indicator, e.g. rsi, sma, macd, bbands, atr")
    params: dict[str, Any] = Field(default_factory=dict)
    name: str | None = Field(default=None, description="Alias for a one-column indicator")
    timeframes: list[str] | None = Field(default=None, description="Where to compute it; default all")

    @model_validator(mode="after")
    def _known_to_pandas_ta(self) -> IndicatorSpec:
        try:
            self.columns()
        except ind.IndicatorError as exc:
            raise ValueError(str(exc)) from exc
        return self

    def columns(self) -> list[str]:
        """The columns it produces, checked against pandas-ta."""
        return ind.output_columns(self.kind, self.params, self.name)


class ChartLayout(_Model):
    overlays: list[str] = Field(default_factory=list, description="Columns drawn over the candles")
    panels: list[str] = Field(default_factory=list, description="Columns drawn in panels below")
    bars: int = Field(default=120, ge=20, le=2000, description="How many of the latest bars to draw")
    style: str = "yahoo"


class SignalRules(_Model):
    mode: Literal["rules", "llm", "both", "weighted"] = "rules"
    timeframe: str = "daily"
    buy: str | None = None
    sell: str | None = None
    min_confidence: float = Field(default=0.5, ge=0, le=1)
    llm_weight: float = Field(default=0.5, ge=0, le=1, description="Weight of the analysis in 'weighted' mode")
    atr: str | None = Field(default=None, description="ATR column for stop/target distances")
    stop_atr: float = Field(default=2.0, gt=0)
    target_atr: float = Field(default=3.0, gt=0)


class LLMSection(_Model):
    prompt: str = "technical_analyst"
    model: str | None = None
    temperature: float = Field(default=0.0, ge=0, le=2)
    detail: Literal["low", "high", "auto"] = "low"
    vision: bool = True
    notes: str = ""


class RiskLimits(_Model):
    max_position_value: float = Field(default=25_000, gt=0)
    max_position_pct: float = Field(default=5.0, gt=0, le=100)
    max_gross_exposure_pct: float = Field(default=100.0, gt=0)
    max_open_positions: int = Field(default=10, ge=1)
    max_orders_per_day: int = Field(default=20, ge=1)
    daily_loss_limit: float = Field(default=5_000, gt=0)
    min_confidence: float = Field(default=0.6, ge=0, le=1)


class OrderTemplate(_Model):
    entry: Literal["MKT", "LMT"] = "LMT"
    sizing: Literal["fixed_quantity", "fixed_notional", "pct_equity", "risk"] = "risk"
    quantity: int | None = Field(default=None, gt=0)
    notional: float | None = Field(default=None, gt=0)
    pct_equity: float | None = Field(default=None, gt=0, le=100)
    risk_pct: float = Field(default=0.5, gt=0, le=10)
    tif: Literal["DAY", "GTC"] = "DAY"
    outside_rth: bool = False
    bracket: bool = True


class BacktestSettings(_Model):
    """What a backtest's replay broker charges: IBKR Pro Fixed-like commissions and slippage per fill."""

    starting_cash: float = Field(default=100_000, gt=0)
    slippage_bps: float = Field(default=2.0, ge=0, description="Against the trader on market and stop fills")
    commission_per_share: float = Field(default=0.005, ge=0)
    min_commission: float = Field(default=1.0, ge=0)
    max_commission_pct: float = Field(default=1.0, ge=0, description="Cap as a percentage of trade value")


DEFAULT_TIMEFRAMES = (
    Timeframe(name="daily", bar_size="1 day", lookback="1 Y"),
    Timeframe(name="weekly", bar_size="1 week", lookback="2 Y"),
)


class StrategySpec(_Model):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="Asset key prefix; lower_snake_case")
    description: str = ""
    mode: Literal["paper", "live", "dry_run"] = "paper"
    universe: list[UniverseEntry] = Field(min_length=1)
    schedule: Schedule
    timeframes: list[Timeframe] = Field(default_factory=lambda: list(DEFAULT_TIMEFRAMES), min_length=1)
    indicators: list[IndicatorSpec] = Field(default_factory=list)
    chart: ChartLayout = Field(default_factory=ChartLayout)
    signal: SignalRules = Field(default_factory=SignalRules)
    llm: LLMSection = Field(default_factory=LLMSection)
    risk: RiskLimits = Field(default_factory=RiskLimits)
    order: OrderTemplate = Field(default_factory=OrderTemplate)
    backtest: BacktestSettings = Field(default_factory=BacktestSettings)

    @field_validator("universe")
    @classmethod
    def _unique_symbols(cls, value: list[UniverseEntry]) -> list[UniverseEntry]:
        seen = [u.symbol for u in value]
        dupes = sorted({s for s in seen if seen.count(s) > 1})
        if dupes:
            raise ValueError(f"symbols listed twice: {dupes}")
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> StrategySpec:
        names = [t.name for t in self.timeframes]
        if len(set(names)) != len(names):
            raise ValueError(f"timeframe names must be unique: {names}")
        for i, spec in enumerate(self.indicators):
            for tf in spec.timeframes or []:
                if tf not in names:
                    raise ValueError(f"indicators.{i}.timeframes: unknown timeframe {tf!r}; have {names}")
        if self.signal.timeframe not in names:
            raise ValueError(f"signal.timeframe: unknown timeframe {self.signal.timeframe!r}; have {names}")
        columns = self.columns_for(self.signal.timeframe)
        for field in ("buy", "sell", "atr"):
            expression = getattr(self.signal, field)
            if expression is None:
                continue
            try:
                rules.check(expression, columns)
            except rules.RuleError as exc:
                raise ValueError(f"signal.{field}: {exc}") from exc
        drawable = set().union(*(self.columns_for(n) for n in names))
        for field in ("overlays", "panels"):
            for column in getattr(self.chart, field):
                if column not in drawable:
                    raise ValueError(f"chart.{field}: unknown column {column!r}; have {sorted(drawable)}")
        if self.order.sizing == "fixed_quantity" and not self.order.quantity:
            raise ValueError("order.quantity is required when order.sizing is fixed_quantity")
        if self.order.sizing == "fixed_notional" and not self.order.notional:
            raise ValueError("order.notional is required when order.sizing is fixed_notional")
        if self.order.sizing == "pct_equity" and not self.order.pct_equity:
            raise ValueError("order.pct_equity is required when order.sizing is pct_equity")
        return self

    def indicators_for(self, timeframe: str) -> list[IndicatorSpec]:
        return [i for i in self.indicators if i.timeframes is None or timeframe in i.timeframes]

    def columns_for(self, timeframe: str) -> set[str]:
        """Price columns plus every indicator column computed on ``timeframe``."""
        columns = set(ind.PRICE_COLUMNS)
        for spec in self.indicators_for(timeframe):
            columns.update(spec.columns())
        return columns

    def timeframe(self, name: str) -> Timeframe:
        return next(t for t in self.timeframes if t.name == name)


class StrategyFileError(ValueError):
    """A strategy file that cannot be used, with every problem located by field path."""

    def __init__(self, path: Path, problems: list[tuple[str, str]]):
        self.path = Path(path)
        self.problems = problems
        lines = [f"{self.path}: {loc + ': ' if loc else ''}{msg}" for loc, msg in problems]
        super().__init__("\n".join(lines))


def _location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


def parse_strategy(text: str, path: Path) -> StrategySpec:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise StrategyFileError(path, [(where, f"invalid YAML: {getattr(exc, 'problem', exc)}")]) from exc
    if not isinstance(data, dict):
        raise StrategyFileError(path, [("", "a strategy file is a YAML mapping (name:, universe:, schedule:, ...)")])
    try:
        return StrategySpec.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            message = err["msg"].removeprefix("Value error, ")
            problems.append((_location(err["loc"]), message))
        raise StrategyFileError(path, problems) from exc


def load_strategy(path: Path) -> StrategySpec:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise StrategyFileError(path, [("", f"cannot read: {exc.strerror}")]) from exc
    return parse_strategy(text, path)


def file_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def strategy_files(directory: Path) -> list[Path]:
    return sorted(p for p in Path(directory).glob("*.y*ml") if p.suffix in (".yaml", ".yml"))


def load_directory(directory: Path) -> tuple[list[tuple[Path, StrategySpec]], list[StrategyFileError]]:
    """Every strategy in a directory; broken files are returned as errors, never raised."""
    loaded, broken = [], []
    names: dict[str, Path] = {}
    for path in strategy_files(directory):
        try:
            spec = load_strategy(path)
        except StrategyFileError as exc:
            broken.append(exc)
            continue
        if spec.name in names:
            broken.append(StrategyFileError(path, [("name", f"{spec.name!r} is already used by {names[spec.name]}")]))
            continue
        names[spec.name] = path
        loaded.append((path, spec))
    return loaded, broken
