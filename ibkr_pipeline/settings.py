"""Every environment variable the project reads, with its default and meaning: the one place to look them up.

With none set, the embedded default runs (SQLite, a local object directory, the offline
analyst, the gateway on 127.0.0.1:4002). Secrets are read by the resources through
``dg.EnvVar`` when a run starts, so they never enter logs, metadata or run config.
``ibkr-pipeline settings`` prints this table.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    meaning: str
    secret: bool = False

    def read(self) -> str:
        return os.environ.get(self.name) or self.default

    def is_set(self) -> bool:
        return bool(os.environ.get(self.name))


IBKR_HOST = Setting("IBKR_HOST", "127.0.0.1", "IB Gateway/TWS host")
IBKR_PORT = Setting("IBKR_PORT", "4002", "API port (paper: 4002 Gateway, 7497 TWS)")
IBKR_CLIENT_ID = Setting("IBKR_CLIENT_ID", "1", "first API client id the pipeline tries")
IBKR_ACCOUNT = Setting("IBKR_ACCOUNT", "", "account id; empty = the login's only account")
HOME = Setting("IBKR_PIPELINE_HOME", ".ibkr_pipeline", "the embedded default's files: database, objects, account")
DB_URL = Setting(
    "IBKR_PIPELINE_DB_URL",
    "",
    "project database URL (PostgreSQL in production); empty = SQLite under IBKR_PIPELINE_HOME",
    secret=True,
)
STRATEGIES = Setting("IBKR_PIPELINE_STRATEGIES", "", "directory of strategy files; empty = the bundled examples")
CHART_DIR = Setting("IBKR_PIPELINE_CHART_DIR", "", "local object directory; empty = IBKR_PIPELINE_HOME/objects")
S3_ENDPOINT = Setting("IBKR_PIPELINE_S3_ENDPOINT", "", "S3/MinIO host:port; empty = the local object directory")
S3_BUCKET = Setting("IBKR_PIPELINE_S3_BUCKET", "ibkr-pipeline", "bucket for charts, bars and backtests")
S3_SECURE = Setting("IBKR_PIPELINE_S3_SECURE", "true", "TLS to the object store")
S3_ACCESS_KEY = Setting("IBKR_PIPELINE_S3_ACCESS_KEY", "", "object store access key", secret=True)
S3_SECRET_KEY = Setting("IBKR_PIPELINE_S3_SECRET_KEY", "", "object store secret key", secret=True)
OPENAI_BASE_URL = Setting("OPENAI_BASE_URL", "", "OpenAI-compatible endpoint; empty = the offline analyst")
OPENAI_API_KEY = Setting("OPENAI_API_KEY", "", "the endpoint's API key", secret=True)
OPENAI_MODEL = Setting("OPENAI_MODEL", "gpt-4o-mini", "vision model, unless a strategy names its own")
LLM_MAX_IN_FLIGHT = Setting("IBKR_PIPELINE_LLM_MAX_IN_FLIGHT", "4", "LLM requests in flight at once")
ALERT_WEBHOOK = Setting(
    "IBKR_PIPELINE_ALERT_WEBHOOK", "", "Slack-compatible webhook for alerts; empty = off", secret=True
)
EXECUTOR = Setting("IBKR_PIPELINE_EXECUTOR", "multiprocess", "multiprocess | in_process | celery")
CELERY_BROKER = Setting("IBKR_PIPELINE_CELERY_BROKER", "", "Celery broker URL (executor celery)", secret=True)
CELERY_BACKEND = Setting("IBKR_PIPELINE_CELERY_BACKEND", "", "Celery result backend URL (executor celery)", secret=True)
TICK_MAX_RUNTIME_S = Setting("IBKR_PIPELINE_TICK_MAX_RUNTIME_S", "1800", "a tick run longer than this is stopped")
ORDER_TRACKING_S = Setting("IBKR_PIPELINE_ORDER_TRACKING_S", "30", "seconds between order-tracking sensor runs")
LIVE_TRADING = Setting("IBKR_PIPELINE_LIVE_TRADING", "", "must be 1 for a strategy in mode live to send orders")
KILL_SWITCH = Setting("IBKR_PIPELINE_KILL_SWITCH", "", "any value stops every order (also a file and a table)")
GIT_SHA = Setting("IBKR_PIPELINE_GIT_SHA", "", "the code's commit, where the tree is not a git checkout")

ALL: tuple[Setting, ...] = tuple(v for v in globals().values() if isinstance(v, Setting))
