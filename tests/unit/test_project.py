"""The project's own promises: two environments, each locked; notebooks committed clean and parameterised."""

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
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
ALL_NOTEBOOKS = NOTEBOOKS + sorted((ROOT / "benchmarks").glob("*.ipynb"))


def _name(requirement: str) -> str:
    """The normalised distribution name of a requirement string."""
    name = re.split(r"[\[<>=!~; ]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


#: The two environments: the workbook's (.venv) and LocalStack's (.venv-localstack), each its
#: folder with pyproject.toml, uv.lock, requirements.lock and environment.yml.
ENVIRONMENTS = {"workbook": ROOT, "localstack": ROOT / "emulators" / "localstack"}


def _lock(folder: Path) -> dict[str, str]:
    pins = {}
    for line in (folder / "requirements.lock").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        if match:
            pins.setdefault(_name(match.group(1)), match.group(2))
    return pins


def _declared(folder: Path) -> list[str]:
    project = tomllib.loads((folder / "pyproject.toml").read_text())
    return [*project["project"]["dependencies"], *project["dependency-groups"]["dev"]]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_environment_yml_names_the_same_packages_and_python_as_pyproject(environment: str) -> None:
    folder = ENVIRONMENTS[environment]
    env = yaml.safe_load((folder / "environment.yml").read_text())
    (pip_section,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    named = {_name(r) for r in pip_section if not r.startswith("-")}
    assert named == {_name(r) for r in _declared(folder)}
    assert "--constraint requirements.lock" in pip_section and "--editable ." in pip_section
    (python,) = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python")]
    requires = tomllib.loads((folder / "pyproject.toml").read_text())["project"]["requires-python"]
    expected = {"workbook": ("python>=3.11,<3.15", ">=3.11,<3.15"), "localstack": ("python=3.13", ">=3.13,<3.14")}
    assert (python, requires) == expected[environment]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_package_is_pinned_in_the_lock(environment: str) -> None:
    folder = ENVIRONMENTS[environment]
    pins = _lock(folder)
    missing = [r for r in _declared(folder) if _name(r) not in pins]
    assert not missing, f"not in {folder / 'requirements.lock'}: {missing}"
    assert len(pins) > 100, "the lock pins transitive dependencies too"
    if environment == "localstack":
        assert pins["localstack-core"] == "2026.3.0"
        assert int(pins["cbor2"].split(".")[0]) < 6, "cbor2 6 breaks LocalStack 2026.3.0's start"
    else:
        assert "localstack-core" not in pins, "the workbook imports no LocalStack code"
        assert pins["ministack"] == "1.5.33"
        sdk = tuple(int(part) for part in pins["botocore"].split(".")[:2])
        assert sdk >= (1, 44) and pins["boto3"] == pins["botocore"], "today's SDK (eventbridgev2), over ministack's pin"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_lock_agrees_with_uv_lock(environment: str) -> None:
    folder = ENVIRONMENTS[environment]
    uv = tomllib.loads((folder / "uv.lock").read_text())
    versions: dict[str, set[str]] = {}
    for package in uv["package"]:
        if "version" in package:
            versions.setdefault(_name(package["name"]), set()).add(package["version"])
    disagree = {n: (v, versions.get(n)) for n, v in _lock(folder).items() if v not in versions.get(n, set())}
    assert not disagree, f"run `make lock`: {disagree}"
    assert uv["options"]["exclude-newer"].startswith({"workbook": "2026-12-02", "localstack": "2026-04-01"}[environment])


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


# -- the Makefile: which environment each backend needs ----------------------------------------
def _make(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """make in this checkout on a machine without Python 3.13 (system Pythons only, empty pyenv),
    with LocalStack's environment not built (in tmp_path) and .venv taken as it is (-o)."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYENV_ROOT": str(tmp_path / "pyenv")}
    return subprocess.run(
        ["make", "-s", "-o", ".venv/.installed", f"LS_VENV={tmp_path / 'venv-localstack'}", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )


@pytest.mark.parametrize("target", ["run", "test", "setup-localstack"])
def test_without_python_313_make_says_so_once_and_names_both_ways_on(tmp_path: Path, target: str) -> None:
    result = _make(tmp_path, target)
    assert result.returncode != 0
    assert result.stderr.count("needs Python 3.13") == 1, result.stderr
    assert "pyenv install 3.13" in result.stderr and "BACKEND=ministack" in result.stderr
    assert not (tmp_path / "venv-localstack").exists(), "nothing half-built is left"


@pytest.mark.parametrize("target", ["run", "test"])
def test_the_ministack_half_needs_no_localstack_environment(tmp_path: Path, target: str) -> None:
    result = _make(tmp_path, "-n", target, "BACKEND=ministack")
    assert result.returncode == 0, result.stderr
    assert "venv-localstack" not in result.stdout.replace(f"{tmp_path}/venv-localstack", "")
    assert "find-python localstack" not in result.stdout
    if target == "run":
        assert "EVENTLAB_BACKEND=ministack .venv/bin/eventlab run" in result.stdout
    else:
        assert "for backend in ministack;" in result.stdout
        assert "tests/localstack" not in result.stdout, "the plugin's tests need LocalStack's environment"


def test_an_unknown_backend_is_refused_before_anything_is_built(tmp_path: Path) -> None:
    result = _make(tmp_path, "test", "BACKEND=minstack")
    assert result.returncode != 0
    assert "BACKEND=minstack is not a backend" in result.stderr and "localstack ministack" in result.stderr
    assert not (tmp_path / "venv-localstack").exists()


def test_a_failed_build_names_the_fix_and_is_not_stamped_ready(tmp_path: Path) -> None:
    """pip cannot reach an index (as without network): the build fails, says how to go on, and
    leaves no stamp, so neither make nor the library takes the environment for ready."""
    from eventlab.runtime import interpreters

    try:
        python = interpreters.find_for("localstack").path
    except interpreters.NoInterpreter:
        pytest.skip("no Python 3.13 on this machine to start the build with")
    venv = tmp_path / "venv-localstack"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "EVENTLAB_LOCALSTACK_PYTHON": python,
           "PIP_CONFIG_FILE": "/dev/null", "PIP_NO_INDEX": "1"}
    result = subprocess.run(
        ["make", "-s", "-o", ".venv/.installed", f"LS_VENV={venv}", "setup-localstack"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode != 0
    assert f"building {venv} failed" in result.stderr and "make setup-localstack" in result.stderr
    assert "BACKEND=ministack" in result.stderr
    assert (venv / "bin" / "python").exists() and not (venv / ".installed").exists()
