"""What an order-tracking pass reports for each outcome of a reconciliation (the sensor's Dagster side is tested
against the simulator in sensors/test_order_tracking.py)."""

import hashlib

from ibkr_pipeline.trading.reconcile import Reconciliation
from ibkr_pipeline.trading.tracking import Observation, TrackingReport, tracking_report

FILL = ("alpha:AAPL:t1", "0001.01", "BOT", 100.0, 187.5)


def test_no_live_order_and_no_new_fill_skips_and_says_there_was_nothing_to_track():
    assert tracking_report(None, {}, "", None) == TrackingReport(skip="no live orders to track")
    assert tracking_report(None, {}, "0001.01", "0001.01") == TrackingReport(skip="no live orders to track")


def test_a_pass_with_nothing_new_skips_and_says_so():
    assert tracking_report(Reconciliation(), {}, "0001.01", "0001.01") == TrackingReport(
        skip="no status change, no new fills"
    )
    old_fill = Reconciliation(fills=[FILL])  # recorded again, already snapshotted: observed, no snapshot
    assert tracking_report(old_fill, {}, "0001.01", "0001.01") == TrackingReport(
        observations=[
            Observation(
                "alpha:AAPL:t1",
                {"order_ref": "alpha:AAPL:t1", "fill": "0001.01", "side": "BOT", "shares": 100.0, "price": 187.5},
            )
        ],
        skip="no status change, no new fills",
    )


def test_a_fill_newer_than_the_cursor_is_observed_and_asks_for_a_snapshot_once():
    result = Reconciliation(changes=[("alpha:AAPL:t1", "working", "filled")], fills=[FILL])
    report = tracking_report(result, {}, "0001.01", "0000.99")
    assert report == TrackingReport(
        observations=[
            Observation("alpha:AAPL:t1", {"order_ref": "alpha:AAPL:t1", "from": "working", "to": "filled"}),
            Observation(
                "alpha:AAPL:t1",
                {"order_ref": "alpha:AAPL:t1", "fill": "0001.01", "side": "BOT", "shares": 100.0, "price": 187.5},
            ),
        ],
        run_key="fills-0001.01",
        cursor="0001.01",
    )
    # Recorded by a tick before this pass (the cursor is still behind it): a snapshot all the same.
    assert tracking_report(None, {}, "0001.01", None).run_key == "fills-0001.01"


def test_a_status_change_without_a_fill_asks_for_a_snapshot_keyed_by_the_change():
    changes = [("alpha:MSFT:t1", "unconfirmed", "working")]
    report = tracking_report(Reconciliation(changes=changes), {}, "0001.01", "0001.01")
    expected = "status-" + hashlib.sha256(repr(changes).encode()).hexdigest()[:16]
    assert report == TrackingReport(
        observations=[
            Observation("alpha:MSFT:t1", {"order_ref": "alpha:MSFT:t1", "from": "unconfirmed", "to": "working"})
        ],
        run_key=expected,
    )
    other = tracking_report(Reconciliation(changes=[("alpha:MSFT:t1", "working", "cancelled")]), {}, "", None)
    assert other.run_key.startswith("status-") and other.run_key != expected


def test_a_late_reject_fails_the_pass_by_name_and_leaves_the_cursor_for_the_next():
    result = Reconciliation(
        changes=[("alpha:MSFT:t1", "working", "rejected"), ("alpha:NVDA:t1", "working", "rejected")],
        rejects=["alpha:MSFT:t1", "alpha:NVDA:t1"],
        fills=[FILL],
    )
    report = tracking_report(result, {}, "0001.01", "0000.99")
    assert report.failure == "orders rejected by IB: alpha:MSFT:t1, alpha:NVDA:t1"
    assert (report.run_key, report.cursor, report.lost_alert) == ("", None, [])
    assert [o.metadata.get("to") for o in report.observations] == ["rejected", "rejected", None]  # changes, fill


def test_lost_orders_are_alerted_with_the_ledgers_reason_and_fail_the_pass_beside_rejects():
    result = Reconciliation(
        changes=[("alpha:AAPL:t2", "working", "lost"), ("alpha:MSFT:t2", "working", "rejected")],
        rejects=["alpha:MSFT:t2"],
        lost=["alpha:AAPL:t2", "alpha:NVDA:t2"],
    )
    report = tracking_report(result, {"alpha:AAPL:t2": "IB has no open order under alpha:AAPL:t2"}, "", None)
    assert report.lost_alert == [
        "alpha:AAPL:t2: IB has no open order under alpha:AAPL:t2",
        "alpha:NVDA:t2: not in the ledger",
    ]
    assert report.failure == (
        "orders rejected by IB: alpha:MSFT:t2; orders lost (IB does not know them): alpha:AAPL:t2, alpha:NVDA:t2"
    )
    assert (report.run_key, report.skip) == ("", "")
    only_lost = tracking_report(Reconciliation(lost=["alpha:AAPL:t2"]), {}, "", None)
    assert only_lost.failure == "orders lost (IB does not know them): alpha:AAPL:t2"
