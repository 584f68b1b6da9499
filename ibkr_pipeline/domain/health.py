"""Health of the parts a tick needs, as plain records the health sensor reports and alerts on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["ok", "down", "unresponsive", "offline", "engaged"]


@dataclass(frozen=True)
class ComponentHealth:
    component: str
    status: Status
    detail: str
    latency_ms: float | None = None

    @property
    def healthy(self) -> bool:
        # offline = the embedded default, by choice; an engaged kill switch is a trader's decision, not a fault
        return self.status in ("ok", "offline", "engaged")


def changes(previous: dict[str, str], current: list[ComponentHealth]) -> list[ComponentHealth]:
    """Components whose status differs from the last evaluation (first sighting counts only if unhealthy)."""
    return [c for c in current if previous.get(c.component, "ok" if not c.healthy else c.status) != c.status]
