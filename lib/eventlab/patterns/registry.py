"""The ready-made patterns by the name ``eventlab deploy`` takes: what each builds, its options,
what it prints. The CLI reads this table; a new pattern is one entry here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from eventlab.patterns import ecommerce, notification_system
from eventlab.run import Run


@dataclass(frozen=True)
class Option:
    """One ``--name`` of ``eventlab deploy`` (underscores become dashes); None: the pattern's default."""

    help: str
    default: str | None = None


@dataclass(frozen=True)
class Pattern:
    """A ready-made topology: ``build`` creates it under a run and returns its outputs (ARNs,
    URLs, names, and the run id a later ``eventlab destroy`` deletes it by)."""

    name: str
    summary: str
    build: Callable[[Run, Mapping[str, str]], dict[str, str]]
    options: Mapping[str, Option] = field(default_factory=dict)

    def option_help(self, name: str) -> str:
        option = self.options[name]
        return f"{option.help}, default {option.default}" if option.default is not None else option.help

    def deploy(self, run: Run, values: Mapping[str, str | None]) -> dict[str, str]:
        """Build it under ``run`` with ``values`` for its options (None: the default)."""
        unknown = sorted(set(values) - set(self.options))
        if unknown:
            raise ValueError(f"{self.name} takes no option(s) {unknown}; it takes {sorted(self.options)}")
        chosen = {name: value for name, value in values.items() if value is not None}
        defaults = {name: option.default for name, option in self.options.items() if option.default is not None}
        return {"run_id": run.run_id, **self.build(run, {**defaults, **chosen})}


def _notification_system(run: Run, values: Mapping[str, str]) -> dict[str, str]:
    return notification_system.deploy(run, admin_email=values["admin_email"], sender=values["sender"]).outputs()


def _ecommerce(run: Run, values: Mapping[str, str]) -> dict[str, str]:
    shop = ecommerce.deploy(run, analytics_url=values.get("analytics_url"), sender=values["sender"])
    return shop.handles.outputs()


PATTERNS: dict[str, Pattern] = {
    pattern.name: pattern
    for pattern in (
        Pattern(
            "notification-system",
            "the article's SNS -> SQS -> Lambda -> SES notification system, with its DLQ",
            _notification_system,
            {
                "admin_email": Option("who receives the notifications", "admin@example.com"),
                "sender": Option("the SES identity that sends them", "alerts@example.com"),
            },
        ),
        Pattern(
            "ecommerce",
            "the article's order-fulfilment pipeline across every service",
            _ecommerce,
            {
                "sender": Option("the SES identity that sends order emails", "orders@example.com"),
                "analytics_url": Option("the analytics tool's HTTP endpoint (SNS subscribes it)"),
            },
        ),
    )
}
