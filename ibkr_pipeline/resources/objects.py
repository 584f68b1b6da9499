"""ObjectStoreResource: charts, bar histories and backtests; one interface over a local directory or S3/MinIO."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
from pydantic import Field, PrivateAttr

from ibkr_pipeline.database.engine import data_dir
from ibkr_pipeline.domain.health import ComponentHealth
from ibkr_pipeline.objects import keys
from ibkr_pipeline.objects.object_store import LocalObjectStore, ObjectStore, S3ObjectStore, StoredObject


class ObjectStoreResource(dg.ConfigurableResource):
    """Leave ``endpoint`` empty for a local directory (the embedded default); set it for S3/MinIO."""

    local_dir: str = Field(default="", description="Directory for the local store; empty = <data dir>/objects")
    endpoint: str = Field(default="", description="S3/MinIO host:port; empty = local directory")
    bucket: str = "ibkr-pipeline"
    access_key: str = Field(default="", repr=False)
    secret_key: str = Field(default="", repr=False)
    secure: bool = True
    region: str = "us-east-1"
    _store: ObjectStore | None = PrivateAttr(default=None)

    def _backend(self) -> ObjectStore:
        if self._store is None:
            if self.endpoint:
                self._store = S3ObjectStore(
                    self.endpoint, self.bucket, self.access_key, self.secret_key, self.secure, self.region
                )
            else:
                self._store = LocalObjectStore(Path(self.local_dir) if self.local_dir else data_dir() / "objects")
        return self._store

    @property
    def kind(self) -> str:
        return "s3" if self.endpoint else "local"

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> StoredObject:
        return self._backend().put(key, data, content_type)

    def get(self, key: str) -> bytes | None:
        return self._backend().get(key)

    def probe(self) -> ComponentHealth:
        """Write a small object and read it back: proves reachability, credentials and the bucket."""
        started = time.perf_counter()
        stamp = datetime.now(UTC).isoformat().encode()
        where = f"s3://{self.bucket} at {self.endpoint}" if self.endpoint else "local directory"
        try:
            self.put(keys.PROBE, stamp, "text/plain")
            if self.get(keys.PROBE) != stamp:
                return ComponentHealth("object_store", "down", f"{where}: read back something else than was written")
        except Exception as exc:  # any client error is the answer here
            return ComponentHealth("object_store", "down", f"{where}: {type(exc).__name__}: {exc}")
        return ComponentHealth(
            "object_store", "ok", f"{where}: write and read back", round((time.perf_counter() - started) * 1000, 1)
        )

    def link(self, key: str) -> str:
        """A link a person can open: a file URI, or a presigned URL for S3."""
        return self._backend().link(key)
