"""What detection shows of itself in the metrics and the logs: each probe's result in its
service's series, and the leader's judgement: each service's state gauges, one log line per
bad run, one per decision of the outage rule or the degraded tier, and which vantages still
report.

Nothing here decides: the sample writer and the detector (beside this file) hand over what
they stored and judged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from outagewatch.config.targets import Target
from outagewatch.detection.rule import Event, Opened, RuleState
from outagewatch.durations import format_duration
from outagewatch.logs import hhmmss
from outagewatch.metrics import Metrics
from outagewatch.metrics.exposition import Labels
from outagewatch.probes import ProbeResult

# The detector's logger: operators filter its decisions by this name.
log = logging.getLogger("outagewatch.detector")
Key = tuple[str, str]  # (platform, service)


@dataclass
class DetectionExport:
    metrics: Metrics
    vantage: str
    # When each service's bad run began, as last logged: one line per run, not per round.
    _bad_logged: dict[Key, datetime | None] = field(default_factory=dict, init=False)

    def _labels(self, target: Target) -> Labels:
        """The labels of a service's series as measured from this vantage."""
        return target.platform, target.service_id, target.service.protocol, self.vantage

    def probe(self, target: Target, result: ProbeResult) -> None:
        """One probe's result in its service's series, once it is stored."""
        slow_after = target.rules.slow_after.total_seconds()
        self.metrics.observe_probe(self._labels(target), result, slow_after)

    def reset(self) -> None:
        """Forget what was logged (the judgement starts again)."""
        self._bad_logged = {}

    def keep_only(self, keys: set[Key]) -> None:
        """Forget what was logged of services no longer configured."""
        for key in set(self._bad_logged) - keys:
            del self._bad_logged[key]

    def forget_service(self, target: Target) -> None:
        """A service the config no longer has: its series end rather than go stale."""
        self.metrics.forget_service(self._labels(target))

    def service(
        self,
        target: Target,
        own: RuleState,
        bad_for: timedelta,
        *,
        in_outage: bool,
        in_window: bool,
        degraded: bool,
    ) -> None:
        """One service's state gauges after a judgement (``own``: this vantage's state), and
        a warning when a bad run or outage begins."""
        key = target.key
        self.metrics.export_judgement(
            self._labels(target),
            bad_for.total_seconds(),
            in_outage,
            in_window,
            degraded and not in_outage,
        )
        since = own.outage.started_at if own.outage else own.bad_since
        if (bad_for > timedelta(0) or in_outage) and since is not None:
            if self._bad_logged.get(key) != since:
                self._bad_logged[key] = since
                log.warning(
                    "service %s on %s bad since %s",
                    target.service_id,
                    target.platform,
                    hhmmss(since),
                    extra=_fields(target),
                )
        elif not (bad_for > timedelta(0) or in_outage):
            self._bad_logged.pop(key, None)

    def decision(self, target: Target, event: Event, tier: str = "outage") -> None:
        """The log line of a new service-level event of the outage rule or a lower tier."""
        if isinstance(event, Opened):
            log.log(
                logging.ERROR if tier == "outage" else logging.WARNING,
                "%s declared: %s on %s, bad since %s, detected at %s",
                tier,
                target.service_id,
                target.platform,
                hhmmss(event.started_at),
                hhmmss(event.detected_at),
                extra=_fields(target),
            )
        else:
            log.warning(
                "%s: %s on %s at %s after %s",
                "restored" if tier == "outage" else f"no longer {tier}",
                target.service_id,
                target.platform,
                hhmmss(event.restored_at),
                format_duration(
                    timedelta(seconds=round((event.restored_at - event.started_at).total_seconds()))
                ),
                extra=_fields(target),
            )

    def vantages(self, up: set[str], vantages: Iterable[str]) -> None:
        """``outagewatch_vantage_up`` of every configured vantage: 1 for those in ``up``."""
        for vantage in vantages:
            self.metrics.vantage_up.labels(vantage).set(1 if vantage in up else 0)


def _fields(target: Target) -> dict[str, str]:
    return {"platform": target.platform, "service": target.service_id}
