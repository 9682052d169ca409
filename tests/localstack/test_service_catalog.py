"""The service catalog hook: LocalStack loads an index built in a child process instead of
building it in its own, which kept every AWS service specification (about 370 MB) resident."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from localstack import config
from localstack.aws import spec

from eventlab_localstack import catalog


@pytest.fixture(scope="module")
def environment_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The environment's shared folder, empty at first (one build for the module, ~20 s)."""
    folder = tmp_path_factory.mktemp("environment")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(catalog, "shared_dir", lambda: folder)
        yield folder


def state_folder(root: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A new state folder's static-libs and cache folders, as LocalStack's config names them."""
    static, cache = root / "usr" / "lib" / "localstack", root / "var" / "lib" / "localstack" / "cache"
    cache.mkdir(parents=True)
    monkeypatch.setattr(config.dirs, "static_libs", str(static))
    monkeypatch.setattr(config.dirs, "cache", str(cache))
    return static, cache


def test_the_index_is_built_in_a_child_and_put_where_localstack_looks_first(
        environment_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    static, _ = state_folder(tmp_path, monkeypatch)
    specs_loaded = len(spec.loader._cache)

    installed = catalog.ensure_index()

    # the path get_service_catalog() tries first, so LocalStack loads it instead of building one
    assert installed == static / spec._get_catalog_filename()
    assert (environment_dir / installed.name).is_file()
    assert "sqs" in spec.load_service_index_cache(str(installed)).service_names
    # ... and this process loaded no service specification to build it: the child did
    assert len(spec.loader._cache) == specs_loaded


def test_a_new_state_folder_gets_the_environments_index_without_a_build(
        environment_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    catalog.shared_index()  # built by the test above, or now
    static, _ = state_folder(tmp_path, monkeypatch)
    monkeypatch.setattr(catalog, "build", lambda target: pytest.fail("built again"))

    assert catalog.ensure_index() == static / spec._get_catalog_filename()


def test_an_index_localstack_already_has_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    static, cache = state_folder(tmp_path, monkeypatch)
    (cache / spec._get_catalog_filename()).write_bytes(b"cached")
    monkeypatch.setattr(catalog, "shared_index", lambda: pytest.fail("copied over"))

    assert catalog.ensure_index() == cache / spec._get_catalog_filename()
    assert not static.exists()


def test_a_failed_build_leaves_localstack_to_build_it_with_a_warning(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    static, _ = state_folder(tmp_path, monkeypatch)
    monkeypatch.setattr(catalog, "shared_dir", lambda: tmp_path / "environment")

    def fails(*args: object, **kwargs: object) -> None:
        raise subprocess.CalledProcessError(1, "python", stderr="ModuleNotFoundError: dill")

    monkeypatch.setattr(catalog.subprocess, "run", fails)
    with caplog.at_level(logging.WARNING, logger=catalog.__name__):
        catalog.install_index()  # no exception: LocalStack starts, and builds the index itself

    assert "builds it in its own process" in caplog.text and "dill" in caplog.text
    assert not (static / spec._get_catalog_filename()).exists()
    assert not any((tmp_path / "environment").iterdir())  # no half-written index left behind
