"""Per-symbol results of one step: what succeeded and, separately, what failed and why."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SymbolResults[T]:
    values: dict[str, T] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # symbol -> "step: message"

    def carry_errors(self) -> dict[str, str]:
        """Errors to pass on, so later steps keep saying which symbols dropped out and where."""
        return dict(self.errors)
