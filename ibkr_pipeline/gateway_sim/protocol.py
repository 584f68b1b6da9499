"""TWS socket protocol codec: framing and field encoding at one server version.

The wire format is a 4-byte big-endian length followed by NUL-terminated text
fields. Everything here is pure and synchronous so it can be unit-tested
against ib_async's own decoder.
"""

from __future__ import annotations

import asyncio
import builtins
import math
import numbers
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

SERVER_VERSION = 178
MIN_CLIENT_VERSION = 157
HANDSHAKE_PREFIX = b"API\0"

Field = str | int | float | bool | None


class ProtocolError(Exception):
    """The peer sent bytes that are not a valid TWS API message."""


def encode_field(value: Field) -> str:
    """Format one value the way TWS does: empty for unset, 0/1 for booleans."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isnan(number):
            return ""
        if math.isinf(number):
            return "Infinite"
        return repr(round(number, 8))
    return str(value)


def frame(fields: Iterable[Field]) -> bytes:
    """Encode fields into one length-prefixed message."""
    payload = b"".join(encode_field(f).encode() + b"\0" for f in fields)
    return struct.pack(">I", len(payload)) + payload


def split_fields(payload: bytes) -> list[str]:
    """Decode a message body into its text fields (the trailing NUL is dropped)."""
    text = payload.decode(errors="replace")
    parts = text.split("\0")
    if parts and parts[-1] == "":
        parts.pop()
    return parts


async def read_message(reader: asyncio.StreamReader) -> list[str]:
    header = await reader.readexactly(4)
    (size,) = struct.unpack(">I", header)
    if size > 16 * 1024 * 1024:
        raise ProtocolError(f"message of {size} bytes is larger than any TWS message")
    return split_fields(await reader.readexactly(size))


@dataclass(frozen=True)
class ClientHello:
    min_version: int
    max_version: int
    options: str


async def read_handshake(reader: asyncio.StreamReader) -> ClientHello:
    """Read ``API\\0`` and the framed ``vMIN..MAX [options]`` version range."""
    prefix = await reader.readexactly(len(HANDSHAKE_PREFIX))
    if prefix != HANDSHAKE_PREFIX:
        raise ProtocolError(f"expected API handshake prefix, got {prefix!r}")
    (fields,) = [await read_message(reader)]
    text = fields[0] if fields else ""
    if not text.startswith("v"):
        raise ProtocolError(f"expected a version range like 'v157..178', got {text!r}")
    versions, _, options = text[1:].partition(" ")
    low, _, high = versions.partition("..")
    try:
        return ClientHello(int(low), int(high or low), options.strip())
    except ValueError as exc:
        raise ProtocolError(f"malformed version range {text!r}") from exc


class FieldReader:
    """Sequential reader over a decoded message's fields with typed getters."""

    def __init__(self, fields: Sequence[str], start: int = 0):
        self._fields = fields
        self._pos = start

    def str(self) -> str:
        if self._pos >= len(self._fields):
            raise ProtocolError(f"message ended after {self._pos} fields")
        value = self._fields[self._pos]
        self._pos += 1
        return value

    def int(self, default: int = 0) -> int:
        text = self.str()
        return int(text) if text else default

    def float(self, default: float = 0.0) -> float:
        text = self.str()
        if not text:
            return default
        return math.inf if text == "Infinite" else float(text)

    def bool(self) -> bool:
        text = self.str()
        return bool(int(text)) if text else False

    def skip(self, n: builtins.int = 1) -> None:
        self._pos += n

    @property
    def remaining(self) -> builtins.int:
        return len(self._fields) - self._pos
