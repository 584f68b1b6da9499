"""A local HTTP server that speaks the OpenAI chat-completions API, for driving the real openai client."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict -> JSON; str -> sent as is
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


def completion(
    content: str | None, prompt_tokens: int = 1200, completion_tokens: int = 180, refusal: str | None = None
) -> dict:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "test-model",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": content, "refusal": refusal},
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def user_text(body: dict) -> str:
    content = body["messages"][1]["content"]
    return content if isinstance(content, str) else " ".join(p["text"] for p in content if p["type"] == "text")


def sensible_analysis(body: dict, action: str = "BUY") -> dict:
    """A valid answer built from the prompt's own numbers: entry at the last close, levels in range."""
    text = user_text(body)
    closes = re.findall(r"^\d{4}-\d{2}-\d{2}\s+\S+\s+\S+\s+\S+\s+(\S+)", text, re.M)
    low, high = map(float, re.search(r"provided: (\d+\.\d+) to (\d+\.\d+)", text).groups())
    close = float(closes[-1])
    sign = 1 if action == "BUY" else -1
    return {
        "trend": {"daily": "up", "weekly": "up"},
        "action": action,
        "confidence": 0.8,
        "entry": round(close, 2),
        "stop_loss": round(close * (1 - sign * 0.02), 2),
        "take_profit": round(close * (1 + sign * 0.04), 2),
        "horizon": "2 weeks",
        "key_levels": {"support": [round(low * 1.01, 2)], "resistance": [round(high * 0.99, 2)]},
        "rationale": "Higher highs and higher lows above a rising average; momentum confirms.",
    }


class FakeOpenAI:
    def __init__(self, responder: Callable[[dict, int], Reply] | None = None):
        self.responder = responder or (lambda body, n: Reply(body=completion(json.dumps(sensible_analysis(body)))))
        self.requests: list[dict] = []
        self.headers: list[dict[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.models_status = 200
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - GET /v1/models, what health checks ask
                if not self.path.endswith("/models"):
                    self.send_error(404)
                    return
                data = json.dumps({"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]}).encode()
                self.send_response(server.models_status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802
                if not self.path.endswith("/chat/completions"):
                    self.send_error(404)
                    return
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server._lock:
                    server.requests.append(body)
                    server.headers.append({k.lower(): v for k, v in self.headers.items()})
                    n = len(server.requests)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                answered = False
                try:
                    reply = server.responder(body, n)
                    if reply.delay_s:
                        time.sleep(reply.delay_s)
                    payload = reply.body if isinstance(reply.body, str) else json.dumps(reply.body or {})
                    data = payload.encode()
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    # No longer in flight before the body goes out: the client, once it has the body, may send its
                    # next request before this thread would otherwise get to count this one done.
                    with server._lock:
                        server.in_flight -= 1
                        answered = True
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    if not answered:
                        with server._lock:
                            server.in_flight -= 1

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
