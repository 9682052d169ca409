"""Notebook parameters: what a notebook's ``parameters`` cell declares, and a check of values against it.

A parameters cell is papermill's: one ``name: type = default  # help`` line per parameter, read
with :func:`papermill.inspect_notebook`. The help may end with the values the parameter takes,
written so that ``papermill --help-notebook`` shows them as they are and this module can read
them::

    messages: int = 150  # probe messages per queue [1, inf)
    rate: float = 100.0  # messages per second (0, inf)
    quota_scale: float = 0.05  # a fraction of AWS's quota (0, 1]
    target: str = "localstack"  # where resources live: one of {localstack, ministack, aws}
    paths: str = "sqs,kinesis"  # comma-separated, any of {sqs, sqs-fifo, kinesis}

An interval bounds a number: a bracket includes its end, a parenthesis excludes it, ``inf``
leaves a side unbounded. A set lists a string's choices; after "any of", the items of a
comma-separated string. A comment must hold no '=' (papermill skips a line with two).

Values are checked before anything starts (no emulator, no notebook, no resource): names no
notebook declares (with the closest known name), values of the wrong type (the annotations
``int``, ``float``, ``str``, ``bool``; an int is a fine float), values out of range. Text (from
the command line) is parsed by the declared type; other values must already have it.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_NUMBER = r"[-+]?(?:inf|\d[\d_]*(?:\.\d*)?(?:[eE][-+]?\d+)?)"
_INTERVAL = re.compile(rf"(?P<open>[\[(])\s*(?P<low>{_NUMBER})\s*,\s*(?P<high>{_NUMBER})\s*(?P<close>[\])])\s*$")
_CHOICES = re.compile(r"(?:(?P<many>any of)\s*)?\{(?P<values>[^{}]*)\}\s*$")
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
TYPES: dict[str, type] = {"int": int, "float": float, "str": str, "bool": bool}


class ParameterError(ValueError):
    """Parameters a notebook cannot take; the message names each problem and the fix."""


@dataclass(frozen=True)
class Interval:
    """The numbers from ``low`` to ``high``; an open end excludes its bound."""

    low: float
    high: float
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, int | float):
            return False
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def describe(self) -> str:
        """The interval in words: "at least 1", "above 0 and at most 1", "from 0 to 20"."""
        low = None if self.low == -math.inf else f"{'above' if self.low_open else 'at least'} {_number(self.low)}"
        high = None if self.high == math.inf else f"{'below' if self.high_open else 'at most'} {_number(self.high)}"
        if low and high and not (self.low_open or self.high_open):
            return f"from {_number(self.low)} to {_number(self.high)}"
        return " and ".join(part for part in (low, high) if part) or "any number"


@dataclass(frozen=True)
class Choices:
    """The strings a parameter takes; with ``many``, a comma-separated string of them."""

    values: tuple[str, ...]
    many: bool = False

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, str):
            return False
        if not self.many:
            return value in self.values
        items = split_items(value)
        return bool(items) and all(item in self.values for item in items)

    def describe(self) -> str:
        listed = ", ".join(self.values)
        return f"a comma-separated list of {listed}" if self.many else f"one of {listed}"

    def closest(self, value: str) -> str | None:
        """The choice nearest to a wrong item of ``value`` (for "did you mean")."""
        wrong = [item for item in (split_items(value) if self.many else [value]) if item not in self.values]
        for item in wrong:
            match = difflib.get_close_matches(item, self.values, n=1)
            if match:
                return match[0]
        return None


Bound = Interval | Choices


def split_items(value: str) -> list[str]:
    """The items of a comma-separated parameter, blanks dropped."""
    return [item.strip() for item in value.split(",") if item.strip()]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def parse_bound(help_text: str) -> Bound | None:
    """The bound a parameter's help ends with (an interval or a set of choices), else None."""
    interval = _INTERVAL.search(help_text)
    if interval:
        low, high = float(interval["low"]), float(interval["high"])
        if low > high:
            raise ParameterError(f"the bound {interval.group(0).strip()!r} is empty: its low end is above its high end")
        return Interval(low, high, low_open=interval["open"] == "(", high_open=interval["close"] == ")")
    choices = _CHOICES.search(help_text)
    if choices:
        values = tuple(v.strip().strip("'\"") for v in choices["values"].split(",") if v.strip())
        return Choices(values, many=bool(choices["many"])) if values else None
    return None


@dataclass(frozen=True)
class Parameter:
    """One declared parameter: its name, annotation, default (as written), help and bound."""

    name: str
    type_name: str
    default: str
    help: str
    bound: Bound | None = None

    @property
    def kind(self) -> type | None:
        """The Python type of the annotation, or None when it is not one this module checks."""
        return TYPES.get(self.type_name)

    def declaration(self) -> str:
        return f"{self.name}: {self.type_name} = {self.default}"

    def convert(self, value: object) -> object:
        """``value`` as this parameter's type (text is parsed), checked against its bound.

        Raises :class:`ParameterError` with a message that starts at the value (the caller adds
        where it came from)."""
        kind = self.kind
        if kind is None:  # no annotation papermill can read: nothing to check against
            return parse_untyped(value) if isinstance(value, str) else value
        given = f"{self.name}={value}" if isinstance(value, str) and kind is not str else f"{self.name}={value!r}"
        typed = parse_text(value, kind) if isinstance(value, str) and kind is not str else value
        if typed is _INVALID or not _has_type(typed, kind):
            raise ParameterError(f"{given} is not {_EXAMPLES[kind]}")
        if kind is float:
            typed = float(typed)  # type: ignore[arg-type]
            if math.isnan(typed):
                raise ParameterError(f"{given} is not {_EXAMPLES[kind]}")
        if isinstance(self.bound, Choices) and typed not in self.bound:
            closest = self.bound.closest(typed) if isinstance(typed, str) else None
            hint = f" (did you mean {closest!r}?)" if closest else ""
            raise ParameterError(f"{given} is not valid: it must be {self.bound.describe()}{hint}")
        if isinstance(self.bound, Interval) and typed not in self.bound:
            raise ParameterError(f"{given} is out of range: it must be {self.bound.describe()}")
        return typed


_INVALID = object()


_EXAMPLES = {
    int: "an int: write a whole number such as 10",
    float: "a float: write a number such as 2.5 (or 10)",
    str: "a string",
    bool: "a bool: write true or false",
}


def _has_type(value: object, kind: type) -> bool:
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def parse_text(text: str, kind: type) -> object:
    """Text (``-p name=text``) as ``kind``: ints as Python writes them (``10_000``), floats too
    (``1e3``), bools as true/false, yes/no, on/off or 1/0; anything else is invalid."""
    text = text.strip()
    try:
        if kind is bool:
            lowered = text.lower()
            return True if lowered in _TRUE else False if lowered in _FALSE else _INVALID
        if kind is int:
            return int(text)
        if kind is float:
            return float(text)
    except ValueError:
        return _INVALID
    return text


def parse_untyped(text: str) -> object:
    """Text for a parameter without a type: a YAML scalar (5 is an int, true a bool)."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


@contextlib.contextmanager
def _quiet_papermill() -> Iterator[None]:
    """papermill logs every notebook it opens at INFO; an inspection is not worth a line."""
    logger = logging.getLogger("papermill")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def declared(notebook: Path) -> dict[str, Parameter]:
    """The parameters a notebook's ``parameters`` cell declares, in order (papermill's reading)."""
    import papermill

    try:
        with _quiet_papermill():
            found = papermill.inspect_notebook(str(notebook))
    except Exception as error:  # nbformat raises many kinds for a broken file
        raise ParameterError(f"cannot read the parameters of {notebook}: {error}") from error
    parameters = {}
    for name, info in found.items():
        try:
            bound = parse_bound(info["help"])
        except ParameterError as error:
            raise ParameterError(f"{notebook.name}, parameter {name}: {error}") from error
        parameters[name] = Parameter(name, info["inferred_type_name"], info["default"], info["help"], bound)
    return parameters


def check(values: Mapping[str, object], notebooks: Sequence[Path]) -> dict[Path, dict[str, object]]:
    """Check ``values`` against every notebook's parameters cell; returns each notebook's values,
    converted to its declared types.

    Every name must be declared by at least one notebook, and every value must suit each
    notebook that declares it. A notebook also receives the values it does not declare (as the
    first notebook declaring them converted them), as papermill would inject them. All problems
    are reported at once, in one line.
    """
    declarations = {notebook: declared(notebook) for notebook in notebooks}
    known = list(dict.fromkeys(name for params in declarations.values() for name in params))  # in order
    problems: dict[str, list[str]] = {}  # problem -> notebooks
    converted: dict[Path, dict[str, object]] = {notebook: {} for notebook in notebooks}
    for name, value in values.items():
        owners = [nb for nb in notebooks if name in declarations[nb]]
        if not owners:
            problems.setdefault(_unknown(name, known, notebooks), [])
            continue
        for notebook in owners:
            try:
                converted[notebook][name] = declarations[notebook][name].convert(value)
            except ParameterError as error:
                problems.setdefault(str(error), []).append(notebook.name)
        first = next((converted[nb][name] for nb in owners if name in converted[nb]), value)
        for notebook in notebooks:
            converted[notebook].setdefault(name, first)
    if problems:
        raise ParameterError("; ".join(_where(problem, names) for problem, names in problems.items()))
    return converted


def _unknown(name: str, known: Sequence[str], notebooks: Sequence[Path]) -> str:
    match = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {match[0]!r}?)" if match else ""
    if len(notebooks) == 1:
        (notebook,) = notebooks
        listed = ", ".join(known) if known else "none (it has no parameters cell)"
        return f"unknown parameter {name!r}{hint}: {notebook.name} has {listed}"
    return (
        f"unknown parameter {name!r}{hint}: none of the {len(notebooks)} notebooks declares it "
        "(`papermill --help-notebook NOTEBOOK` lists a notebook's parameters)"
    )


def _where(problem: str, notebooks: Sequence[str]) -> str:
    if not notebooks:
        return problem
    shown = ", ".join(notebooks[:3]) + (f" and {len(notebooks) - 3} more" if len(notebooks) > 3 else "")
    return f"{problem} (in {shown})"

