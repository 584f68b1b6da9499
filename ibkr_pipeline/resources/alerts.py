"""Alerts to a Slack-compatible incoming webhook (``{"text": ...}``), or nowhere when no URL is set.

The URL carries a token, so it comes from ``dg.EnvVar`` and is never logged; a webhook
that cannot be reached is logged and retried, never allowed to fail the caller.
"""

from __future__ import annotations

import logging

import dagster as dg
import requests
from pydantic import Field
from tenacity import retry, stop_after_attempt, wait_exponential

log = logging.getLogger("ibkr_pipeline.alerts")


class AlertWebhook(dg.ConfigurableResource):
    url: str = Field(
        default="", repr=False, description="Incoming-webhook URL, through dg.EnvVar('IBKR_PIPELINE_ALERT_WEBHOOK')"
    )
    timeout_s: float = 10.0

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    def send(self, title: str, lines: list[str]) -> bool:
        """Post one alert; True when the webhook accepted it."""
        if not self.url:
            return False
        text = f"*{title}*\n" + "\n".join(f"• {line}" for line in lines)

        @retry(stop=stop_after_attempt(3), wait=wait_exponential(multiplier=0.5, max=4), reraise=True)
        def post() -> None:
            requests.post(self.url, json={"text": text}, timeout=self.timeout_s).raise_for_status()

        try:
            post()
            return True
        except requests.RequestException as exc:
            # The exception's text can contain the URL: log only its type and the status, if any.
            status = getattr(getattr(exc, "response", None), "status_code", "no response")
            log.warning("alert webhook failed (%s, %s): %s", type(exc).__name__, status, title)
            return False
