"""Credentials never shown: URLs lose their passwords and secret query values before they are logged or displayed."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_SECRET_PARAM = re.compile(r"(key|token|secret|password|passwd|pwd|sig|signature|auth)", re.I)
MASK = "***"


def redact_url(url: str) -> str:
    """``postgresql://user:pw@db/x?sslkey=k`` → ``postgresql://user:***@db/x?sslkey=***``."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return MASK
    pairs = parse_qsl(parts.query, True)
    if parts.password is None and not any(_SECRET_PARAM.search(k) for k, _ in pairs):
        return url
    netloc = parts.netloc
    if parts.username is not None or parts.password is not None:
        user = parts.username or ""
        netloc = f"{user}:{MASK}@{host}{port}" if parts.password is not None else f"{user}@{host}{port}"
    query = urlencode([(k, MASK if _SECRET_PARAM.search(k) else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_secrets(text: str, secrets: list[str]) -> str:
    """``text`` with every secret value (four characters or more) replaced by ***."""
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text
