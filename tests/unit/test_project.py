"""The project's own promises: one environment, locked; notebooks committed clean and parameterised."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
ALL_NOTEBOOKS = NOTEBOOKS + sorted((ROOT / "benchmarks").glob("*.ipynb"))


def _name(requirement: str) -> str:
    """The normalised distribution name of a requirement string."""
    name = re.split(r"[\[<>=!~; ]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        if match:
            pins[_name(match.group(1))] = match.group(2)
    return pins


def test_environment_yml_names_the_same_packages_as_pyproject() -> None:
    declared = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    declared |= {_name(r) for r in PYPROJECT["dependency-groups"]["dev"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    (pip_section,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    named = {_name(r) for r in pip_section if not r.startswith("-")}
    assert named == declared
    assert "--constraint requirements.lock" in pip_section
    assert "python=3.13" in env["dependencies"]


def test_every_package_is_pinned_in_the_lock() -> None:
    pins = _lock()
    declared = [*PYPROJECT["project"]["dependencies"], *PYPROJECT["dependency-groups"]["dev"]]
    missing = [r for r in declared if _name(r) not in pins]
    assert not missing, f"not in requirements.lock: {missing}"
    assert pins["localstack-core"] == "2026.3.0"
    assert int(pins["cbor2"].split(".")[0]) < 6, "cbor2 6 breaks LocalStack 2026.3.0's start"
    assert len(pins) > 150, "the lock pins transitive dependencies too"


def test_the_lock_agrees_with_uv_lock() -> None:
    uv = tomllib.loads((ROOT / "uv.lock").read_text())
    versions = {_name(p["name"]): p["version"] for p in uv["package"] if "version" in p}
    disagree = {n: (v, versions.get(n)) for n, v in _lock().items() if versions.get(n) != v}
    assert not disagree, f"run `make lock`: {disagree}"


@pytest.mark.parametrize("notebook", ALL_NOTEBOOKS, ids=[n.stem for n in ALL_NOTEBOOKS])
def test_notebooks_are_committed_without_outputs(notebook: Path) -> None:
    nb = nbformat.read(notebook, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{notebook.name}: strip the outputs of cells {dirty}"


@pytest.mark.parametrize("notebook", ALL_NOTEBOOKS, ids=[n.stem for n in ALL_NOTEBOOKS])
def test_notebooks_start_with_one_commented_parameters_cell(notebook: Path) -> None:
    nb = nbformat.read(notebook, as_version=4)
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert tagged == [0], f"{notebook.name}: exactly one cell tagged 'parameters', and first"
    source = nb.cells[0].source
    for node in ast.parse(source).body:
        assert isinstance(node, ast.AnnAssign), f"{notebook.name}: parameters are typed assignments"
        line = source.splitlines()[node.lineno - 1]
        assert "#" in line, f"{notebook.name}: parameter on line {node.lineno} needs a comment"
    import papermill

    shown = papermill.inspect_notebook(str(notebook))
    names = [n.target.id for n in ast.parse(source).body]  # type: ignore[attr-defined]
    assert list(shown) == names, f"{notebook.name}: papermill --help-notebook cannot read every parameter line"


def test_notebooks_are_numbered() -> None:
    assert NOTEBOOKS, "the workbook has notebooks"
    assert all(re.match(r"^\d\d-[a-z0-9-]+\.ipynb$", n.name) for n in NOTEBOOKS)


def test_the_readme_commands_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    makefile = (ROOT / "Makefile").read_text()
    for target in re.findall(r"^\s*make (\w+)", readme, flags=re.M):
        assert re.search(rf"^{target}:", makefile, flags=re.M), f"README runs `make {target}`"
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_ruff_is_clean() -> None:
    ruff = Path(sys.executable).parent / "ruff"
    result = subprocess.run(
        [str(ruff), "check", "lib", "emulators", "tests", "benchmarks", "notebooks"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-3000:]
