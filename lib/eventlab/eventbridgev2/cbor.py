"""CBOR (RFC 8949) as Smithy's rpc-v2-cbor protocol uses it, by the ``cbor2`` library.

What the protocol needs and ``cbor2`` is set up for here: timestamps are tag 1 with epoch seconds
(an integer when whole, else a double; a naive ``datetime`` counts as UTC), blobs are byte
strings, floats are doubles (NaN and infinities as half floats, as botocore writes them), and
input may use indefinite lengths and half or single floats. A body is exactly one data item:
trailing bytes are refused, which ``cbor2.loads`` alone would ignore.
"""

from __future__ import annotations

import io
from datetime import UTC
from typing import Any

import cbor2


class CBORDecodeError(ValueError):
    """The body is not well-formed CBOR, or holds more than one data item."""


def encode(value: Any) -> bytes:
    """One CBOR data item for ``value`` (None, bool, int, float, str, bytes, list, dict, datetime)."""
    return cbor2.dumps(value, datetime_as_timestamp=True, timezone=UTC)


def decode(data: bytes) -> Any:
    """The single data item in ``data`` (tag 1 becomes an aware ``datetime``)."""
    stream = io.BytesIO(data)
    try:
        value = cbor2.CBORDecoder(stream).decode()
    except (cbor2.CBORDecodeError, EOFError, ValueError, TypeError, OverflowError) as error:
        raise CBORDecodeError(f"not well-formed CBOR: {error}") from None
    left = len(data) - stream.tell()
    if left:
        raise CBORDecodeError(f"{left} trailing bytes after the CBOR data item")
    return value
