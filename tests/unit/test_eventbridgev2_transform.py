"""Transformers, target-parameter expressions and filter scopes of the Custom Event Bus."""

from __future__ import annotations

import base64

import pytest

from eventlab.eventbridgev2 import transform
from eventlab.eventbridgev2.errors import ServiceError
from eventlab.eventbridgev2.filters import check_filter_configuration, event_matches

VIEW = {
    "Data": {"orderId": "12345", "total": 600, "items": [1, 2], "detail-type": "X"},
    "Metadata": {"tenant": "acme"},
    "SystemMetadata": {"ContentType": "application/json", "aws:EventId": "e-1", "EventGroupId": "g"},
}


@pytest.fixture(params=["jsonata", "paths only"])
def evaluator(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "jsonata":
        pytest.importorskip("jsonata")
    else:
        monkeypatch.setattr(transform, "_jsonata", None)
    return str(request.param)


def test_literals_and_paths(evaluator: str) -> None:
    assert transform.render("literal", VIEW) == "literal"
    assert transform.render("{% $events.Data.orderId %}", VIEW) == "12345"
    assert transform.render("{% $events.SystemMetadata.`aws:EventId` %}", VIEW) == "e-1"
    assert transform.render("{% $events.Data.`detail-type` %}", VIEW) == "X"
    assert transform.render("{% $events.Data.total %}", VIEW) == "600"
    assert transform.render("{% $events.Data.items %}", VIEW) == "[1,2]"
    assert transform.render("{% $events.Data.missing %}", VIEW) is None
    assert transform.render("{%$events.Metadata.tenant%}", VIEW) == "acme"
    assert transform.render("not {% $events.Data.orderId %} whole", VIEW) == "not {% $events.Data.orderId %} whole"


def test_expression_checks(evaluator: str) -> None:
    assert transform.check_expression("{% $events.Data.orderId %}", "where") is None
    assert transform.check_expression("plain text", "where") is None
    problem = transform.check_expression('{% $events.Data.a & "-" & $events.Data.b %}', "Member")
    if evaluator == "jsonata":
        assert problem is None
        assert transform.check_expression("{% $events.( %}", "Member").startswith("Member: the JSONata expression does not parse")
    else:
        assert problem is not None and "install jsonata-python" in problem


def test_transformers(evaluator: str) -> None:
    assert transform.transformed(None, VIEW) == VIEW["Data"]
    assert transform.transformed({"Type": "RAW"}, VIEW) == VIEW["Data"]
    assert transform.transformed({"Type": "WITH_METADATA"}, VIEW) == VIEW
    jsonata = {"Type": "JSONATA", "JsonataConfiguration": {"Expression": "{% $events.Data.orderId %}"}}
    assert transform.transformed(jsonata, VIEW) == "12345"
    nothing = {"Type": "JSONATA", "JsonataConfiguration": {"Expression": "{% $events.Data.nope %}"}}
    with pytest.raises(transform.TransformError, match="produced nothing"):
        transform.transformed(nothing, VIEW)


def test_jsonata_objects() -> None:
    pytest.importorskip("jsonata")
    expression = '{% {"order": $events.Data.orderId, "big": $events.Data.total > 500} %}'
    assert transform.transformed({"Type": "JSONATA", "JsonataConfiguration": {"Expression": expression}}, VIEW) == {
        "order": "12345", "big": True}


def test_the_events_view() -> None:
    view = transform.events_view("application/octet-stream", b"\x00\xff", None, {"ContentType": "application/octet-stream"})
    assert view["Data"] == base64.b64encode(b"\x00\xff").decode()
    assert view["Metadata"] == {}
    assert transform.events_view("application/json", b'[1, "a"]', {"k": "v"}, {})["Data"] == [1, "a"]


def test_filter_configuration_rules() -> None:
    assert check_filter_configuration({}, on_create=False) is None  # an update's {} clears the filter
    with pytest.raises(ServiceError, match="Filters is required"):
        check_filter_configuration({"Language": "EVENT_BRIDGE_PATTERN"}, on_create=False)
    parsed = check_filter_configuration({"Filters": [{"Scope": "METADATA", "Pattern": '{"tenant": ["acme", "beta"]}'}]},
                                        on_create=True)
    assert parsed == [{"Scope": "METADATA", "Pattern": {"tenant": ["acme", "beta"]}}]
    for pattern in ('{"$or": [{"a": ["1"]}, {"b": ["2"]}]}', '{"tenant": [{"exists": true}]}', '{"n": [1]}'):
        with pytest.raises(ServiceError, match="METADATA"):
            check_filter_configuration({"Filters": [{"Scope": "METADATA", "Pattern": pattern}]}, on_create=True)
    with pytest.raises(ServiceError, match="wildcard"):
        check_filter_configuration({"Filters": [{"Scope": "SYSTEM_METADATA",
                                                 "Pattern": '{"a": [{"anything-but": {"wildcard": "x*"}}]}'}]}, on_create=True)


def test_filter_scopes() -> None:
    filters = check_filter_configuration({"Filters": [
        {"Scope": "DATA", "Pattern": '{"orderId": [{"prefix": "12"}]}'},
        {"Scope": "SYSTEM_METADATA", "Pattern": '{"EventGroupId": ["g"]}'}]}, on_create=True)
    assert event_matches(filters, data=VIEW["Data"], has_data=True, metadata=None, system_metadata=VIEW["SystemMetadata"])
    assert not event_matches(filters, data=VIEW["Data"], has_data=True, metadata=None,
                             system_metadata={**VIEW["SystemMetadata"], "EventGroupId": "h"})  # ANDed
    assert not event_matches(filters, data=None, has_data=False, metadata=None, system_metadata=VIEW["SystemMetadata"])
    metadata = check_filter_configuration({"Filters": [{"Scope": "METADATA", "Pattern": '{"tenant": ["acme"]}'}]}, on_create=True)
    assert event_matches(metadata, data=None, has_data=False, metadata={"tenant": "acme"}, system_metadata={})
    assert not event_matches(metadata, data={"tenant": "acme"}, has_data=True, metadata=None, system_metadata={})
    assert event_matches(None, data=None, has_data=False, metadata=None, system_metadata={})
