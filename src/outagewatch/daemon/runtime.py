"""The runtime: everything the daemon's parts take from the config, made by one function from
a validated config, and the one holder through which every part reads the current one.

A reload (daemon/reload.py) builds a whole new runtime and swaps it in with one assignment,
as blackbox_exporter swaps its config under a lock; nothing running is patched field by
field. Parts never keep a value of a runtime: the sender, the engines, the API and the web
ask the holder whenever they act, so a setting added to the config later reaches them with
no reload code of its own. What the parts learn while running (judgements, incidents, relay
health, sessions, probe timers) is their own state and carries over a swap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from jinja2 import Environment

from outagewatch.config import Config, ConfigError, read_secret, secret_problems
from outagewatch.config.targets import Target, targets_of
from outagewatch.daemon.pacing import Pace
from outagewatch.incidents.engine import Audiences, audiences
from outagewatch.notify.channels import build_all
from outagewatch.notify.delivery import Delivery
from outagewatch.notify.template_check import checked_templates


@dataclass(frozen=True)
class Runtime:
    config: Config  # the web settings and the policies (retention, tls, maintenance) are read here
    targets: list[Target]  # every monitored service with its rules; the probes and the judgement
    templates: Environment | None  # the mail templates as checked; None: the shipped ones
    audiences: Audiences  # per platform: lists, cadences, on-call, channels and templates
    delivery: Delivery = field(repr=False)  # relays and channels, with their secrets
    pace: Pace  # when detection rounds run
    settle: timedelta  # how long after a sample no earlier probe can still report

    @property
    def probed(self) -> list[Target]:
        """The services this instance's vantage probes."""
        return [t for t in self.targets if t.probed_here]


def build_runtime(config: Config) -> Runtime:
    """The runtime of a validated config. Reads the secrets and renders every mail template:
    ConfigError with one line per problem when a secret is missing or a template fails."""
    templates, template_problems = checked_templates(config.templates_dir)
    problems = [*secret_problems(config), *template_problems]
    if problems:
        raise ConfigError(problems)
    targets = targets_of(config)
    return Runtime(
        config=config,
        targets=targets,
        templates=templates,
        audiences=audiences(config, templates),
        delivery=delivery_of(config),
        pace=Pace.of(targets),
        settle=max(t.rules.lateness for t in targets),
    )


def delivery_of(config: Config) -> Delivery:
    """How the outbox leaves: the relays with their passwords, the channels' transports."""
    smtp, outbox = config.smtp, config.outbox
    endpoints = smtp.endpoints if smtp is not None else []
    timeout = outbox.send_timeout.total_seconds()
    return Delivery(
        relay=smtp,
        passwords=tuple(read_secret(e.secret) if e.secret else None for e in endpoints),
        transports=build_all(config.all_channels, timeout),
        channels=config.all_channels,
        lease=outbox.lease,
        backoff_base=outbox.retry_base,
        backoff_cap=outbox.retry_cap,
        send_timeout=timeout,
        relay_check=outbox.relay_check,
        failover_after=outbox.failover_after,
    )


class Current:
    """The holder of the current runtime: one reference, replaced in one step. Every part
    reads through it (``current()``); none keeps what it read beyond the step it acts in."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def __call__(self) -> Runtime:
        return self._runtime

    def swap(self, new: Runtime) -> Runtime:
        """Make ``new`` the current runtime; returns the one it replaces."""
        old, self._runtime = self._runtime, new
        return old
