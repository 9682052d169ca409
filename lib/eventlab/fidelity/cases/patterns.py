"""EventBridge event patterns: which AWS accepts, and what they match (notebook 03).

One table of patterns, each with AWS's verdict and the sentence of AWS's documentation it rests
on, gives two cases per pattern: ``events.offline-pattern.*`` asks eventlab's own validator
(:func:`eventlab.topology.filters.validate_event_pattern`, which must agree) and
``events.pattern-syntax.*`` asks the backend's ``TestEventPattern``, which validates the pattern
as ``PutRule`` does and needs no resource (a second or less per case). A second table of
pattern, event and outcome gives the ``events.pattern-match.*`` cases, also on
``TestEventPattern``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from eventlab.fidelity.model import Case, doc
from eventlab.run import Run
from eventlab.services import events
from eventlab.topology import PatternError
from eventlab.topology.filters import COMPARISON_OPERATORS, EVENT_PATTERNS, validate_event_pattern

CONTENT_FILTERING = "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-content-based-filtering.html"
NULL_VALUES = "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-null-values.html"
ARRAYS = "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-arrays.html"

ACCEPTED = "accepted"
REJECTED = "rejected with InvalidEventPatternException"
SOURCE = "eventlab.fidelity"


@dataclass(frozen=True)
class Syntax:
    """A pattern and AWS's verdict on it."""

    name: str
    behaviour: str
    pattern: Mapping[str, Any]
    valid: bool
    says: str
    url: str = COMPARISON_OPERATORS


def _d(**detail: Any) -> dict[str, Any]:
    """A pattern on ``detail`` only (with the source every case's event has)."""
    return {"source": [SOURCE], "detail": detail}


SYNTAX = [
    # -- values, arrays and objects ---------------------------------------------------------------
    Syntax("value-in-array", "pattern values are given in arrays", _d(kind=["order"]), True,
           "The values to match in an event pattern are written in JSON arrays.", EVENT_PATTERNS),
    Syntax("value-not-in-array", "a pattern value outside an array is refused", _d(kind="order"), False,
           "The values to match in an event pattern are written in JSON arrays; a bare value is not a pattern.", EVENT_PATTERNS),
    Syntax("empty-array", "an empty array of values is refused", _d(kind=[]), False,
           "Each field of a pattern lists one or more values in an array; EventBridge refuses an empty array.", EVENT_PATTERNS),
    Syntax("empty-object", "an empty object in a pattern is refused", {"source": [SOURCE], "detail": {}}, False,
           "Event patterns have the same structure as the events they match: an object must name the fields it matches.", EVENT_PATTERNS),
    Syntax("nested-array", "an array inside a value array is refused", _d(kind=[["a"]]), False,
           "A value array holds strings, numbers, booleans, null or comparison operators, not arrays.", EVENT_PATTERNS),
    Syntax("non-string-values", "numbers, booleans and null are match values", _d(n=[100, 2.5], b=[True], u=[None]), True,
           "Matches on numbers, booleans and null are exact; 'UserID is null' is written [null].", NULL_VALUES),
    Syntax("empty-string", "the empty string is a match value", _d(LastName=[""]), True,
           "Empty: 'LastName is empty' is written \"LastName\": [\"\"].", NULL_VALUES),
    Syntax("nested-objects", "nested objects match nested fields", _d(order={"customer": {"tier": ["gold"]}}), True,
           "Event patterns have the same structure as the events they match, nested fields included.", EVENT_PATTERNS),
    Syntax("object-in-array", "an object in a value array that is no operator is refused", _d(items=[{"sku": ["a"]}]), False,
           "Inside a value array an object is a comparison operator; a field of an array's objects is matched by a nested key instead.", ARRAYS),
    # -- prefix and suffix ----------------------------------------------------------------------------
    Syntax("prefix", "prefix on a string", {"time": [{"prefix": "2017-10-02"}]}, True,
           "Prefix matching: \"time\": [ { \"prefix\": \"2017-10-02\" } ] matches values starting with 2017-10-02."),
    Syntax("prefix-empty", "an empty prefix is a prefix (it matches every string)", _d(kind=[{"prefix": ""}]), True,
           "Prefix matching takes a string value; the empty string is a string, so every string value begins with it."),
    Syntax("prefix-ignore-case", "prefix with equals-ignore-case", _d(service=[{"prefix": {"equals-ignore-case": "eventb"}}]), True,
           "Begins with (ignore case): {\"prefix\": {\"equals-ignore-case\": \"eventb\"}}."),
    Syntax("prefix-number", "a prefix that is not a string is refused", _d(kind=[{"prefix": 12}]), False,
           "You can use prefix matching for string values: the prefix is a string."),
    Syntax("prefix-other-inner", "prefix takes only equals-ignore-case inside", _d(kind=[{"prefix": {"wildcard": "a*"}}]), False,
           "Prefix takes a string, or equals-ignore-case with a string to ignore case; nothing else."),
    Syntax("suffix", "suffix on a string", _d(FileName=[{"suffix": ".png"}]), True,
           "Suffix matching: \"FileName\": [ { \"suffix\": \".png\" } ]."),
    Syntax("suffix-ignore-case", "suffix with equals-ignore-case", _d(service=[{"suffix": {"equals-ignore-case": "tBridge"}}]), True,
           "Ends with (ignore case): {\"suffix\": {\"equals-ignore-case\": \"tBridge\"}}."),
    Syntax("suffix-list", "a suffix given as a list is refused", _d(kind=[{"suffix": [".png"]}]), False,
           "You can use suffix matching for string values: the suffix is one string, not a list."),
    Syntax("equals-ignore-case", "equals-ignore-case on a string", _d(Name=[{"equals-ignore-case": "alice"}]), True,
           "Equals (ignore case): \"Name\": [ { \"equals-ignore-case\": \"alice\" } ]."),
    Syntax("equals-ignore-case-number", "equals-ignore-case on a number is refused", _d(Name=[{"equals-ignore-case": 5}]), False,
           "Equals-ignore-case matching works on string values: its operand is a string."),
    # -- wildcard ----------------------------------------------------------------------------------
    Syntax("wildcard", "wildcard with one '*'", _d(FilePath=[{"wildcard": "dir/*.png"}]), True,
           "Wildcard: \"FilePath\": [ { \"wildcard\": \"dir/*.png\" } ]."),
    Syntax("wildcard-several", "wildcard with several separated '*'", _d(FilePath=[{"wildcard": "*/lib/*/bin/*.so"}]), True,
           "You can use any number of wildcard characters in a wildcard value; only consecutive ones are not supported."),
    Syntax("wildcard-six-stars", "six separated '*' in one wildcard", _d(FilePath=[{"wildcard": "*a*b*c*d*e*"}]), True,
           "You can use any number of wildcard characters in a wildcard value; only consecutive ones are not supported."),
    Syntax("wildcard-consecutive", "consecutive wildcard characters are refused", _d(FilePath=[{"wildcard": "dir/**.png"}]), False,
           "Consecutive wildcard characters are not supported."),
    Syntax("wildcard-escaped-star", "\\* is a literal star", _d(FilePath=[{"wildcard": "dir/\\*.png"}]), True,
           "Use the backslash to match the literal * and \\ characters: \\* represents a literal *."),
    Syntax("wildcard-escaped-backslash", "\\\\ is a literal backslash", _d(FilePath=[{"wildcard": "dir\\\\*"}]), True,
           "Use the backslash to match the literal * and \\ characters: \\\\ represents a literal \\."),
    Syntax("wildcard-bad-escape", "a backslash before another character is refused", _d(FilePath=[{"wildcard": "dir\\d*"}]), False,
           "Using the backslash to escape other characters than * and \\ is not supported."),
    Syntax("wildcard-number", "a wildcard that is not a string is refused", _d(FilePath=[{"wildcard": 7}]), False,
           "You can use the wildcard character to match string values: the wildcard value is a string."),
    # -- anything-but --------------------------------------------------------------------------------
    Syntax("anything-but-string", "anything-but a string", _d(state=[{"anything-but": "initializing"}]), True,
           "Anything-but: \"state\": [ { \"anything-but\": \"initializing\" } ]."),
    Syntax("anything-but-number", "anything-but a number", _d(x=[{"anything-but": 100}]), True,
           "Anything-but matching takes a string or numeric value, or a list of them."),
    Syntax("anything-but-strings", "anything-but a list of strings", _d(state=[{"anything-but": ["stopped", "overloaded"]}]), True,
           "Anything-but with a list: { \"anything-but\": [ \"stopped\", \"overloaded\" ] }."),
    Syntax("anything-but-numbers", "anything-but a list of numbers", _d(x=[{"anything-but": [100, 200, 300]}]), True,
           "Anything-but with a list of numbers: { \"anything-but\": [ 100, 200, 300 ] }."),
    Syntax("anything-but-mixed", "anything-but a list mixing strings and numbers is refused", _d(x=[{"anything-but": ["a", 1]}]), False,
           "An anything-but list holds strings or numbers; EventBridge refuses a list that mixes the two."),
    Syntax("anything-but-null", "anything-but null is refused", _d(x=[{"anything-but": None}]), False,
           "Anything-but takes a string or numeric value or a list of them; null is neither."),
    Syntax("anything-but-boolean-in-list", "anything-but a list holding a boolean is refused", _d(x=[{"anything-but": [True]}]), False,
           "An anything-but list holds strings or numbers; booleans and null are not supported inside it."),
    Syntax("anything-but-empty-list", "anything-but an empty list is refused", _d(x=[{"anything-but": []}]), False,
           "Anything-but with a list names the values to exclude; an empty list names none and is refused."),
    Syntax("anything-but-prefix", "anything-but prefix", _d(Region=[{"anything-but": {"prefix": "us-"}}]), True,
           "Anything-but (begins with): { \"anything-but\": {\"prefix\": \"us-\" } }."),
    Syntax("anything-but-prefix-empty", "anything-but an empty prefix is refused", _d(Region=[{"anything-but": {"prefix": ""}}]), False,
           "Anything-but prefix takes a non-empty string: an empty prefix would exclude every value."),
    Syntax("anything-but-suffix", "anything-but suffix", _d(FileName=[{"anything-but": {"suffix": ".png"}}]), True,
           "Anything-but (ends with): { \"anything-but\": { \"suffix\": \".png\" } }."),
    Syntax("anything-but-suffix-empty", "anything-but an empty suffix is refused", _d(FileName=[{"anything-but": {"suffix": ""}}]), False,
           "Anything-but suffix takes a non-empty string: an empty suffix would exclude every value."),
    Syntax("anything-but-ignore-case", "anything-but equals-ignore-case", _d(state=[{"anything-but": {"equals-ignore-case": "initializing"}}]), True,
           "Anything-but (ignore case): { \"anything-but\": { \"equals-ignore-case\": \"initializing\" } }."),
    Syntax("anything-but-ignore-case-list", "anything-but equals-ignore-case with a list", _d(state=[{"anything-but": {"equals-ignore-case": ["a", "b"]}}]), True,
           "Anything-but equals-ignore-case also takes a list of strings to exclude, regardless of case."),
    Syntax("anything-but-wildcard", "anything-but wildcard", _d(FilePath=[{"anything-but": {"wildcard": "*/lib/*"}}]), True,
           "Anything-but using a wildcard: { \"anything-but\": { \"wildcard\": \"*/lib/*\" } }."),
    Syntax("anything-but-wildcard-list", "anything-but wildcard with a list", _d(FilePath=[{"anything-but": {"wildcard": ["*/lib/*", "*/bin/*"]}}]), True,
           "Anything-but wildcard takes a list of wildcard values too, to exclude any of them."),
    Syntax("anything-but-wildcard-consecutive", "anything-but wildcard follows the wildcard rules", _d(FilePath=[{"anything-but": {"wildcard": "**"}}]), False,
           "Consecutive wildcard characters are not supported, inside anything-but as elsewhere."),
    Syntax("anything-but-exists", "anything-but takes no exists", _d(x=[{"anything-but": {"exists": True}}]), False,
           "Anything-but takes a value, a list, or prefix, suffix, equals-ignore-case or wildcard; nothing else."),
    # -- numeric -------------------------------------------------------------------------------------
    Syntax("numeric-equals", "numeric =", _d(price=[{"numeric": ["=", 100]}]), True,
           "Numeric (equals): \"Price\": [ { \"numeric\": [ \"=\", 100 ] } ]."),
    Syntax("numeric-range", "numeric range", _d(price=[{"numeric": [">", 10, "<=", 20]}]), True,
           "Numeric (range): \"Price\": [ { \"numeric\": [ \">\", 10, \"<=\", 20 ] } ]."),
    Syntax("numeric-one-sided", "numeric with one bound", _d(price=[{"numeric": [">=", -5.5]}]), True,
           "Numeric matching takes one comparison (<, <=, =, >, >=) and a number, or a range of two."),
    Syntax("numeric-string-operand", "a numeric bound given as a string is refused", _d(price=[{"numeric": [">", "10"]}]), False,
           "Numeric matching works with values that are JSON numbers: its bounds are numbers."),
    Syntax("numeric-unknown-operator", "an unknown numeric operator is refused", _d(price=[{"numeric": ["!=", 10]}]), False,
           "Numeric matching uses the operators <, <=, =, > and >=."),
    Syntax("numeric-bottom-above-top", "a range whose bottom is not below its top is refused", _d(price=[{"numeric": [">", 20, "<", 10]}]), False,
           "A numeric range goes from a lower bound to a higher one: [\">\", 10, \"<=\", 20]."),
    Syntax("numeric-reversed", "a range written top first is refused", _d(price=[{"numeric": ["<", 20, ">", 10]}]), False,
           "A numeric range starts with > or >= and the lower bound, then < or <= and the upper one."),
    Syntax("numeric-equals-range", "= cannot start a range", _d(price=[{"numeric": ["=", 5, "<", 10]}]), False,
           "Numeric equals takes one number; only > and >= start a range."),
    Syntax("numeric-missing-bound", "a numeric comparison without its number is refused", _d(price=[{"numeric": [">"]}]), False,
           "Each numeric comparison operator is followed by its number."),
    # -- exists, cidr ------------------------------------------------------------------------------
    Syntax("exists-true", "exists true", _d(ProductName=[{"exists": True}]), True,
           "Exists: \"ProductName\": [ { \"exists\": true } ]."),
    Syntax("exists-false", "exists false", _d(ProductName=[{"exists": False}]), True,
           "Does not exist: \"ProductName\": [ { \"exists\": false } ]."),
    Syntax("exists-string", "exists takes only true or false", _d(ProductName=[{"exists": "true"}]), False,
           "Exists matching takes the JSON booleans true or false."),
    Syntax("cidr-v4", "an IPv4 CIDR", _d(sourceIPAddress=[{"cidr": "10.0.0.0/24"}]), True,
           "IP address matching: \"sourceIPAddress\": [ { \"cidr\": \"10.0.0.0/24\" } ]."),
    Syntax("cidr-v6", "an IPv6 CIDR", _d(sourceIPAddress=[{"cidr": "2001:db8::/64"}]), True,
           "IP address matching works for IPv4 and IPv6 addresses in CIDR notation."),
    Syntax("cidr-malformed", "a CIDR that is no address/bits is refused", _d(sourceIPAddress=[{"cidr": "10.0.0.0"}]), False,
           "IP address matching takes an address range in CIDR notation: address/bits."),
    # -- operators in general, $or -----------------------------------------------------------------
    Syntax("unknown-operator", "an unknown operator is refused", _d(x=[{"regex": "a.*"}]), False,
           "The comparison operators are those the page lists; any other key in a value object is refused."),
    Syntax("two-operators-in-one-object", "an operator object holds one operator", _d(x=[{"prefix": "a", "suffix": "b"}]), False,
           "Each comparison is its own object in the value array: [{\"prefix\": \"a\"}, {\"suffix\": \"b\"}]."),
    Syntax("operators-in-one-array", "several operators in one array are OR-ed", _d(x=[{"prefix": "a"}, {"suffix": "b"}, "c"]), True,
           "The values of an array, operators included, are alternatives: the field matches any of them."),
    Syntax("or-top-level", "$or at the top level", {"$or": [{"source": [SOURCE]}, {"detail-type": ["Sample"]}]}, True,
           "Or (multiple fields): \"$or\": [ { \"Location\": [ \"New York\" ] }, { \"Day\": [ \"Monday\" ] } ]."),
    Syntax("or-nested", "$or inside detail", _d(**{"$or": [{"a": [1]}, {"b": [{"numeric": [">", 2]}]}]}), True,
           "Or can appear at any level of the pattern, each branch a pattern of its own."),
    Syntax("or-one-branch", "$or with one branch is refused", _d(**{"$or": [{"a": [1]}]}), False,
           "Or takes an array of at least two patterns."),
    Syntax("or-not-objects", "$or of values is refused", _d(**{"$or": ["a", "b"]}), False,
           "Or takes an array of patterns (objects), not of values."),
]


def offline_verdict(pattern: Mapping[str, Any]) -> str:
    """What eventlab's offline validator says of a pattern, in AWS's words for PutRule."""
    try:
        validate_event_pattern(pattern)
    except PatternError:
        return REJECTED
    return ACCEPTED


def _event() -> dict[str, Any]:
    return events.envelope({"kind": "order"}, source=SOURCE, detail_type="Sample")


def test_event_pattern(run: Run, pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """TestEventPattern on the backend (raises ClientError for a pattern it refuses)."""
    reply = run.target.client("events").test_event_pattern(EventPattern=json.dumps(pattern), Event=json.dumps(event))
    return bool(reply["Result"])


def backend_verdict(run: Run, pattern: Mapping[str, Any]) -> str:
    """Whether the backend's TestEventPattern (which validates as PutRule does) takes the pattern."""
    try:
        test_event_pattern(run, pattern, _event())
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        return "rejected with InvalidEventPatternException" if code == "InvalidEventPatternException" else f"rejected with {code}"
    return ACCEPTED


def _syntax_cases() -> list[Case]:
    out = []
    for s in SYNTAX:
        verdict = ACCEPTED if s.valid else REJECTED
        source = doc(s.url, s.says)
        out.append(Case(f"events.offline-pattern.{s.name}", "events", f"eventlab's validator: {s.behaviour}", verdict, source,
                        lambda _run, p=s.pattern: offline_verdict(p), subject="eventlab", creates=False))
        out.append(Case(f"events.pattern-syntax.{s.name}", "events", s.behaviour, verdict, source,
                        lambda run, p=s.pattern: backend_verdict(run, p), creates=False))
    return out


@dataclass(frozen=True)
class Match:
    """A pattern, an event's detail, and whether AWS says the pattern matches it."""

    name: str
    behaviour: str
    pattern: Mapping[str, Any]
    detail: Mapping[str, Any]
    matches: bool
    says: str
    url: str = COMPARISON_OPERATORS


MATCHES = [
    Match("exact-string", "an exact value matches only itself", _d(state=["running"]), {"state": "RUNNING"}, False,
          "Exact matching is case-sensitive: \"running\" does not match \"RUNNING\".", EVENT_PATTERNS),
    Match("array-any-element", "a pattern value matches an array holding it", _d(ids=["b"]), {"ids": ["a", "b", "c"]}, True,
          "If the value in the event is an array, the pattern matches if the intersection of the two arrays is non-empty.", ARRAYS),
    Match("array-no-element", "a pattern value does not match an array without it", _d(ids=["z"]), {"ids": ["a", "b"]}, False,
          "An array field matches when it shares at least one value with the pattern's array.", ARRAYS),
    Match("array-of-objects", "a nested key matches a field of an array's objects", _d(items={"sku": ["b-2"]}),
          {"items": [{"sku": "a-1"}, {"sku": "b-2"}]}, True,
          "Arrays of objects are matched by nested keys: each object of the array is tried.", ARRAYS),
    Match("null-value", "[null] matches a null field", _d(UserID=[None]), {"UserID": None}, True,
          "You can match a field whose value is null with [null].", NULL_VALUES),
    Match("null-not-missing", "[null] does not match a missing field", _d(UserID=[None]), {"other": 1}, False,
          "Matching null is not the same as the field not existing: [null] needs the field with the value null.", NULL_VALUES),
    Match("empty-string", "[\"\"] matches an empty string", _d(LastName=[""]), {"LastName": ""}, True,
          "You can match an empty string value with [\"\"].", NULL_VALUES),
    Match("empty-string-not-null", "[\"\"] does not match null", _d(LastName=[""]), {"LastName": None}, False,
          "An empty string and null are different values: [\"\"] does not match null.", NULL_VALUES),
    Match("number-exact", "a number matches the same number written otherwise", _d(price=[300]), {"price": 300.0}, True,
          "Matching on numbers compares numeric values: 300 and 300.0 are the same number.", EVENT_PATTERNS),
    Match("number-not-string", "a number does not match the same digits as a string", _d(price=[300]), {"price": "300"}, False,
          "Matching is type-aware: the number 300 does not match the string \"300\".", EVENT_PATTERNS),
    Match("prefix", "prefix matches the start of a string", _d(time=[{"prefix": "2017-10-02"}]), {"time": "2017-10-02T18:43:48Z"}, True,
          "Prefix matching: \"time\": [ { \"prefix\": \"2017-10-02\" } ] matches \"2017-10-02T18:43:48Z\"."),
    Match("prefix-case", "prefix is case-sensitive", _d(service=[{"prefix": "eventb"}]), {"service": "EventBridge"}, False,
          "Prefix matching compares exactly; equals-ignore-case inside prefix ignores case."),
    Match("prefix-ignore-case", "prefix with equals-ignore-case ignores case", _d(service=[{"prefix": {"equals-ignore-case": "EVENTB"}}]),
          {"service": "EventBridge"}, True,
          "Begins with (ignore case) matches EventB, EVENTB, eventb or any casing."),
    Match("prefix-empty", "an empty prefix matches any string", _d(kind=[{"prefix": ""}]), {"kind": "anything"}, True,
          "Every string begins with the empty string, so an empty prefix matches any string value."),
    Match("prefix-on-number", "prefix does not match a number", _d(code=[{"prefix": "4"}]), {"code": 404}, False,
          "You can use prefix matching for string values; a number is not a string."),
    Match("suffix-ignore-case", "suffix with equals-ignore-case ignores case", _d(file=[{"suffix": {"equals-ignore-case": ".PNG"}}]),
          {"file": "photo.png"}, True, "Ends with (ignore case): the suffix matches regardless of case."),
    Match("equals-ignore-case", "equals-ignore-case ignores case", _d(Name=[{"equals-ignore-case": "alice"}]), {"Name": "ALICE"}, True,
          "Equals (ignore case): \"alice\" matches \"Alice\", \"ALICE\" and any other casing."),
    Match("wildcard", "wildcard matches across characters", _d(file=[{"wildcard": "dir/*.png"}]), {"file": "dir/a/b.png"}, True,
          "The wildcard character matches zero, one or more characters, '/' included."),
    Match("wildcard-escaped", "\\* matches a literal star only", _d(file=[{"wildcard": "a\\*b"}]), {"file": "axxb"}, False,
          "Use \\* to match the literal * character: a\\*b matches only 'a*b'."),
    Match("anything-but-missing-field", "anything-but needs the field", _d(state=[{"anything-but": "stopped"}]), {"other": 1}, False,
          "Anything-but matches values other than those listed; an event without the field has no value to match.", CONTENT_FILTERING),
    Match("anything-but-list", "anything-but a list excludes each of them", _d(state=[{"anything-but": ["stopped", "failed"]}]),
          {"state": "failed"}, False, "Anything-but with a list matches any value not in the list."),
    Match("anything-but-prefix", "anything-but prefix excludes by prefix", _d(region=[{"anything-but": {"prefix": "us-"}}]),
          {"region": "eu-west-1"}, True, "Anything-but (begins with): 'Region is not in the US' matches eu-west-1."),
    Match("anything-but-wildcard", "anything-but wildcard excludes by wildcard", _d(path=[{"anything-but": {"wildcard": "*/lib/*"}}]),
          {"path": "/usr/lib/x"}, False, "Anything-but using a wildcard: a path that includes /lib/ is excluded."),
    Match("numeric-range", "numeric range bounds", _d(price=[{"numeric": [">", 10, "<=", 20]}]), {"price": 20}, True,
          "Numeric (range): more than 10 and less than or equal to 20 matches 20."),
    Match("numeric-open-bound", "numeric > excludes its bound", _d(price=[{"numeric": [">", 10, "<=", 20]}]), {"price": 10}, False,
          "Numeric (range): more than 10 does not match 10."),
    Match("numeric-on-string", "numeric does not match a string of digits", _d(price=[{"numeric": [">", 10]}]), {"price": "15"}, False,
          "Numeric matching works with values that are JSON numbers."),
    Match("exists-false", "exists false matches a missing field", _d(coupon=[{"exists": False}]), {"other": 1}, True,
          "Does not exist: [ { \"exists\": false } ] matches events without the field."),
    Match("exists-intermediate", "exists works on leaf nodes only", {"source": [SOURCE], "detail": {"order": [{"exists": True}]}},
          {"order": {"id": 1}}, False, "Exists matching only works on leaf nodes. It does not work on intermediate nodes.", CONTENT_FILTERING),
    Match("cidr", "cidr matches an address in the range", _d(ip=[{"cidr": "10.0.0.0/24"}]), {"ip": "10.0.0.255"}, True,
          "IP address matching: 10.0.0.0/24 matches addresses 10.0.0.0 to 10.0.0.255."),
    Match("cidr-outside", "cidr does not match an address outside the range", _d(ip=[{"cidr": "10.0.0.0/24"}]), {"ip": "10.0.1.0"}, False,
          "IP address matching: 10.0.0.0/24 does not match 10.0.1.0."),
    Match("or", "$or matches either branch", _d(**{"$or": [{"a": [1]}, {"b": [2]}]}), {"b": 2}, True,
          "Or (multiple fields): the pattern matches if any branch matches."),
    Match("and", "fields are AND-ed", _d(a=[1], b=[2]), {"a": 1, "b": 3}, False,
          "And: every field of the pattern must match.", EVENT_PATTERNS),
]


def match_verdict(run: Run, pattern: Mapping[str, Any], detail: Mapping[str, Any]) -> str:
    event = events.envelope(detail, source=SOURCE, detail_type="Sample")
    return "matches" if test_event_pattern(run, pattern, event) else "does not match"


def _match_cases() -> list[Case]:
    return [
        Case(f"events.pattern-match.{m.name}", "events", m.behaviour, "matches" if m.matches else "does not match",
             doc(m.url, m.says), lambda run, p=m.pattern, d=m.detail: match_verdict(run, p, d), creates=False)
        for m in MATCHES
    ]


CASES = [*_syntax_cases(), *_match_cases()]
