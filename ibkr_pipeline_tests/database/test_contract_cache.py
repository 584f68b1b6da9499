"""The contract cache on its own: TTL to the microsecond, search by symbol and name, on SQLite and PostgreSQL."""

from datetime import UTC, datetime, timedelta

from ibkr_pipeline.database.contract_cache import ContractCache
from ibkr_pipeline.database.engine import engine_for
from ibkr_pipeline.domain.contracts import ContractInfo, ContractSpec

FETCHED = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)


def info(symbol: str, name: str, con_id: int) -> ContractInfo:
    return ContractInfo(
        symbol=symbol,
        sec_type="STK",
        exchange="SMART",
        currency="USD",
        con_id=con_id,
        primary_exchange="NASDAQ",
        local_symbol=symbol,
        trading_class="NMS",
        long_name=name,
        min_tick=0.01,
        time_zone="US/Eastern",
        fetched_at=FETCHED,
    )


def filled(url: str, ttl: timedelta = timedelta(hours=6)) -> ContractCache:
    cache = ContractCache(engine_for(url), ttl=ttl)
    for symbol, name, con_id in (
        ("AAPL", "Apple Inc", 265598),
        ("AMZN", "Amazon.com Inc", 3691937),
        ("MSFT", "Microsoft Corp", 272093),
    ):
        cache.put(ContractSpec(symbol=symbol), info(symbol, name, con_id))
    return cache


def test_an_entry_lives_exactly_its_ttl(database_url):
    cache = filled(database_url)
    spec = ContractSpec(symbol="AAPL")
    got = cache.get(spec, now=FETCHED + timedelta(hours=6) - timedelta(microseconds=1))
    assert got == info("AAPL", "Apple Inc", 265598) and got.fetched_at == FETCHED
    assert cache.get(spec, now=FETCHED + timedelta(hours=6)) is None
    assert cache.get(ContractSpec(symbol="NVDA"), now=FETCHED) is None
    assert (cache.stats.hits, cache.stats.misses, cache.stats.expired) == (1, 2, 1)
    # another exchange or currency is another contract
    assert cache.get(ContractSpec(symbol="AAPL", currency="EUR"), now=FETCHED) is None


def test_search_matches_a_symbol_prefix_or_a_name_fragment_in_any_case(database_url):
    cache = filled(database_url)
    assert sorted(i.symbol for i in cache.search("a")) == ["AAPL", "AMZN"]
    assert [i.symbol for i in cache.search("am")] == ["AMZN"]
    assert [i.symbol for i in cache.search("soft")] == ["MSFT"]
    assert sorted(i.symbol for i in cache.search("inc")) == ["AAPL", "AMZN"]
    assert cache.search("zz") == []
    assert [i.fetched_at for i in cache.search("MSFT")] == [FETCHED]


def test_counts_add_up_and_an_entry_is_kept_under_the_contract_asked_for(database_url):
    cache = filled(database_url)
    for _ in range(2):
        cache.get(ContractSpec(symbol="MSFT"), now=FETCHED)
        cache.get(ContractSpec(symbol="MSFT"), now=FETCHED + timedelta(days=1))
    assert (cache.stats.hits, cache.stats.misses, cache.stats.expired) == (2, 2, 2)
    assert cache.get(ContractSpec(symbol="MSFT")) is None  # now: the suite's clock, days after FETCHED
    # IB answers with its own names (a listing exchange, another currency, the local symbol): the entry is
    # found again under what was asked
    asked = ContractSpec(symbol="SAP", sec_type="STK", exchange="SMART", currency="USD")
    answered = info("SAP.DE", "SAP SE", 14204).model_copy(
        update={"exchange": "IBIS", "currency": "EUR", "sec_type": "CFD"}
    )
    cache.put(asked, answered)
    got = cache.get(asked, now=FETCHED)
    assert got is not None and (got.symbol, got.sec_type, got.exchange, got.currency, got.con_id) == (
        "SAP",
        "STK",
        "SMART",
        "USD",
        14204,
    )
