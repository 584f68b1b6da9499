"""Strategy files: YAML validated by pydantic, with errors that name the file and the field."""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from croniter import CroniterBadDateError, croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ibkr_pipeline.domain import indicators as ind
from ibkr_pipeline.domain import rules
from ibkr_pipeline.domain.contracts import ContractSpec, normalize_symbol
from ibkr_pipeline.domain.orders import MAX_ORDER_SHARES

BAR_SIZES = (
    "1 min",
    "2 mins",
    "3 mins",
    "5 mins",
    "10 mins",
    "15 mins",
    "20 mins",
    "30 mins",
    "1 hour",
    "2 hours",
    "3 hours",
    "4 hours",
    "8 hours",
    "1 day",
    "1 week",
    "1 month",
)
_DURATION = re.compile(r"^(\d{1,5}) ([SDWMY])$")
# The most of each unit IB serves in one request (and more than any strategy needs).
_MAX_DURATION = {"S": 86_400, "D": 3_650, "W": 520, "M": 120, "Y": 30}
NAME = r"^[a-z][a-z0-9_]{0,63}$"  # strategy, timeframe, prompt and column names: safe as a path segment
IB_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9 .\-]{0,19}$")
IB_CODE = r"^[A-Z0-9.]{0,16}$"
MAX_UNIVERSE = 2_000
# pandas-ta parameters that count bars: whole and positive.
_WINDOW_PARAMS = frozenset(
    {
        "length",
        "fast",
        "slow",
        "signal",
        "period",
        "window",
        "lookback",
        "k",
        "d",
        "smooth_k",
        "atr_length",
        "rsi_length",
        "macd_length",
    }
)
MAX_AMOUNT = 1e9


_CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))


def check_cron(value: str) -> str:
    """A 5-field cron that parses and fires: each bad field is named, and a cron that never fires
    (``0 0 30 2 *``) or fires less than once in five years is refused."""
    fields = value.split()
    if len(fields) != 5:
        raise ValueError(
            f"{value!r} has {len(fields)} fields; a cron has 5 (minute hour day-of-month month day-of-week)"
        )
    for i, (label, low, high) in enumerate(_CRON_FIELDS):
        probe = ["*"] * 5
        probe[i] = fields[i]
        if not croniter.is_valid(" ".join(probe)):
            raise ValueError(
                f"{value!r}: {label} field {fields[i]!r} is not valid (values {low}-{high}, "
                "lists a,b, ranges a-b, steps */n)"
            )
    if not croniter.is_valid(value):
        raise ValueError(f"{value!r} is not a valid cron expression")
    reference = datetime(2024, 1, 1)
    try:
        first = croniter(value, reference).get_next(datetime)
        second = croniter(value, first).get_next(datetime)
    except CroniterBadDateError:
        first = second = None
    if first is None or second is None or (second - reference).days > 5 * 366:
        raise ValueError(f"{value!r} never fires (no such date), or fires less than once in five years")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class UniverseEntry(_Model):
    symbol: str = Field(max_length=20)
    exchange: str = Field(default="SMART", pattern=IB_CODE)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    sec_type: Literal["STK"] = "STK"
    primary_exchange: str = Field(default="", pattern=IB_CODE)

    def contract_spec(self) -> ContractSpec:
        return ContractSpec(
            symbol=self.symbol,
            sec_type=self.sec_type,
            exchange=self.exchange,
            currency=self.currency,
            primary_exchange=self.primary_exchange,
        )

    @field_validator("symbol")
    @classmethod
    def _symbol(cls, value: str) -> str:
        value = normalize_symbol(value)
        if not IB_SYMBOL.match(value):
            raise ValueError(f"{value!r} is not an IB symbol (letters, digits, space, '.' and '-', up to 20)")
        return value


class Schedule(_Model):
    cron: str = Field(description="When a tick runs, in the schedule's timezone (e.g. '15 16 * * 1-5')")
    timezone: str = "America/New_York"
    start: date = Field(default=date(2024, 1, 1), description="First partition (for backfills)")

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        return check_cron(value)

    @field_validator("start")
    @classmethod
    def _start(cls, value: date) -> date:
        if not date(2000, 1, 1) <= value <= date(2100, 1, 1):
            raise ValueError(f"{value} is outside 2000-01-01 .. 2100-01-01")
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            raise ValueError(f"{value!r} is not an IANA time zone") from exc
        return value


class Timeframe(_Model):
    name: str = Field(pattern=NAME, description="lower_snake_case; part of the bar store's paths")
    bar_size: Literal[BAR_SIZES]  # type: ignore[valid-type]
    lookback: str = Field(description="IB duration string, e.g. '1 Y', '6 M', '30 D'")
    use_rth: bool = True

    @field_validator("lookback")
    @classmethod
    def _lookback(cls, value: str) -> str:
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"{value!r} is not an IB duration like '1 Y', '6 M', '30 D'")
        count, unit = int(match.group(1)), match.group(2)
        if not 1 <= count <= _MAX_DURATION[unit]:
            raise ValueError(f"{value!r}: between 1 and {_MAX_DURATION[unit]} {unit}")
        return value


class IndicatorSpec(_Model):
    kind: str = Field(pattern=NAME, description="Any pandas-ta indicator, e.g. rsi, sma, macd, bbands, atr")
    params: dict[str, int | float | str | bool] = Field(default_factory=dict, max_length=16)
    name: str | None = Field(default=None, pattern=NAME, description="Alias for a one-column indicator")
    timeframes: list[str] | None = Field(default=None, max_length=16, description="Where to compute it; default all")

    @field_validator("params")
    @classmethod
    def _params(cls, value: dict[str, int | float | str | bool]) -> dict[str, int | float | str | bool]:
        for key, item in value.items():
            if not re.fullmatch(r"[a-z_][a-z0-9_]{0,31}", key):
                raise ValueError(f"parameter name {key!r} is not a pandas-ta parameter name")
            if isinstance(item, str):
                if len(item) > 32:
                    raise ValueError(f"{key}: text longer than 32 characters")
                try:
                    float(item)
                except ValueError:
                    pass
                else:  # YAML reads 1e30 (no dot) as text: say so rather than hand pandas-ta a string
                    raise ValueError(f"{key}: {item!r} is text; write a number such as 14 or 2.0")
            if key in _WINDOW_PARAMS and not (
                isinstance(item, int) and not isinstance(item, bool) and 1 <= item <= 5_000
            ):
                raise ValueError(f"{key}: {item!r} is not a whole number of bars from 1 to 5000")
            if isinstance(item, int | float) and not isinstance(item, bool) and not abs(item) <= 100_000:
                raise ValueError(f"{key}: {item} is outside -100000 .. 100000")
        return value

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
    overlays: list[str] = Field(default_factory=list, max_length=16, description="Columns drawn over the candles")
    panels: list[str] = Field(default_factory=list, max_length=8, description="Columns drawn in panels below")
    bars: int = Field(default=120, ge=20, le=2000, description="How many of the latest bars to draw")
    style: str = Field(default="yahoo", pattern=r"^[a-z][a-z0-9_-]{0,31}$", description="An mplfinance style")
    when: Literal["always", "signals", "screened"] = Field(
        default="always",
        description="Which symbols get charts: every one; those the rules signal or the vision LLM reads; "
        "those the llm.screen passes",
    )


class SignalRules(_Model):
    mode: Literal["rules", "llm", "both", "weighted"] = "rules"
    timeframe: str = "daily"
    buy: str | None = Field(default=None, max_length=500)
    sell: str | None = Field(default=None, max_length=500)
    min_confidence: float = Field(default=0.5, ge=0, le=1)
    llm_weight: float = Field(default=0.5, ge=0, le=1, description="Weight of the analysis in 'weighted' mode")
    atr: str | None = Field(default=None, pattern=NAME, description="ATR column for stop/target distances")
    stop_atr: float = Field(default=2.0, gt=0, le=50)
    target_atr: float = Field(default=3.0, gt=0, le=50)


class LLMSection(_Model):
    prompt: str = Field(default="technical_analyst", pattern=NAME, description="A folder under prompts/")
    model: str | None = Field(default=None, max_length=128, pattern=r"^[A-Za-z0-9._:/@-]+$")
    temperature: float = Field(default=0.0, ge=0, le=2)
    detail: Literal["low", "high", "auto"] = "low"
    vision: bool = True
    notes: str = Field(default="", max_length=4000)
    screen: str | None = Field(
        default=None,
        max_length=500,
        description="A rule over the signal timeframe's latest values; only symbols it passes go to the LLM, "
        "the others get the rules' signal with the screen's reason",
    )


class RiskLimits(_Model):
    max_position_value: float = Field(default=25_000, gt=0, le=MAX_AMOUNT)
    max_position_pct: float = Field(default=5.0, gt=0, le=100)
    max_gross_exposure_pct: float = Field(default=100.0, gt=0, le=400)
    max_open_positions: int = Field(default=10, ge=1, le=MAX_UNIVERSE)
    max_orders_per_day: int = Field(default=20, ge=1, le=10_000)
    daily_loss_limit: float = Field(default=5_000, gt=0, le=MAX_AMOUNT)
    min_confidence: float = Field(default=0.6, ge=0, le=1)
    max_signal_age_minutes: int | None = Field(
        default=None,
        ge=1,
        le=31 * 24 * 60,
        description="Oldest a tick may be when its orders are sent; default one cron period (never across a session open or close)",
    )


class OrderTemplate(_Model):
    entry: Literal["MKT", "LMT"] = "LMT"
    sizing: Literal["fixed_quantity", "fixed_notional", "pct_equity", "risk"] = "risk"
    quantity: int | None = Field(default=None, gt=0, le=MAX_ORDER_SHARES)
    notional: float | None = Field(default=None, gt=0, le=MAX_AMOUNT)
    pct_equity: float | None = Field(default=None, gt=0, le=100)
    risk_pct: float = Field(default=0.5, gt=0, le=10)
    tif: Literal["DAY", "GTC"] = "DAY"
    outside_rth: bool = False
    bracket: bool = True
    stop_pct: float | None = Field(
        default=None, gt=0, le=50, description="Stop distance in % of the entry when no ATR gives one"
    )
    target_pct: float | None = Field(
        default=None, gt=0, le=500, description="Target distance in % of the entry when no ATR gives one"
    )
    max_stop_pct: float = Field(
        default=15.0, gt=0, le=50, description="No bracket's stop further than this from its entry"
    )
    max_target_pct: float = Field(
        default=30.0, gt=0, le=500, description="No bracket's target further than this from its entry"
    )


class BacktestSettings(_Model):
    """What a backtest's replay broker charges: IBKR Pro Fixed-like commissions and slippage per fill."""

    starting_cash: float = Field(default=100_000, gt=0, le=MAX_AMOUNT)
    slippage_bps: float = Field(default=2.0, ge=0, le=1_000, description="Against the trader on market and stop fills")
    commission_per_share: float = Field(default=0.005, ge=0, le=100)
    min_commission: float = Field(default=1.0, ge=0, le=10_000)
    max_commission_pct: float = Field(default=1.0, ge=0, le=100, description="Cap as a percentage of trade value")


DEFAULT_TIMEFRAMES = (
    Timeframe(name="daily", bar_size="1 day", lookback="1 Y"),
    Timeframe(name="weekly", bar_size="1 week", lookback="2 Y"),
)


class StrategySpec(_Model):
    name: str = Field(pattern=NAME, description="Asset key prefix; lower_snake_case")
    description: str = Field(default="", max_length=2000)
    mode: Literal["paper", "live", "dry_run"] = "paper"
    universe: list[UniverseEntry] = Field(min_length=1, max_length=MAX_UNIVERSE)
    schedule: Schedule
    timeframes: list[Timeframe] = Field(default_factory=lambda: list(DEFAULT_TIMEFRAMES), min_length=1, max_length=8)
    indicators: list[IndicatorSpec] = Field(default_factory=list, max_length=64)
    chart: ChartLayout = Field(default_factory=ChartLayout)
    signal: SignalRules = Field(default_factory=SignalRules)
    llm: LLMSection = Field(default_factory=LLMSection)
    risk: RiskLimits = Field(default_factory=RiskLimits)
    order: OrderTemplate = Field(default_factory=OrderTemplate)
    backtest: BacktestSettings = Field(default_factory=BacktestSettings)

    @field_validator("universe")
    @classmethod
    def _unique_symbols(cls, value: list[UniverseEntry]) -> list[UniverseEntry]:
        counts = Counter(u.symbol for u in value)
        dupes = sorted(s for s, n in counts.items() if n > 1)
        if dupes:
            raise ValueError(f"symbols listed twice: {dupes}")
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> StrategySpec:
        """Every check across sections, all reported at once (one line each, located)."""
        problems: list[str] = []
        names = [t.name for t in self.timeframes]
        if len(set(names)) != len(names):
            problems.append(f"timeframes: timeframe names must be unique: {names}")
        for i, spec in enumerate(self.indicators):
            for tf in spec.timeframes or []:
                if tf not in names:
                    problems.append(f"indicators.{i}.timeframes: unknown timeframe {tf!r}; have {names}")
        if self.signal.timeframe not in names:
            problems.append(f"signal.timeframe: unknown timeframe {self.signal.timeframe!r}; have {names}")
        columns = self.columns_for(self.signal.timeframe)
        for where, expression in (
            ("signal.buy", self.signal.buy),
            ("signal.sell", self.signal.sell),
            ("signal.atr", self.signal.atr),
            ("llm.screen", self.llm.screen),
        ):
            if expression is None:
                continue
            try:
                rules.check(expression, columns)
            except rules.RuleError as exc:
                problems.append(f"{where}: {exc}")
        drawable = set().union(*(self.columns_for(n) for n in names))
        for field in ("overlays", "panels"):
            for column in getattr(self.chart, field):
                if column not in drawable:
                    problems.append(f"chart.{field}: unknown column {column!r}; have {sorted(drawable)}")
        for sizing, needed in (
            ("fixed_quantity", "quantity"),
            ("fixed_notional", "notional"),
            ("pct_equity", "pct_equity"),
        ):
            if self.order.sizing == sizing and not getattr(self.order, needed):
                problems.append(f"order.{needed} is required when order.sizing is {sizing}")
        if (
            self.order.bracket
            and self.signal.buy
            and (self.signal.mode != "llm" or self.llm.screen)
            and not self.signal.atr
            and not (self.order.stop_pct and self.order.target_pct)
        ):
            problems.append(
                "order.bracket: a bracket needs its distances: set signal.atr, or order.stop_pct and "
                "order.target_pct (an analysis in signal.mode llm gives its own, bounded by "
                "order.max_stop_pct and order.max_target_pct; the rules decide what llm.screen keeps out)"
            )
        if problems:
            raise ValueError("\n".join(problems))
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
        lines = [f"{self.path}: {loc + ': ' if loc else ''}{msg}" for loc, msg in problems]
        super().__init__("\n".join(lines))


def _location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


MAX_FILE_BYTES = 256 * 1024
MAX_YAML_DEPTH = 12
MAX_YAML_NODES = 50_000


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping with the same key twice (a later ``mode: live`` must not win silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key: SafeLoader refuses it below, once duplicates are sought
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen[key] = True
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError) as exc:  # 2026-13-45 looks like a date to YAML
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value!r} is not a date: {exc}", node.start_mark
            ) from exc


_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _StrictLoader.construct_yaml_timestamp)


def _where(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def _yaml_problem(exc: yaml.YAMLError, text: str) -> tuple[str, str]:
    """Where and what, on one line. A character YAML refuses (a control character, a NUL) comes as a ReaderError
    with only an offset, and a text of two lines naming "<unicode string>": located here as line and column."""
    if isinstance(exc, yaml.reader.ReaderError) and isinstance(exc.character, int):
        line = text.count("\n", 0, exc.position)
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1)
        mark = yaml.Mark(exc.name, exc.position, line, column, None, None)
        return _where(mark), f"invalid YAML: unacceptable character #x{exc.character:04x}: {exc.reason}"
    return _where(getattr(exc, "problem_mark", None)), f"invalid YAML: {getattr(exc, 'problem', None) or exc}"


def _scan(text: str, path: Path) -> None:
    """Walk the YAML events (no recursion, no objects built) and refuse what could exhaust memory or
    the stack: anchors and aliases (YAML bombs), nesting deeper than any strategy needs, too many nodes."""
    depth = nodes = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise StrategyFileError(
                path,
                [(_where(event.start_mark), "YAML anchors and aliases (& and *) are not allowed in strategy files")],
            )
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                raise StrategyFileError(
                    path, [(_where(event.start_mark), f"nested deeper than {MAX_YAML_DEPTH} levels")]
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        if isinstance(event, yaml.NodeEvent):
            nodes += 1
            if nodes > MAX_YAML_NODES:
                raise StrategyFileError(path, [(_where(event.start_mark), f"more than {MAX_YAML_NODES} YAML values")])


def parse_strategy(text: str, path: Path) -> StrategySpec:
    try:
        _scan(text, path)
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise StrategyFileError(path, [_yaml_problem(exc, text)]) from exc
    if not isinstance(data, dict):
        raise StrategyFileError(path, [("", "a strategy file is a YAML mapping (name:, universe:, schedule:, ...)")])
    try:
        return StrategySpec.model_validate(data)
    except ValidationError as exc:
        problems = _problems(exc)
        # The checks across sections run only on sections that are valid: run them once more with each broken
        # section set aside, so one pass reports every problem (a rule naming a broken indicator's column too).
        repaired = _set_aside(data, exc.errors())
        try:
            StrategySpec.model_validate(repaired)
        except ValidationError as again:
            # Without the broken indicators their columns are unknown: say so next to a name that may be theirs.
            hint = (
                " (perhaps because of the broken indicators above)"
                if repaired.get("indicators") != data.get("indicators")
                else ""
            )
            problems += [
                (loc, message + (hint if "unknown" in message else ""))
                for loc, message in _problems(again)
                if loc == "" and (loc, message) not in problems
            ]
        raise StrategyFileError(path, problems) from exc


_PLACEHOLDERS: dict[str, Any] = {  # valid stand-ins for required sections, for the second pass only
    "name": "placeholder",
    "universe": [{"symbol": "PLACEHOLDER"}],
    "schedule": {"cron": "0 0 * * *", "timezone": "UTC", "start": "2026-01-01"},
}


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    """Each error as (field path, message); a cross-section error is one line per problem, located in its text."""
    found: list[tuple[str, str]] = []
    for err in exc.errors():
        message = err["msg"].removeprefix("Value error, ")
        found += [(_location(err["loc"]), line) for line in message.splitlines()]
    return found


def _set_aside(data: dict[str, Any], errors: list[Any]) -> dict[str, Any]:
    """The file with each broken part replaced: a broken list item dropped, a broken section back to its default
    (or a valid placeholder when it has none), an unknown key removed."""
    repaired = dict(data)
    drop: dict[str, set[int]] = {}
    for err in errors:
        loc = err["loc"]
        if not loc or loc[0] not in repaired:
            continue
        key = str(loc[0])
        if len(loc) > 1 and isinstance(loc[1], int) and isinstance(repaired[key], list):
            drop.setdefault(key, set()).add(loc[1])
        else:
            drop[key] = set()
    for key, items in drop.items():
        kept = [v for i, v in enumerate(repaired[key]) if i not in items] if items else []
        if kept:
            repaired[key] = kept
        elif key in _PLACEHOLDERS:
            repaired[key] = _PLACEHOLDERS[key]
        else:
            repaired.pop(key)
    return repaired


def read_strategy_text(path: Path) -> str:
    """The file's text: a regular file (never a FIFO or a device, which could block or never end), at most
    ``MAX_FILE_BYTES``, UTF-8 (a UTF-8 byte-order mark is allowed)."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise StrategyFileError(path, [("", f"cannot read: {exc.strerror}")]) from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise StrategyFileError(path, [("", "not a regular file (a directory, FIFO or device); refused")])
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        raise StrategyFileError(path, [("", f"larger than {MAX_FILE_BYTES // 1024} KiB; a strategy file is small")])
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise StrategyFileError(path, [("", "the file is UTF-16; save it as UTF-8")])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise StrategyFileError(
            path, [(f"line {line}", f"not UTF-8 (byte {exc.start}: {data[exc.start]:#04x}); save the file as UTF-8")]
        ) from exc
    if "\x00" in text:
        raise StrategyFileError(path, [("", "contains NUL characters; not a text file")])
    return text.removeprefix("\ufeff")


def load_strategy(path: Path) -> StrategySpec:
    path = Path(path)
    return parse_strategy(read_strategy_text(path), path)


def file_hash(path: Path) -> str:
    return hashlib.sha256(read_strategy_text(path).encode()).hexdigest()[:16]


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
        except Exception as exc:  # whatever a file holds, it never takes the others down
            broken.append(StrategyFileError(path, [("", f"cannot be loaded: {type(exc).__name__}: {exc}"[:500])]))
            continue
        if spec.name in names:
            broken.append(StrategyFileError(path, [("name", f"{spec.name!r} is already used by {names[spec.name]}")]))
            continue
        names[spec.name] = path
        loaded.append((path, spec))
    return loaded, broken
