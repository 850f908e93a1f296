"""The certificate warning loop: read what the vantages saw, decide, enqueue on-call mail.

One pass a minute is plenty for thresholds counted in days; the decision is
certificates/decisions.py's, the mail an outbox row like every other on-call notification.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from email.utils import parseaddr

from sqlalchemy.ext.asyncio import AsyncEngine

from outagewatch.certificates import store as store
from outagewatch.certificates.decisions import Kind, Policy, Seen, decide
from outagewatch.config import Config
from outagewatch.config.channels import ChannelName
from outagewatch.notify.outbox import Notification, enqueue
from outagewatch.tls.facts import TlsFacts

PASS_EVERY = timedelta(minutes=1)
DAY = timedelta(days=1)
SUBJECTS: dict[Kind, str] = {
    "certificate_warn": "certificate {expires}",
    "certificate_critical": "certificate {expires} (critical)",
    "certificate_replaced": "certificate replaced, now valid until {until}",
}


class CertificateEngine:
    """``config`` is fixed, or where to read the current one (the daemon's runtime, which a
    reload replaces): every pass reads it anew."""

    def __init__(self, engine: AsyncEngine, config: Config | Callable[[], Config]) -> None:
        self.engine = engine
        self._config: Callable[[], Config] = config if callable(config) else (lambda: config)
        self.next_pass: datetime | None = None
        self._passed_with: Config | None = None  # the config of the last pass

    @property
    def config(self) -> Config:
        return self._config()

    @property
    def policy(self) -> Policy:
        return Policy(self.config.tls.warn_before, self.config.tls.critical_before)

    @property
    def domain(self) -> str:
        smtp = self.config.smtp
        sender = parseaddr(smtp.sender)[1] if smtp is not None else ""
        return sender.rpartition("@")[2] or "outagewatch.invalid"

    async def step(self, now: datetime, *, news: bool = False) -> bool:
        """One pass when due, or at once when this vantage saw a certificate change
        (``news``) or the config is new (a reload); True when it enqueued a mail."""
        config = self.config
        due = news or config is not self._passed_with or now >= (self.next_pass or now)
        if config.oncall is None or not due:
            return False
        self.next_pass, self._passed_with = now + PASS_EVERY, config
        told_any, policy = False, self.policy
        async with self.engine.begin() as conn:
            told = await store.all_told(conn)
            for key, facts in _most_urgent(await store.all_seen(conn), config).items():
                seen = Seen(facts.fingerprint, facts.leaf_not_before, facts.chain_not_after)
                decision = decide(seen, told.get(key), policy, now)
                if decision is None:
                    continue
                for kind in decision.tell:
                    for n in self._notifications(key, facts, kind, now):
                        await enqueue(conn, n, now)
                        told_any = True
                await store.save_told(conn, key, decision.remember, now)
        return told_any

    def _notifications(
        self, key: tuple[str, str], facts: TlsFacts, kind: Kind, now: datetime
    ) -> list[Notification]:
        platform, service = key
        oncall = self.config.oncall
        assert oncall is not None
        until = f"{facts.chain_not_after:%Y-%m-%d %H:%M} UTC"
        subject = f"[on-call] {platform}/{service}: " + SUBJECTS[kind].format(
            expires=_expires(facts.chain_not_after - now), until=until
        )
        body = "\n".join([
            subject.removeprefix("[on-call] "),
            "",
            *facts.lines(now),
            f"fingerprint {facts.fingerprint}",
            "",
            "Only on-call receives this; customers are not told.",
        ]) + "\n"  # fmt: skip
        mid = f"<cert.{platform}.{service}.{facts.fingerprint[:16]}.{kind}@{self.domain}>"
        # Mail only: the paging and chat channels follow incidents (notify/channels/), and a
        # certificate that is still valid is no incident to trigger and resolve.
        targets: list[tuple[ChannelName, str, str]] = [("mail", oncall.email, mid)]
        return [
            Notification(
                thread=f"certificate:{platform}/{service}",
                incident_id=None,
                kind=kind,
                audience="oncall",
                channel=channel,
                recipients=(target,),
                subject=subject,
                body_text=body,
                message_id=message_id,
            )
            for channel, target, message_id in targets
        ]


def _expires(left: timedelta) -> str:
    span = abs(left)
    amount = f"{span.days} days" if span >= 2 * DAY else f"{span.total_seconds() // 3600:.0f} hours"
    return f"expires in {amount}" if left > timedelta(0) else f"EXPIRED {amount} ago"


def _most_urgent(
    seen: dict[store.Key, tuple[TlsFacts, datetime]], config: Config
) -> dict[tuple[str, str], TlsFacts]:
    """Per configured service, the certificate of any vantage that expires first."""
    found: dict[tuple[str, str], TlsFacts] = {}
    for (platform, service, _), (facts, _) in seen.items():
        if platform not in config.platforms or service not in config.platforms[platform].services:
            continue  # a service no longer configured
        current = found.get((platform, service))
        if current is None or facts.chain_not_after < current.chain_not_after:
            found[(platform, service)] = facts
    return found
