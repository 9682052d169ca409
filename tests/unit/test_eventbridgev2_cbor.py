"""The server's CBOR codec against botocore's own rpc-v2-cbor serializer and parser."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

botocore = pytest.importorskip("botocore")

from botocore.parsers import RpcV2CBORParser  # noqa: E402
from botocore.serialize import RpcV2CBORSerializer  # noqa: E402

from eventlab.eventbridgev2 import cbor  # noqa: E402
from eventlab.eventbridgev2.model import ModelUnavailableError, load_service_model  # noqa: E402


@pytest.fixture(scope="module")
def model():
    try:
        return load_service_model()
    except ModelUnavailableError as error:
        pytest.skip(str(error))


@pytest.mark.parametrize(
    "value",
    [None, True, False, 0, 23, 24, 255, 256, 65535, 65536, 2**32, 2**63, -1, -24, -25, -(2**40),
     1.5, -0.0, "", "héllo ✓", b"\x00\xff", [], [1, [2, "x"]], {}, {"a": {"b": [None, 1.25]}}],
)
def test_values_round_trip(value) -> None:
    assert cbor.decode(cbor.encode(value)) == value


def test_special_floats_round_trip() -> None:
    assert math.isnan(cbor.decode(cbor.encode(math.nan)))
    assert cbor.decode(cbor.encode(math.inf)) == math.inf
    assert cbor.decode(cbor.encode(-math.inf)) == -math.inf


def test_datetimes_are_tag_1_epoch_seconds() -> None:
    moment = datetime(2026, 9, 30, 12, 0, 0, 250000, tzinfo=UTC)
    encoded = cbor.encode(moment)
    assert encoded[0] == 0xC1  # major type 6, tag 1
    assert cbor.decode(encoded) == moment
    assert cbor.encode(datetime(2026, 1, 1, tzinfo=UTC))[1] == 0x1A  # whole seconds: an integer


def test_naive_datetimes_are_utc_and_fractions_are_doubles() -> None:
    assert cbor.encode(datetime(2026, 1, 1)) == cbor.encode(datetime(2026, 1, 1, tzinfo=UTC))
    encoded = cbor.encode(datetime(2026, 1, 1, 0, 0, 0, 500000, tzinfo=UTC))
    assert encoded[:2] == b"\xc1\xfb"  # tag 1 around a double


def test_blobs_are_byte_strings_and_floats_doubles() -> None:
    assert cbor.encode(b"ab") == b"\x42ab"
    assert cbor.encode(1.5)[0] == 0xFB
    assert cbor.decode(bytes([0xFA, 0x3F, 0xC0, 0x00, 0x00])) == 1.5  # single floats are read too


def test_indefinite_lengths_and_half_floats_decode() -> None:
    # {_ "a": [_ 1, 2], "s": (_ "ab" "c")}, and a half-precision 1.5
    data = bytes([0xBF, 0x61, 0x61, 0x9F, 0x01, 0x02, 0xFF, 0x61, 0x73, 0x7F, 0x62, 0x61, 0x62, 0x61, 0x63, 0xFF, 0xFF])
    assert cbor.decode(data) == {"a": [1, 2], "s": "abc"}
    assert cbor.decode(bytes([0xF9, 0x3E, 0x00])) == 1.5


@pytest.mark.parametrize("data", [b"\x62a", b"\xa1\x61a", b"\x01\x02", b"\x1c", b"\x7f\x01\xff", b"\xc1\x61a"])
def test_malformed_input_is_refused(data: bytes) -> None:
    with pytest.raises(cbor.CBORDecodeError):
        cbor.decode(data)


def test_decodes_what_botocore_serializes(model) -> None:
    operation = model.operation_model("PutRawEvents")
    request = RpcV2CBORSerializer().serialize_to_request(
        {
            "EventBusArn": "arn:aws:events:us-east-1:000000000000:event-busv2/b/abcdefghijklmnopqrstuvwxy",
            "Entries": [{"Data": b"{\"a\":1}", "Metadata": {"tenant": "acme"},
                         "SystemMetadata": {"ContentType": "application/json", "EventGroupId": "g"}}],
        },
        operation,
    )
    assert request["url_path"] == "/service/AWSEventsV2/operation/PutRawEvents"
    assert request["headers"]["smithy-protocol"] == "rpc-v2-cbor"
    decoded = cbor.decode(request["body"])
    assert decoded["Entries"][0]["Data"] == b"{\"a\":1}"
    assert decoded["Entries"][0]["SystemMetadata"]["EventGroupId"] == "g"


def test_botocore_parses_what_the_codec_encodes(model) -> None:
    operation = model.operation_model("DescribeEventBus")
    created = datetime(2026, 10, 1, 8, 30, 15, 500000, tzinfo=UTC)
    body = cbor.encode({"Name": "orders", "State": "ACTIVE", "CreationTime": created,
                        "StorageConfiguration": {"RetentionPeriodInDays": 7, "RetentionWindowStartTime": created}})
    parsed = RpcV2CBORParser().parse({"status_code": 200, "headers": {}, "body": body}, operation.output_shape)
    assert parsed["Name"] == "orders"
    assert parsed["CreationTime"].timestamp() == created.timestamp()
    assert parsed["StorageConfiguration"]["RetentionPeriodInDays"] == 7


def test_botocore_reads_the_error_shape(model) -> None:
    operation = model.operation_model("DescribeEventBus")
    body = cbor.encode({"__type": "ResourceNotFoundException", "Message": "no such bus"})
    parsed = RpcV2CBORParser().parse({"status_code": 404, "headers": {}, "body": body}, operation.output_shape)
    assert parsed["Error"] == {"Code": "ResourceNotFoundException", "Message": "no such bus"}
