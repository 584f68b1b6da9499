"""LLM answers kept in the project database by a hash of the question: a re-run or a backtest pays once."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ibkr_pipeline.database.models import LLMCacheRow
from ibkr_pipeline.llm.client import CachedAnswer


class AnswerCache:
    def __init__(self, engine: Engine):
        self.engine = engine

    def get(self, key: str) -> CachedAnswer | None:
        with Session(self.engine) as session:
            row = session.get(LLMCacheRow, key)
            return None if row is None else CachedAnswer(row.response_text, row.prompt_tokens, row.completion_tokens)

    def put(self, key: str, model: str, text: str, prompt_tokens: int, completion_tokens: int) -> None:
        with Session(self.engine) as session, session.begin():
            session.merge(
                LLMCacheRow(
                    key=key,
                    model=model,
                    response_text=text,
                    prompt_tokens=prompt_tokens,
                    completion_tokens=completion_tokens,
                    created_at=datetime.now(UTC),
                )
            )
