"""What the broker's book holds of an order IB itself no longer lists: on a connection that stayed up past New York
midnight, yesterday's filled order is gone from IB's completed orders, and only its execution, which the connection
still holds, tells the next search that it was sent and filled."""

from datetime import timedelta

from ibkr_pipeline.broker.records import BrokerOrder
from ibkr_pipeline.trading.executor import broker_book
from ibkr_pipeline_tests.eventually import until
from ibkr_pipeline_tests.trading.test_adoption import REF, send_by_hand
from ibkr_pipeline_tests.trading.test_exactly_once import connect, gw  # noqa: F401 (gw is a fixture)


def test_an_order_known_only_by_its_execution_is_in_the_book_as_filled(gw):  # noqa: F811
    client = connect(gw)
    send_by_hand(gw, client, "AAPL", 40)
    until(lambda: client.executions(), "IB reports the fill", client.sleep)
    [yesterday] = broker_book(client)[REF]
    assert (yesterday.status, yesterday.done) == ("Filled", True)
    gw.advance(timedelta(days=1))  # past New York midnight: IB's completed orders no longer hold it
    assert [o.order_ref for o in client.completed_orders()] == []
    [fill] = client.executions()
    assert (fill.order_ref, fill.perm_id) == (REF, yesterday.perm_id)
    assert broker_book(client) == {
        REF: [BrokerOrder(REF, fill.order_id, yesterday.perm_id, "Filled", fill.con_id, "BUY", 40.0, done=True)]
    }
    client.disconnect()
