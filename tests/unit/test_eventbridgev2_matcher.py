"""EventBridge pattern matching: each operator, arrays, null and empty values, as AWS documents them.

Cases come from the EventBridge user guide ("Event patterns", "Comparison operators", "Arrays",
"Null values and empty strings") and Event Ruler's README; every pattern here is one that
``validate_event_pattern`` accepts, so the matcher is only asked about valid patterns.
"""

from __future__ import annotations

import pytest

from eventlab.eventbridgev2.matcher import matches
from eventlab.topology.filters import validate_event_pattern

# Event Ruler's README example event.
EC2 = {
    "version": "0",
    "id": "ddddd4-aaaa-7777-4444-345dd43cc333",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "012345679012",
    "time": "2017-10-02T16:24:49Z",
    "region": "us-east-1",
    "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000"],
    "detail": {
        "c-count": 5,
        "d-count": 3,
        "x-limit": 301.8,
        "source-ip": "10.0.0.33",
        "instance-id": "i-000000aaaaaa00000",
        "state": "running",
    },
}


def check(pattern: dict, event: dict, expected: bool) -> None:
    validate_event_pattern(pattern)
    assert matches(pattern, event) is expected, (pattern, event)


CASES = [
    # exact values, AND across fields, OR within a field
    ("simple match", {"detail-type": ["EC2 Instance State-change Notification"],
                      "detail": {"state": ["initializing", "running"]}}, EC2, True),
    ("one field differs", {"source": ["aws.ec2"], "detail": {"state": ["stopped"]}}, EC2, False),
    ("field absent", {"detail": {"nope": ["x"]}}, EC2, False),
    ("string is not a number", {"detail": {"c-count": ["5"]}}, EC2, False),
    ("number is not a string", {"detail": {"state": [5]}}, {"detail": {"state": "5"}}, False),
    ("numbers compare by value", {"detail": {"x-limit": [3.018e2]}}, EC2, True),
    ("int matches float", {"n": [300]}, {"n": 300.0}, True),
    ("boolean", {"ok": [True]}, {"ok": True}, True),
    ("boolean is not a string", {"ok": [True]}, {"ok": "true"}, False),
    ("boolean is not one", {"ok": [True]}, {"ok": 1}, False),
    ("nested object pattern on a scalar", {"detail": {"state": {"x": ["y"]}}}, EC2, False),
    # null and empty
    ("null matches null", {"UserID": [None]}, {"UserID": None}, True),
    ("null does not match absence", {"UserID": [None]}, {}, False),
    ("null does not match empty string", {"UserID": [None]}, {"UserID": ""}, False),
    ("empty string matches empty string", {"LastName": [""]}, {"LastName": ""}, True),
    ("empty string does not match null", {"LastName": [""]}, {"LastName": None}, False),
    # prefix / suffix / equals-ignore-case
    ("prefix", {"time": [{"prefix": "2017-10-02"}]}, EC2, True),
    ("prefix miss", {"time": [{"prefix": "2018"}]}, EC2, False),
    ("prefix only on strings", {"n": [{"prefix": "3"}]}, {"n": 300}, False),
    ("prefix ignore case", {"service": [{"prefix": {"equals-ignore-case": "eventb"}}]}, {"service": "EventBridge"}, True),
    ("suffix", {"FileName": [{"suffix": ".png"}]}, {"FileName": "image.png"}, True),
    ("suffix is case sensitive", {"FileName": [{"suffix": ".png"}]}, {"FileName": "image.PNG"}, False),
    ("suffix ignore case", {"service": [{"suffix": {"equals-ignore-case": "tbridge"}}]}, {"service": "EventBRIDGE"}, True),
    ("equals-ignore-case", {"Name": [{"equals-ignore-case": "alice"}]}, {"Name": "ALICE"}, True),
    ("equals-ignore-case is whole value", {"Name": [{"equals-ignore-case": "alice"}]}, {"Name": "Alicia"}, False),
    # wildcard (classic rules; subscriber filters refuse it separately)
    ("wildcard", {"source": [{"wildcard": "Simple*Service"}]}, {"source": "SimpleQueueService"}, True),
    ("wildcard empty run", {"source": [{"wildcard": "Simple*Service"}]}, {"source": "SimpleService"}, True),
    ("wildcard anchored", {"source": [{"wildcard": "Simple*Service"}]}, {"source": "ASimpleQService"}, False),
    ("wildcard escaped star", {"s": [{"wildcard": "a\\*b"}]}, {"s": "a*b"}, True),
    ("wildcard escaped star is literal", {"s": [{"wildcard": "a\\*b"}]}, {"s": "axb"}, False),
    ("wildcard path", {"FilePath": [{"wildcard": "dir/*.png"}]}, {"FilePath": "dir/a/b.png"}, True),
    # anything-but
    ("anything-but string", {"detail": {"state": [{"anything-but": "initializing"}]}}, EC2, True),
    ("anything-but string excluded", {"detail": {"state": [{"anything-but": "running"}]}}, EC2, False),
    ("anything-but list", {"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}}, EC2, True),
    ("anything-but number", {"detail": {"x-limit": [{"anything-but": 123}]}}, EC2, True),
    ("anything-but numbers excluded", {"detail": {"c-count": [{"anything-but": [5, 6]}]}}, EC2, False),
    ("anything-but matches other types", {"v": [{"anything-but": "x"}]}, {"v": 5}, True),
    ("anything-but matches null", {"v": [{"anything-but": "x"}]}, {"v": None}, True),
    ("anything-but needs the field", {"v": [{"anything-but": "x"}]}, {}, False),
    ("anything-but prefix", {"detail": {"state": [{"anything-but": {"prefix": "init"}}]}}, EC2, True),
    ("anything-but prefix excluded", {"Region": [{"anything-but": {"prefix": "us-"}}]}, {"Region": "us-east-1"}, False),
    ("anything-but suffix", {"FileName": [{"anything-but": {"suffix": ".png"}}]}, {"FileName": "a.jpg"}, True),
    ("anything-but suffix excluded", {"FileName": [{"anything-but": {"suffix": ".png"}}]}, {"FileName": "a.png"}, False),
    ("anything-but ignore case", {"state": [{"anything-but": {"equals-ignore-case": "initializing"}}]}, {"state": "INITIALIZING"}, False),
    ("anything-but ignore case list", {"state": [{"anything-but": {"equals-ignore-case": ["a", "b"]}}]}, {"state": "C"}, True),
    ("anything-but wildcard", {"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}, {"FilePath": "/usr/lib/x"}, False),
    ("anything-but wildcard other", {"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}, {"FilePath": "/usr/bin/x"}, True),
    # numeric
    ("numeric range", {"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}]}}, EC2, True),
    ("numeric upper bound", {"detail": {"c-count": [{"numeric": [">", 0, "<", 5]}]}}, EC2, False),
    ("numeric less than", {"detail": {"d-count": [{"numeric": ["<", 10]}]}}, EC2, True),
    ("numeric equals", {"detail": {"x-limit": [{"numeric": ["=", 3.018e2]}]}}, EC2, True),
    ("numeric only on numbers", {"n": [{"numeric": [">", 0]}]}, {"n": "5"}, False),
    ("numeric not on booleans", {"n": [{"numeric": [">", 0]}]}, {"n": True}, False),
    ("numeric negative", {"n": [{"numeric": [">=", -10, "<", 0]}]}, {"n": -10}, True),
    # cidr
    ("cidr v4", {"detail": {"source-ip": [{"cidr": "10.0.0.0/24"}]}}, EC2, True),
    ("cidr v4 outside", {"detail": {"source-ip": [{"cidr": "10.0.1.0/24"}]}}, EC2, False),
    ("cidr v6", {"ip": [{"cidr": "2001:db8::/32"}]}, {"ip": "2001:db8::1"}, True),
    ("cidr not an address", {"ip": [{"cidr": "10.0.0.0/8"}]}, {"ip": "ten"}, False),
    ("ip exact value, other spelling", {"ip": ["2001:db8::1"]}, {"ip": "2001:0db8:0000:0000:0000:0000:0000:0001"}, True),
    # exists
    ("exists true", {"detail": {"c-count": [{"exists": True}]}}, EC2, True),
    ("exists false on present", {"detail": {"c-count": [{"exists": False}]}}, EC2, False),
    ("exists false on absent", {"detail": {"e-count": [{"exists": False}]}}, EC2, True),
    ("exists true on null", {"v": [{"exists": True}]}, {"v": None}, True),
    ("exists only on leaves: object is not a leaf", {"detail": {"c-count": [{"exists": False}]}},
     {"detail": {"c-count": {"c1": 100}}}, True),
    ("exists true on an object", {"detail": {"c-count": [{"exists": True}]}}, {"detail": {"c-count": {"c1": 1}}}, False),
    ("exists false under an absent parent", {"detail": {"x": [{"exists": False}]}}, {"source": "a"}, True),
    ("exists false on an empty array", {"tags": [{"exists": False}]}, {"tags": []}, True),
    ("exists true on an array of values", {"tags": [{"exists": True}]}, {"tags": ["a"]}, True),
    # arrays
    ("event array intersects", {"resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000"]}, EC2, True),
    ("event array any element", {"tags": ["b", "z"]}, {"tags": ["a", "b"]}, True),
    ("event array no element", {"tags": ["z"]}, {"tags": ["a", "b"]}, False),
    ("empty event array matches nothing", {"tags": ["a"]}, {"tags": []}, False),
    ("anything-but on an array: one other element", {"tags": [{"anything-but": "a"}]}, {"tags": ["a", "b"]}, True),
    ("anything-but on an array: all excluded", {"tags": [{"anything-but": "a"}]}, {"tags": ["a", "a"]}, False),
    ("nested arrays flatten", {"v": [3]}, {"v": [[1, 2], [3]]}, True),
    ("array of objects", {"employees": {"firstName": ["Anna"]}},
     {"employees": [{"firstName": "John"}, {"firstName": "Anna"}]}, True),
    ("array consistency: fields of one element", {"employees": {"firstName": ["Anna"], "lastName": ["Smith"]}},
     {"employees": [{"firstName": "Anna", "lastName": "Smith"}, {"firstName": "Peter", "lastName": "Jones"}]}, True),
    ("array consistency: fields of different elements", {"employees": {"firstName": ["Anna"], "lastName": ["Jones"]}},
     {"employees": [{"firstName": "Anna", "lastName": "Smith"}, {"firstName": "Peter", "lastName": "Jones"}]}, False),
    ("multi-level arrays", {"employees": {"firstName": ["Peter"]}},
     {"employees": [[{"firstName": "John"}], [{"firstName": "Peter"}]]}, True),
    # $or
    ("$or one branch", {"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization"]}, {"namespace": ["AWS/EC2"]}]},
     {"source": "aws.cloudwatch", "namespace": "AWS/EC2"}, True),
    ("$or no branch", {"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization"]}, {"namespace": ["AWS/EC2"]}]},
     {"source": "aws.cloudwatch", "namespace": "AWS/ES"}, False),
    ("$or and the other fields", {"source": ["aws.cloudwatch"], "$or": [{"metricName": ["A"]}, {"namespace": ["B"]}]},
     {"source": "aws.s3", "metricName": "A"}, False),
    ("$or with an AND inside", {"$or": [{"a": [1]}, {"b": [2], "c": [3]}]}, {"b": 2, "c": 3}, True),
    ("$or with an AND inside, half", {"$or": [{"a": [1]}, {"b": [2], "c": [3]}]}, {"b": 2, "c": 4}, False),
    ("nested $or", {"detail": {"$or": [{"source": ["x"]}, {"detail-type": ["y"]}]}}, {"detail": {"detail-type": "y"}}, True),
    ("several operators in one field", {"n": [{"numeric": ["<", 0]}, 7, {"prefix": "a"}]}, {"n": 7}, True),
]


@pytest.mark.parametrize(("pattern", "event", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_documented_cases(pattern: dict, event: dict, expected: bool) -> None:
    check(pattern, event, expected)


def test_ruler_complex_example() -> None:
    pattern = {
        "time": [{"prefix": "2017-10-02"}],
        "detail": {
            "state": [{"anything-but": "initializing"}],
            "c-count": [{"numeric": [">", 0, "<=", 5]}],
            "d-count": [{"numeric": ["<", 10]}],
            "x-limit": [{"anything-but": [100, 200, 300]}],
            "source-ip": [{"cidr": "10.0.0.0/8"}],
        },
    }
    check(pattern, EC2, True)
    check(pattern, {**EC2, "detail": {**EC2["detail"], "x-limit": 200}}, False)


def test_non_object_events() -> None:
    assert matches({"a": [1]}, [{"a": 1}, {"a": 2}])
    assert not matches({"a": [1]}, "text")
    assert matches({"a": [{"exists": False}]}, 42)
