"""CBOR (RFC 8949) as Smithy's rpc-v2-cbor protocol uses it: the subset botocore reads and writes.

Encodes None, bool, int, float, str, bytes, lists, dicts and ``datetime`` (tag 1, epoch
seconds), and decodes everything botocore's serializer can send, indefinite lengths and half
floats included. Kept here rather than taken from a library so the server needs nothing beyond
the standard library and botocore.
"""

from __future__ import annotations

import math
import struct
from datetime import UTC, datetime
from typing import Any

_BREAK = 0xFF


class CBORDecodeError(ValueError):
    """The body is not well-formed CBOR."""


def _head(major: int, value: int) -> bytes:
    if value < 24:
        return bytes([(major << 5) | value])
    if value < 0x100:
        return bytes([(major << 5) | 24, value])
    if value < 0x10000:
        return bytes([(major << 5) | 25]) + value.to_bytes(2, "big")
    if value < 0x100000000:
        return bytes([(major << 5) | 26]) + value.to_bytes(4, "big")
    return bytes([(major << 5) | 27]) + value.to_bytes(8, "big")


def encode(value: Any) -> bytes:
    """One CBOR data item for ``value``."""
    out = bytearray()
    _encode(value, out)
    return bytes(out)


def _encode(value: Any, out: bytearray) -> None:
    if value is None:
        out.append(0xF6)
    elif value is True:
        out.append(0xF5)
    elif value is False:
        out.append(0xF4)
    elif isinstance(value, int):
        if value >= 0:
            out += _head(0, value)
        else:
            out += _head(1, -1 - value)
    elif isinstance(value, float):
        if math.isnan(value):
            out += b"\xf9\x7e\x00"
        elif math.isinf(value):
            out += b"\xf9\x7c\x00" if value > 0 else b"\xf9\xfc\x00"
        else:
            out += b"\xfb" + struct.pack(">d", value)
    elif isinstance(value, str):
        raw = value.encode("utf-8")
        out += _head(3, len(raw)) + raw
    elif isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        out += _head(2, len(raw)) + raw
    elif isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        seconds = moment.timestamp()
        out += _head(6, 1)
        _encode(int(seconds) if seconds.is_integer() else seconds, out)
    elif isinstance(value, list | tuple):
        out += _head(4, len(value))
        for item in value:
            _encode(item, out)
    elif isinstance(value, dict):
        out += _head(5, len(value))
        for key, item in value.items():
            _encode(key, out)
            _encode(item, out)
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as CBOR")


def decode(data: bytes) -> Any:
    """The single data item in ``data``; trailing bytes are an error."""
    decoder = _Decoder(data)
    value = decoder.item()
    if decoder.pos != len(data):
        raise CBORDecodeError(f"{len(data) - decoder.pos} trailing bytes after the CBOR data item")
    return value


class _Decoder:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, count: int) -> bytes:
        end = self.pos + count
        if end > len(self.data):
            raise CBORDecodeError("CBOR data ends in the middle of an item")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def _argument(self, info: int) -> int | None:
        if info < 24:
            return info
        if info in (24, 25, 26, 27):
            return int.from_bytes(self._take(1 << (info - 24)), "big")
        if info == 31:
            return None  # indefinite length
        raise CBORDecodeError(f"reserved additional information {info}")

    def _peek_break(self) -> bool:
        if self.pos < len(self.data) and self.data[self.pos] == _BREAK:
            self.pos += 1
            return True
        return False

    def item(self) -> Any:
        initial = self._take(1)[0]
        major, info = initial >> 5, initial & 0x1F
        if major == 7:
            return self._simple(info)
        argument = self._argument(info)
        if major == 0:
            return self._definite(argument)
        if major == 1:
            return -1 - self._definite(argument)
        if major in (2, 3):
            raw = self._string(major, argument)
            if major == 2:
                return raw
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise CBORDecodeError(f"text string is not UTF-8: {error}") from None
        if major == 4:
            if argument is None:
                items = []
                while not self._peek_break():
                    items.append(self.item())
                return items
            return [self.item() for _ in range(argument)]
        if major == 5:
            result: dict[Any, Any] = {}
            if argument is None:
                while not self._peek_break():
                    key = self.item()
                    result[key] = self.item()
            else:
                for _ in range(argument):
                    key = self.item()
                    result[key] = self.item()
            return result
        # major == 6: a tag; tag 1 is an epoch timestamp, others pass their content through.
        tag = self._definite(argument)
        content = self.item()
        if tag == 1:
            if isinstance(content, bool) or not isinstance(content, int | float):
                raise CBORDecodeError("tag 1 (epoch time) must wrap a number")
            return datetime.fromtimestamp(content, UTC)
        return content

    @staticmethod
    def _definite(argument: int | None) -> int:
        if argument is None:
            raise CBORDecodeError("an integer or tag cannot have indefinite length")
        return argument

    def _string(self, major: int, argument: int | None) -> bytes:
        if argument is not None:
            return self._take(argument)
        chunks = []
        while not self._peek_break():
            initial = self._take(1)[0]
            if initial >> 5 != major:
                raise CBORDecodeError("a chunk of an indefinite string has the wrong major type")
            length = self._argument(initial & 0x1F)
            if length is None:
                raise CBORDecodeError("indefinite string chunks cannot nest")
            chunks.append(self._take(length))
        return b"".join(chunks)

    def _simple(self, info: int) -> Any:
        if info == 20:
            return False
        if info == 21:
            return True
        if info in (22, 23):
            return None
        if info == 25:
            return struct.unpack(">e", self._take(2))[0]
        if info == 26:
            return struct.unpack(">f", self._take(4))[0]
        if info == 27:
            return struct.unpack(">d", self._take(8))[0]
        if info == 24:
            self._take(1)
            return None
        raise CBORDecodeError(f"unsupported simple value {info}")
