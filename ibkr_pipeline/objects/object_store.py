"""Byte storage for charts and bar files: a local directory or an S3-compatible bucket (MinIO)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Protocol

from minio import Minio
from minio.error import S3Error


@dataclass(frozen=True)
class StoredObject:
    key: str
    uri: str  # s3://bucket/key or file:///abs/path
    path: str | None = None  # local file path when the store is a directory


class ObjectStore(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> StoredObject: ...
    def get(self, key: str) -> bytes | None: ...
    def link(self, key: str) -> str: ...


class LocalObjectStore:
    def __init__(self, root: Path):
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise ValueError(f"object key {key!r} escapes the store directory")
        return path

    def put(self, key: str, data: bytes, content_type: str) -> StoredObject:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)  # readers never see half a file
        return StoredObject(key, path.as_uri(), str(path))

    def get(self, key: str) -> bytes | None:
        path = self._path(key)
        return path.read_bytes() if path.exists() else None

    def link(self, key: str) -> str:
        return self._path(key).as_uri()


class S3ObjectStore:
    """Any S3-compatible endpoint through the minio SDK (MinIO in production, moto in tests)."""

    def __init__(self, endpoint: str, bucket: str, access_key: str, secret_key: str, secure: bool, region: str):
        self.client = Minio(endpoint, access_key=access_key, secret_key=secret_key, secure=secure, region=region)
        self.bucket = bucket
        self._bucket_ready = False

    def _ensure_bucket(self) -> None:
        if not self._bucket_ready:
            if not self.client.bucket_exists(self.bucket):
                self.client.make_bucket(self.bucket)
            self._bucket_ready = True

    def put(self, key: str, data: bytes, content_type: str) -> StoredObject:
        self._ensure_bucket()
        self.client.put_object(self.bucket, key, io.BytesIO(data), len(data), content_type=content_type)
        return StoredObject(key, f"s3://{self.bucket}/{key}")

    def get(self, key: str) -> bytes | None:
        self._ensure_bucket()
        try:
            response = self.client.get_object(self.bucket, key)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject"):
                return None
            raise
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    def link(self, key: str) -> str:
        return self.client.presigned_get_object(self.bucket, key, expires=timedelta(days=7))
