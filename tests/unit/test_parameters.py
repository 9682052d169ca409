"""The parameter check: notebooks' typed parameters cells, their bounds, and values from the command line."""

from __future__ import annotations

import math
from pathlib import Path

import nbformat
import pytest

from eventlab import parameters
from eventlab.experiments.compare import ALL_PATHS
from eventlab.measure.paths import PATHS
from eventlab.parameters import (
    Choices,
    Interval,
    Parameter,
    ParameterError,
    check,
    parse_bound,
    parse_text,
)

ROOT = Path(__file__).resolve().parents[2]
ALL_NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "benchmarks").glob("*.ipynb"))

SQS_LIKE = '''target: str = "localstack"  # where resources live: one of {localstack, aws}
messages: int = 150  # probe messages per queue [1, inf)
rate: float = 100.0  # messages per second (0, inf)
scale: float = 0.05  # a fraction of AWS's quota (0, 1]
wait: int = 2  # WaitTimeSeconds (AWS allows up to 20) [1, 20]
paths: str = "sqs"  # comma-separated, any of {sqs, sqs-fifo, kinesis}
verbose: bool = False  # print every receipt
label: str = ""  # free text
loose = 3  # no annotation
'''


def _notebook(folder: Path, name: str, source: str) -> Path:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell("print(messages)")]
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    path = folder / name
    nbformat.write(nb, path)
    return path


@pytest.fixture
def sqs_nb(tmp_path: Path) -> Path:
    return _notebook(tmp_path, "01-sqs.ipynb", SQS_LIKE)


def _problem(values: dict[str, object], notebooks: list[Path]) -> str:
    with pytest.raises(ParameterError) as caught:
        check(values, notebooks)
    message = str(caught.value)
    assert "\n" not in message, "one line"
    return message


# -- the comment convention --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("help_text", "bound"),
    [
        ("probe messages [1, inf)", Interval(1, math.inf, high_open=True)),
        ("messages per second (0, inf)", Interval(0, math.inf, low_open=True, high_open=True)),
        ("a fraction (0, 1]", Interval(0, 1, low_open=True)),
        ("seconds [0, 43200]", Interval(0, 43200)),
        ("a temperature [-inf, 0.5)", Interval(-math.inf, 0.5, high_open=True)),
        ("where: one of {localstack, aws}", Choices(("localstack", "aws"))),
        ('quoted {"localstack", "aws"}', Choices(("localstack", "aws"))),
        ("comma-separated, any of {sqs, kinesis}", Choices(("sqs", "kinesis"), many=True)),
        ("WaitTimeSeconds (AWS allows up to 20)", None),
        ("first probes (warm-up), then [1, 2] is not at the end", None),
        ("", None),
    ],
)
def test_bounds_are_read_from_the_end_of_the_help(help_text: str, bound: object) -> None:
    assert parse_bound(help_text) == bound


def test_an_empty_interval_is_a_mistake_in_the_notebook() -> None:
    with pytest.raises(ParameterError, match="empty"):
        parse_bound("count [5, 1]")


@pytest.mark.parametrize(
    ("bound", "words"),
    [
        (Interval(1, math.inf, high_open=True), "at least 1"),
        (Interval(0, math.inf, low_open=True, high_open=True), "above 0"),
        (Interval(0, 1, low_open=True), "above 0 and at most 1"),
        (Interval(1, 20), "from 1 to 20"),
        (Interval(0.5, 2.5), "from 0.5 to 2.5"),
        (Choices(("localstack", "aws")), "one of localstack, aws"),
        (Choices(("sqs", "kinesis"), many=True), "a comma-separated list of sqs, kinesis"),
    ],
)
def test_bounds_in_words(bound: Interval | Choices, words: str) -> None:
    assert bound.describe() == words


# -- text from the command line ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("10", int, 10),
        (" 7 ", int, 7),
        ("10_000", int, 10000),
        ("-5", int, -5),
        ("2.5", float, 2.5),
        ("10", float, 10.0),
        ("1e3", float, 1000.0),
        ("true", bool, True),
        ("False", bool, False),
        ("yes", bool, True),
        ("off", bool, False),
        ("1", bool, True),
        ("0", bool, False),
        ("eu-west-1", str, "eu-west-1"),
    ],
)
def test_text_is_parsed_by_the_declared_type(text: str, kind: type, value: object) -> None:
    parsed = parse_text(text, kind)
    assert parsed == value and type(parsed) is kind


@pytest.mark.parametrize(("text", "kind"), [("abc", int), ("1.5", int), ("1e3", int), ("", int), ("abc", float), ("", float), ("maybe", bool), ("2", bool)])
def test_text_that_is_not_of_the_type_is_refused(text: str, kind: type) -> None:
    parameter = Parameter("x", kind.__name__, "1", "")
    with pytest.raises(ParameterError, match=rf"^x={text} is not an? (int|float|bool)"):
        parameter.convert(text)


def test_typed_values_must_have_the_type_and_an_int_is_a_float() -> None:
    rate = Parameter("rate", "float", "1.0", "", Interval(0, math.inf, low_open=True, high_open=True))
    assert rate.convert(10) == 10.0 and type(rate.convert(10)) is float
    count = Parameter("count", "int", "1", "")
    for wrong in (1.5, True, "x", None):
        with pytest.raises(ParameterError, match="is not an int"):
            count.convert(wrong)
    with pytest.raises(ParameterError, match="is not a float"):
        rate.convert(False)
    with pytest.raises(ParameterError, match="is not a float"):
        rate.convert("nan")
    with pytest.raises(ParameterError, match="out of range: it must be above 0"):
        rate.convert("inf")
    name = Parameter("name", "str", '""', "")
    with pytest.raises(ParameterError, match="is not a string"):
        name.convert(5)


# -- checking values against notebooks --------------------------------------------------------
def test_papermill_reads_the_cell_and_the_bounds(sqs_nb: Path) -> None:
    declared = parameters.declared(sqs_nb)
    assert list(declared) == ["target", "messages", "rate", "scale", "wait", "paths", "verbose", "label", "loose"]
    assert declared["messages"].bound == Interval(1, math.inf, high_open=True)
    assert declared["verbose"].kind is bool and declared["label"].bound is None
    assert declared["loose"].kind is None


def test_good_values_are_converted_to_the_declared_types(sqs_nb: Path) -> None:
    values = check(
        {"messages": "10", "rate": "5", "scale": "1", "wait": "20", "target": "aws", "paths": "sqs, kinesis",
         "verbose": "yes", "label": "x=1", "loose": "[1, 2]"},
        [sqs_nb],
    )[sqs_nb]
    assert values == {"messages": 10, "rate": 5.0, "scale": 1.0, "wait": 20, "target": "aws", "paths": "sqs, kinesis",
                      "verbose": True, "label": "x=1", "loose": [1, 2]}
    assert type(values["rate"]) is float


def test_an_unknown_name_is_refused_with_the_closest_known_one(sqs_nb: Path) -> None:
    message = _problem({"mesages": "10"}, [sqs_nb])
    assert "unknown parameter 'mesages'" in message and "did you mean 'messages'?" in message
    assert "01-sqs.ipynb has target, messages, rate" in message
    message = _problem({"zzz": "1"}, [sqs_nb])
    assert "unknown parameter 'zzz'" in message and "did you mean" not in message


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("messages", "-5", "messages=-5 is out of range: it must be at least 1"),
        ("messages", "0", "messages=0 is out of range: it must be at least 1"),
        ("messages", "1.5", "messages=1.5 is not an int"),
        ("rate", "abc", "rate=abc is not a float"),
        ("rate", "0", "rate=0 is out of range: it must be above 0"),
        ("rate", "-1e3", "rate=-1e3 is out of range"),
        ("scale", "1.01", "scale=1.01 is out of range: it must be above 0 and at most 1"),
        ("wait", "21", "wait=21 is out of range: it must be from 1 to 20"),
        ("target", "awz", "target='awz' is not valid: it must be one of localstack, aws (did you mean 'aws'?)"),
        ("target", "AWS", "target='AWS' is not valid"),
        ("paths", "sqs,kinesiss", "(did you mean 'kinesis'?)"),
        ("paths", "", "paths='' is not valid: it must be a comma-separated list"),
        ("verbose", "maybe", "verbose=maybe is not a bool: write true or false"),
    ],
)
def test_a_bad_value_is_refused_naming_the_value_the_rule_and_the_notebook(sqs_nb: Path, name: str, value: str, expected: str) -> None:
    message = _problem({name: value}, [sqs_nb])
    assert expected in message and message.endswith("(in 01-sqs.ipynb)")


def test_every_problem_is_reported_at_once(sqs_nb: Path) -> None:
    message = _problem({"mesages": "1", "rate": "abc", "wait": "0"}, [sqs_nb])
    assert "mesages" in message and "rate=abc" in message and "wait=0" in message


def test_with_several_notebooks_a_name_must_be_known_to_one_and_suit_all_that_have_it(tmp_path: Path) -> None:
    a = _notebook(tmp_path, "00-a.ipynb", "messages: int = 5  # count [1, inf)\nrate: float = 1.0  # per second (0, inf)\n")
    b = _notebook(tmp_path, "01-b.ipynb", "messages: int = 5  # count [1, 10]\nshards: int = 2  # shards [1, inf)\n")
    values = check({"shards": "3", "messages": "7"}, [a, b])
    # every notebook receives every value (papermill injects the ones it does not declare)
    assert values[a] == {"shards": 3, "messages": 7} and values[b] == {"shards": 3, "messages": 7}
    message = _problem({"messages": "50"}, [a, b])
    assert "messages=50 is out of range: it must be from 1 to 10 (in 01-b.ipynb)" == message
    message = _problem({"shard": "3"}, [a, b])
    assert "did you mean 'shards'?" in message and "none of the 2 notebooks declares it" in message
    message = _problem({"messages": "0"}, [a, b])
    assert message == "messages=0 is out of range: it must be at least 1 (in 00-a.ipynb); messages=0 is out of range: it must be from 1 to 10 (in 01-b.ipynb)"
    c = _notebook(tmp_path, "02-c.ipynb", "messages: int = 5  # count [1, inf)\n")
    message = _problem({"messages": "-1"}, [a, c])
    assert message == "messages=-1 is out of range: it must be at least 1 (in 00-a.ipynb, 02-c.ipynb)", "one problem, both notebooks named"


def test_a_notebook_without_a_parameters_cell_takes_none(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    path = tmp_path / "plain.ipynb"
    nbformat.write(nb, path)
    assert check({}, [path]) == {path: {}}
    assert "plain.ipynb has none" in _problem({"x": "2"}, [path])


def test_a_file_that_is_not_a_notebook_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "broken.ipynb"
    path.write_text("not json")
    assert "cannot read the parameters of" in _problem({}, [path])


# -- the project's notebooks follow the convention ---------------------------------------------
@pytest.mark.parametrize("notebook", ALL_NOTEBOOKS, ids=[n.stem for n in ALL_NOTEBOOKS])
def test_every_parameter_is_typed_and_every_number_bounded(notebook: Path) -> None:
    import ast

    for parameter in parameters.declared(notebook).values():
        assert parameter.kind is not None, f"{notebook.name}: {parameter.name} needs an int, float, str or bool annotation"
        if parameter.kind in (int, float):
            assert isinstance(parameter.bound, Interval), f"{notebook.name}: give {parameter.name} a bound such as [1, inf)"
        if parameter.name == "target":
            assert parameter.bound == Choices(("localstack", "ministack", "aws")), f"{notebook.name}: target is one of {{localstack, ministack, aws}}"
        default = ast.literal_eval(parameter.default)
        assert parameter.convert(default) == default, f"{notebook.name}: the default of {parameter.name} is in its bound"


def test_the_path_choices_are_the_measured_paths() -> None:
    benchmark = parameters.declared(ROOT / "benchmarks" / "benchmark.ipynb")
    assert benchmark["path"].bound == Choices(PATHS)
    choosing = parameters.declared(ROOT / "notebooks" / "07-choosing-a-service.ipynb")
    assert choosing["paths"].bound == Choices(ALL_PATHS, many=True)
