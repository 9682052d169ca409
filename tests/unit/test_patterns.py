"""The ready-made patterns: one registry the CLI reads, each a committed topology that validates."""

from __future__ import annotations

import argparse

import pytest

from eventlab import cli
from eventlab.patterns import ecommerce, notification_system
from eventlab.patterns.registry import PATTERNS
from eventlab.topology import Topology, validate


def test_the_cli_deploys_and_destroys_what_the_registry_lists() -> None:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for command in ("deploy", "destroy"):
        (pattern,) = [a for a in sub.choices[command]._actions if a.dest == "pattern"]
        assert sorted(pattern.choices) == sorted(PATTERNS) == ["ecommerce", "notification-system"]
    options = {a.dest for a in sub.choices["deploy"]._actions}
    assert {name for p in PATTERNS.values() for name in p.options} <= options


@pytest.mark.parametrize("module", [notification_system, ecommerce], ids=["notification-system", "ecommerce"])
def test_each_pattern_is_a_committed_topology_that_validates(module: object) -> None:
    validate(Topology.from_yaml(module.topology_path()))  # type: ignore[attr-defined]


def test_the_notification_systems_timeouts_are_checked_before_anything_is_built() -> None:
    from eventlab.topology import TopologyError

    with pytest.raises(TopologyError, match=r"visibility timeout \(3 s\) is shorter than the function timeout \(30 s\)"):
        validate(Topology.from_yaml(notification_system.topology_path(), {"visibility_timeout": 3, "function_timeout": 30}))


def test_a_pattern_refuses_options_it_does_not_take() -> None:
    with pytest.raises(ValueError, match="takes no option"):
        PATTERNS["notification-system"].deploy(None, {"analytics_url": "http://x"})  # type: ignore[arg-type]


def test_the_notification_system_can_run_the_articles_own_handler_and_mapping() -> None:
    built = Topology.from_yaml(notification_system.topology_path(), {"handler": "article.handler", "report_batch_item_failures": False})
    validate(built)
    (function,) = built.functions
    assert function.handler == "article.handler"
    assert [s.report_batch_item_failures for s in function.event_sources] == [False]
    assert (built.code_dir(function) / "article.py").is_file()
    (default,) = Topology.from_yaml(notification_system.topology_path()).functions
    assert default.handler == "main.handler" and default.event_sources[0].report_batch_item_failures is True
