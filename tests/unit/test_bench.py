"""Benchmark workloads and the noise-aware compare, on constructed figures with known answers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from eventlab import bench
from eventlab.bench import Baseline, Workload, compare_figure
from eventlab.measure.results import FIGURES, figures_of

ROOT = Path(__file__).resolve().parents[2]
WORKLOADS = sorted((ROOT / "benchmarks" / "workloads").glob("*.yaml"))


@pytest.mark.parametrize("path", WORKLOADS, ids=lambda p: p.stem)
def test_workloads_are_named_after_their_parameters(path: Path) -> None:
    workload = bench.load_workload(path)
    assert path.stem == workload.name
    assert set(yaml.safe_load(path.read_text())) == set(bench.WORKLOAD_KEYS)


def test_a_misnamed_workload_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fast-sqs.yaml"
    path.write_text("path: sqs\nrate: 10\n")
    with pytest.raises(ValueError, match=r"call it sqs-r10-s256-b1-k1-p1-d5s\.yaml"):
        bench.load_workload(path)
    path.write_text("path: sqs\nrate: 10\nspeed: 3\n")
    with pytest.raises(ValueError, match="unknown key"):
        bench.load_workload(path)


def test_sets_name_existing_workloads() -> None:
    sets = yaml.safe_load((ROOT / "benchmarks" / "sets.yaml").read_text())
    assert {"smoke", "full"} <= set(sets)
    for name in sets:
        assert bench.workload_set(name)


def test_workload_keys_are_the_benchmark_notebooks_parameters() -> None:
    import papermill

    parameters = papermill.inspect_notebook(str(ROOT / "benchmarks" / "benchmark.ipynb"))
    assert set(bench.WORKLOAD_KEYS) <= set(parameters)


def test_noise_is_not_news() -> None:
    baseline = [100.0, 130.0, 90.0, 115.0]
    current = [120.0, 95.0, 125.0, 105.0]
    assert compare_figure("latency_p99_ms", baseline, current).verdict == "unchanged"


def test_a_clear_slowdown_is_a_regression_and_a_speedup_an_improvement() -> None:
    baseline = [100.0, 102.0, 98.0, 101.0]
    assert compare_figure("latency_p50_ms", baseline, [200.0, 205.0, 198.0, 202.0]).verdict == "regression"
    assert compare_figure("latency_p50_ms", baseline, [50.0, 52.0, 49.0, 51.0]).verdict == "improvement"
    assert compare_figure("throughput_msg_s", baseline, [50.0, 52.0, 49.0, 51.0]).verdict == "regression"


def test_a_small_but_certain_change_under_the_threshold_is_not_news() -> None:
    change = compare_figure("latency_p50_ms", [100.0, 100.5, 99.5], [110.0, 110.5, 109.5])
    assert change.low is not None and change.low > 1.05 and change.verdict == "unchanged"


def test_loss_and_new_disorder_are_always_regressions() -> None:
    assert compare_figure("lost", [0.0, 0.0], [0.0, 1.0]).verdict == "regression"
    assert compare_figure("inversions", [0.0, 0.0], [3.0, 0.0]).verdict == "regression"
    assert compare_figure("inversions", [0.0, 0.0], [0.0, 0.0]).verdict == "unchanged"


def test_baseline_from_results_and_compare() -> None:
    def result(p50: float) -> dict:
        return {
            "name": "w",
            "provenance": {"target": {"kind": "localstack"}, "parameters": {"duration": 10, "load": [{}]}},
            "summary": [{"latency_p50_ms": p50, "latency_p99_ms": 2 * p50, "delivered": 1000, "lost": 0, "inversions": 0, "duplicate_rate": 0.0}],
        }

    baseline = Baseline.from_results([result(10), result(11), result(10.5)])
    assert baseline.figures["throughput_msg_s"] == [100.0, 100.0, 100.0]
    verdicts = {c.figure: c.verdict for c in bench.compare(baseline, [result(30), result(31), result(29)])}
    assert verdicts["latency_p50_ms"] == "regression" and verdicts["lost"] == "unchanged"


def test_workload_parameters_override() -> None:
    workload = Workload("kinesis", rate=50)
    assert workload.parameters(target="aws")["target"] == "aws"
    assert workload.name == "kinesis-r50-s256-b1-k1-p1-d5s"


def _result_doc(row: dict, duration: float = 10) -> dict:
    return {
        "name": "w",
        "provenance": {"target": {"kind": "localstack"}, "parameters": {"duration": duration, "load": [{}]}},
        "summary": [row],
    }


def _healthy(p50: float) -> dict:
    return _result_doc({"latency_p50_ms": p50, "latency_p99_ms": 2 * p50, "send_delay_p99_ms": 1.0, "delivered": 1000,
                        "sent": 1000, "lost": 0, "inversions": 0, "duplicate_rate": 0.0})


def _all_lost() -> dict:
    """A result as saved when nothing arrived: JSON has null for the latencies nothing measured."""
    return _result_doc({"latency_p50_ms": None, "latency_p99_ms": None, "send_delay_p99_ms": 1.0, "delivered": 0,
                        "sent": 1000, "lost": 1000, "inversions": 0, "duplicate_rate": 0.0})


def test_figures_of_an_all_lost_result_report_the_loss_and_no_latency() -> None:
    figures = figures_of(_all_lost())
    assert figures["lost"] == 1000 and figures["throughput_msg_s"] == 0.0
    assert "latency_p50_ms" not in figures and "latency_p99_ms" not in figures
    nan_row = _result_doc({"latency_p50_ms": float("nan"), "delivered": 0, "lost": 5})
    assert "latency_p50_ms" not in figures_of(nan_row)


def test_an_all_lost_result_is_a_regression() -> None:
    baseline = Baseline.from_results([_healthy(10), _healthy(11), _healthy(10.5)])
    changes = {c.figure: c for c in bench.compare(baseline, [_all_lost(), _all_lost()])}
    assert changes["lost"].verdict == "regression"
    assert changes["throughput_msg_s"].verdict == "regression"
    assert changes["latency_p50_ms"].verdict == "regression", "a latency nothing measured is not 'unchanged'"
    assert "not measured" in changes["latency_p50_ms"].describe()
    assert set(changes) == set(FIGURES), "every figure of the baseline is judged"
    # one repeat lost everything, the other none: still a regression
    mixed = {c.figure: c.verdict for c in bench.compare(baseline, [_healthy(10), _all_lost()])}
    assert mixed["lost"] == "regression"


def test_a_result_without_a_summary_row_regresses_every_figure() -> None:
    baseline = Baseline.from_results([_healthy(10), _healthy(11)])
    empty = _result_doc({})
    empty["summary"] = []
    assert {c.verdict for c in bench.compare(baseline, [empty, empty])} == {"regression"}


def test_a_baseline_that_lost_messages_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(bench, "baselines_dir", lambda: tmp_path)
    with pytest.raises(bench.BenchError, match="a baseline must lose none"):
        Baseline.from_results([_healthy(10), _all_lost()]).save()
    assert not list(tmp_path.iterdir())
    assert Baseline.from_results([_healthy(10), _healthy(11)]).save().exists()


def test_workload_values_are_checked_against_the_benchmark_notebook(tmp_path: Path) -> None:
    path = tmp_path / "sqs-r10-s256-b1-k1-p1-d5s.yaml"
    path.write_text("path: sqs\nrate: 10\n")
    assert bench.load_workload(path).rate == 10
    for body, message in (
        ("path: sqs\nrate: ten\n", "rate=ten is not an int"),
        ("path: sqs\nrate: 10.5\n", "rate=10.5 is not an int"),
        ("path: sqs\nrate: 0\n", "rate=0 is out of range: it must be at least 1"),
        ("path: sqs\nrate: 10\ntarget: mars\n", "target='mars' is not valid"),
        ("path: nowhere\nrate: 10\n", "path='nowhere' is not valid: it must be one of sqs, sqs-fifo"),
        ("path: sqs\nrate: 10\nproducers: true\n", "producers=True is not an int"),
    ):
        path.write_text(body)
        with pytest.raises(bench.BenchError, match=re.escape(message)):
            bench.load_workload(path)


def test_an_incomplete_repeat_has_no_figures_and_no_baseline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(bench, "baselines_dir", lambda: tmp_path)
    hole = {**_healthy(10), "incomplete": [{"worker": "tcp://10.0.0.7:40000", "slice": 1, "reported_sends": 120}]}
    assert figures_of(hole) == {}, "a producer died: figures would hide the hole"
    with pytest.raises(bench.BenchError, match=r"1 repeat\(s\) incomplete"):
        Baseline.from_results([_healthy(10), hole]).save()
    assert not list(tmp_path.iterdir())
    saved = json.loads(Baseline.from_results([_healthy(10), _healthy(11)]).save().read_text())
    assert "incomplete" not in saved


def test_a_workload_may_name_a_dask_cluster_which_is_not_part_of_its_name(tmp_path: Path) -> None:
    path = tmp_path / "sqs-r10-s256-b1-k1-p2-d5s.yaml"
    path.write_text('path: sqs\nrate: 10\nproducers: 2\ncluster: "tcp://10.0.0.5:8786"\n')
    workload = bench.load_workload(path)
    assert workload.cluster == "tcp://10.0.0.5:8786" and workload.parameters()["cluster"] == "tcp://10.0.0.5:8786"
