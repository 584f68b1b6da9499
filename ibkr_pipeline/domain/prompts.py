"""Prompts as Jinja2 templates: ``prompts/<name>/system.j2`` and ``prompts/<name>/user.j2``."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound

from ibkr_pipeline import bundled

DEFAULT_PROMPTS_DIR = bundled.PROMPTS


@dataclass(frozen=True)
class RenderedPrompt:
    name: str
    system: str
    user: str
    template_hash: str = ""  # sha256 of the two templates' text: which version of the prompt asked


class PromptError(ValueError):
    pass


@lru_cache(maxsize=8)
def _environment(directory: Path) -> Environment:
    """One environment per directory: Jinja caches compiled templates there (and reloads edited files)."""
    return Environment(
        loader=FileSystemLoader(str(directory)),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def render_prompt(name: str, variables: dict[str, Any], directory: Path = DEFAULT_PROMPTS_DIR) -> RenderedPrompt:
    env = _environment(Path(directory))
    try:
        system = env.get_template(f"{name}/system.j2").render(**variables)
        user = env.get_template(f"{name}/user.j2").render(**variables)
    except TemplateNotFound as exc:
        raise PromptError(f"prompt {name!r} not found in {directory} (missing {exc.name})") from exc
    sources = [env.loader.get_source(env, f"{name}/{part}.j2")[0] for part in ("system", "user")]  # type: ignore[union-attr]
    digest = hashlib.sha256("\0".join(sources).encode()).hexdigest()[:16]
    return RenderedPrompt(name, system.strip(), user.strip(), digest)


def bars_table(rows: list[dict[str, Any]]) -> str:
    """A compact fixed-width table of recent bars for the prompt."""
    lines = ["date        open     high     low      close    volume"]
    for r in rows:
        lines.append(
            f"{r['date']:<11} {r['open']:<8.2f} {r['high']:<8.2f} {r['low']:<8.2f} {r['close']:<8.2f} {r['volume']:.0f}"
        )
    return "\n".join(lines)
