"""The conformance framework without an emulator: the cases as data, the judgement, the table."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from eventlab.fidelity import (
    CASES,
    KNOWN_DIFFERENCES,
    Case,
    KnownDifference,
    Unsupported,
    doc,
    judge,
    recorded,
    run_case,
    write_results,
)
from eventlab.fidelity.cases import by_service
from eventlab.fidelity.differences import rows
from eventlab.fidelity.model import RECORDED_DIR, as_json, canonical, eventlabs_own
from eventlab_localstack.fixes import FIXES

ROOT = Path(__file__).resolve().parents[2]
SOURCE = doc("https://docs.aws.amazon.com/example.html", "what the page says")


def case(**changes: Any) -> Case:
    fields: dict[str, Any] = {"id": "events.sample", "service": "events", "behaviour": "b", "verdict": "accepted",
                              "source": SOURCE, "check": lambda run: "accepted"}
    return Case(**{**fields, **changes})


def fake_run(kind: str = "localstack") -> Any:
    return SimpleNamespace(target=SimpleNamespace(kind=kind))


# -- the cases as data ---------------------------------------------------------------------------
def test_case_ids_are_unique_and_start_with_their_service() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    assert all(c.id.startswith(f"{c.service}.") for c in CASES)
    assert set(by_service()) >= {"eventbridgev2", "events", "sns", "sqs", "firehose", "kinesis", "lambda"}


def test_every_verdict_has_a_source_that_says_something() -> None:
    for c in CASES:
        assert c.verdict and c.behaviour and len(c.source.says) > 20, c.id
        if c.source.recorded:
            assert (ROOT / RECORDED_DIR / c.source.recorded).is_file(), c.id
        else:
            assert c.source.url.startswith(("https://docs.aws.amazon.com/", "https://docs.amazonaws.cn/")), c.id


def test_a_source_is_a_page_or_a_recording() -> None:
    with pytest.raises(ValueError, match="not both or neither"):
        recorded("", "nothing")
    with pytest.raises(ValueError, match="AWS documentation page"):
        doc("https://example.com/aws", "a blog")
    assert recorded("events/replay.json", "a response").where == f"{RECORDED_DIR}/events/replay.json"


def test_a_case_id_names_its_service() -> None:
    with pytest.raises(ValueError, match="starts with its service"):
        case(id="sqs.x")


def test_every_localstack_fix_has_cases_and_every_case_names_a_real_fix() -> None:
    named = {c.fixed_by for c in CASES if c.fixed_by}
    assert named == set(FIXES), f"fixes without a case: {set(FIXES) - named}; unknown: {named - set(FIXES)}"


def test_known_differences_name_cases_that_may_differ() -> None:
    ids = {c.id: c for c in CASES}
    for backend, table in KNOWN_DIFFERENCES.items():
        for case_id, known in table.items():
            assert case_id in ids, f"{backend}: {case_id} is not a case"
            assert not eventlabs_own(ids[case_id], backend), f"{backend}: {case_id} is eventlab's own; it cannot be a known difference"
            assert known.outcome in ("differs", "unsupported") and known.reason and known.observed != ids[case_id].verdict


def test_the_table_rows_put_aws_beside_the_backend() -> None:
    [row] = [r for r in rows("localstack", CASES) if r["case"] == "kinesis.efo.resubscribe-within-5s"]
    assert row["aws"] == "rejected with ResourceInUseException" and row["localstack"] and row["reason"] and row["source"]


# -- the judgement ---------------------------------------------------------------------------------
KNOWN = KnownDifference(observed="rejected", reason="because")


def test_agreeing_is_fine_unless_the_table_still_lists_the_case() -> None:
    assert judge(case(), "localstack", "accepted", "agrees", None) == ""
    assert "remove it" in judge(case(), "localstack", "accepted", "agrees", KNOWN)


def test_a_difference_passes_only_as_the_same_known_difference() -> None:
    assert judge(case(), "localstack", "rejected", "differs", KNOWN) == ""
    assert "record it" in judge(case(), "localstack", "rejected", "differs", None)
    assert "update KNOWN_DIFFERENCES" in judge(case(), "localstack", "dropped", "differs", KNOWN)
    assert "update KNOWN_DIFFERENCES" in judge(case(), "localstack", "rejected", "unsupported", KNOWN)
    assert judge(case(), "localstack", "no API", "unsupported", KnownDifference("no API", "missing", "unsupported")) == ""


def test_eventlabs_own_code_is_never_a_known_difference() -> None:
    assert "eventlab's own code" in judge(case(subject="eventlab"), "localstack", "rejected", "differs", KNOWN)
    fixed = case(fixed_by="replay")
    assert "eventlab's fix 'replay'" in judge(fixed, "localstack", "rejected", "differs", KNOWN)
    assert judge(fixed, "ministack", "rejected", "differs", KNOWN) == "", "the fix is LocalStack's only"


def test_run_case_reports_agreement_difference_missing_feature_and_crash() -> None:
    assert run_case(case(), fake_run()).outcome == "agrees"
    differs = run_case(case(check=lambda run: "rejected"), fake_run())
    assert (differs.outcome, differs.observed, differs.ok) == ("differs", "rejected", False)

    def lacks(run: Any) -> str:
        raise Unsupported("no such API")

    missing = run_case(case(check=lacks), fake_run())
    assert (missing.outcome, missing.observed) == ("unsupported", "no such API")

    def crashes(run: Any) -> str:
        raise KeyError("boom")

    crashed = run_case(case(check=crashes), fake_run())
    assert crashed.outcome == "error" and "KeyError" in crashed.problem and not crashed.ok


def test_results_are_written_as_json(tmp_path: Path) -> None:
    results = [run_case(case(), fake_run()), run_case(case(id="events.other", check=lambda run: "x"), fake_run())]
    path = write_results(results, "localstack", path=tmp_path / "localstack.json")
    written = json.loads(path.read_text())
    assert written["backend"] == "localstack" and written["counts"] == {"agrees": 1, "differs": 1} and written["failures"] == 1
    first = written["cases"][0]
    assert first["aws"] == "accepted" and first["source"]["url"] == SOURCE.url and first["outcome"] == "agrees"


def test_bodies_compare_as_canonical_json() -> None:
    assert canonical('{"b":1,"a":[1,2]}') == as_json({"a": [1, 2], "b": 1})
    assert canonical('"a string"') == '"a string"'
    assert canonical("plain text") == "plain text"


def test_the_fixes_are_registered_as_a_localstack_start_hook() -> None:
    project = tomllib.loads((ROOT / "emulators" / "localstack" / "pyproject.toml").read_text())
    hooks = project["project"]["entry-points"]["localstack.hooks.on_infra_start"]
    assert hooks["eventlab_localstack_fixes"] == "eventlab_localstack.fixes:eventlab_localstack_fixes"
    assert "eventlab_localstack" in project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]


def test_eventlabs_own_cases_agree_with_aws() -> None:
    """The offline validators' cases run without an emulator: each must give AWS's verdict."""
    from eventlab.runtime.companions import COMPANIONS

    # the cases of eventlab's own servers (eventbridgev2) need the server: the integration suite runs them
    own = [c for c in CASES if c.subject == "eventlab" and c.service not in COMPANIONS]
    assert len(own) > 50
    wrong = [(c.id, c.verdict, c.check(fake_run())) for c in own if c.check(fake_run()) != c.verdict]
    assert not wrong, wrong


def test_the_readme_summarizes_the_matrix_as_the_suite_holds_it() -> None:
    from eventlab.fidelity.matrix import summary_markdown

    readme = (ROOT / "README.md").read_text()
    shown = readme.split("<!-- fidelity-summary -->\n", 1)[1].split("\n<!-- /fidelity-summary -->", 1)[0]
    backends = [b for b in KNOWN_DIFFERENCES if b != "aws"]
    assert shown == summary_markdown(CASES, backends), "regenerate the README's table with fidelity.matrix.summary_markdown"


def test_the_matrix_puts_each_backends_latest_run_beside_aws(tmp_path: Path) -> None:
    from eventlab.fidelity.matrix import build, load_results, markdown, write

    write_results([run_case(case(), fake_run())], "localstack", path=tmp_path / "localstack.json")
    write_results([run_case(case(check=lambda run: "rejected"), fake_run("ministack"))], "ministack", path=tmp_path / "ministack.json")
    merged = write_results([run_case(case(id="events.more"), fake_run())], "localstack", path=tmp_path / "localstack.json", merge=True)
    assert {c["id"] for c in json.loads(merged.read_text())["cases"]} == {"events.sample", "events.more"}, "a merge keeps the others"
    matrix = build([case(), case(id="events.more"), case(id="events.never")], load_results(tmp_path))
    assert matrix.backends == ["localstack", "ministack"] and all(matrix.runs[b]["written_at"] for b in matrix.backends)
    assert matrix.counts() == {"localstack": {"agrees": 2, "not run": 1}, "ministack": {"differs": 1, "not run": 2}}
    assert matrix.by_service() == {"events": {"localstack": {"agrees": 2, "not run": 1}, "ministack": {"differs": 1, "not run": 2}}}
    text = markdown(matrix)
    assert "| events | events.sample | b | accepted | agrees | differs: rejected |" in text and "ministack**: results of the run at" in text
    json_path, md_path = write(matrix, tmp_path)
    assert json.loads(json_path.read_text())["rows"][0]["aws"] == "accepted" and md_path.read_text() == text


def test_merging_writers_wait_for_each_other_and_lose_no_case(tmp_path: Path) -> None:
    """Parallel test workers and notebook kernels merge into one results file: a writer waits
    while another holds the folder's lock, then keeps what the other wrote."""
    import threading

    from eventlab.fidelity.matrix import RESULTS_LOCK
    from eventlab.locations import locked

    out = tmp_path / "localstack.json"
    write_results([run_case(case(), fake_run())], "localstack", path=out)
    writer = threading.Thread(target=write_results, args=([run_case(case(id="events.more"), fake_run())], "localstack"),
                              kwargs={"path": out, "merge": True})
    with locked(tmp_path / RESULTS_LOCK):
        writer.start()
        writer.join(0.5)
        assert writer.is_alive(), "the writer did not wait for the lock"
        assert {c["id"] for c in json.loads(out.read_text())["cases"]} == {"events.sample"}
    writer.join(10)
    assert {c["id"] for c in json.loads(out.read_text())["cases"]} == {"events.sample", "events.more"}
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == [], "no half-written file is left"
