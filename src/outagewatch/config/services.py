"""The ``services:`` of a platform: one model per protocol, told apart by ``protocol``."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyAddress,
    field_validator,
    model_validator,
)

from outagewatch.config.dns import DnsName, DnsSettings
from outagewatch.config.rules import RulesOverride
from outagewatch.config.slo import SloOverride
from outagewatch.tls.contexts import TlsMode


def _port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise ValueError("must be 1-65535")
    return value


Port = Annotated[int, AfterValidator(_port)]
Severity = Annotated[int, Field(ge=1, le=4)]
Host = Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.:_\[\]-]+$")]
CLEARTEXT = (
    "would send the password in clear text; use tls: starttls or implicit (https:// for a"
    " login form), or say allow_cleartext_auth: true if that is really meant"
)


def cleartext_auth(host: str | None, tls: str, has_auth: bool, allowed: bool) -> bool:
    """A password would cross the network unencrypted (loopback never leaves the host)."""
    if not has_auth or tls != "none" or allowed or host is None:
        return False
    host = host.strip("[]")
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True  # a name: it may resolve anywhere


# A bare address (platforms.py has the stricter one for lists; it imports this module).
Address = Annotated[str, Field(max_length=320, pattern=r"^[^@\s<>\"]+@[A-Za-z0-9.-]+$")]


class SecretRef(BaseModel):
    """Where a secret lives. The YAML never holds the secret itself."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    password_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    password_file: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_inline_password(cls, data: Any) -> Any:
        if isinstance(data, dict) and "password" in data:
            raise ValueError(
                "a password never goes into the YAML: "
                "name an environment variable (password_env) or a file (password_file)"
            )
        return data

    @model_validator(mode="after")
    def _exactly_one_source(self) -> SecretRef:
        if (self.password_env is None) == (self.password_file is None):
            raise ValueError("give exactly one of password_env or password_file")
        return self


class Auth(SecretRef):
    username: str = Field(min_length=1, max_length=320)
    # The SASL mechanism for SMTP AUTH and IMAP AUTHENTICATE; by default the probe chooses
    # (SMTP: the best the server offers; IMAP: LOGIN, or AUTHENTICATE PLAIN if LOGINDISABLED).
    mechanism: Literal["plain", "login"] | None = None


class _Service(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # The name customers know the service by, in mail subjects ("IMAP", "Web-Mail").
    label: str | None = Field(default=None, min_length=1, max_length=40, pattern=r"^[^\r\n]+$")
    severity: Severity = 2
    tls_verify: bool = True
    ca_file: Path | None = None
    rules: RulesOverride | None = None
    slo: SloOverride | None = None
    auth: Auth | None = None
    # Which instances probe it (default: every vantage of the deployment), and how many of
    # them must judge it in outage (default: a majority of those).
    vantages: Annotated[list[str], Field(min_length=1)] | None = None
    quorum: Annotated[int, Field(ge=1, le=100)] | None = None
    # A password sent without TLS to a host beyond loopback is refused unless this says so.
    allow_cleartext_auth: bool = False

    default_severity: ClassVar[int] = 2
    default_label: ClassVar[str] = ""

    @property
    def display(self) -> str:
        return self.label or self.default_label

    @model_validator(mode="before")
    @classmethod
    def _protocol_severity(cls, data: Any) -> Any:
        if isinstance(data, dict) and "severity" not in data:
            return {**data, "severity": cls.default_severity}
        return data


class _SocketService(_Service):
    host: Host
    port: Port | None = None
    tls: TlsMode = "none"

    default_ports: ClassVar[dict[str, int]] = {}

    @model_validator(mode="after")
    def _no_cleartext_password(self) -> _SocketService:
        if cleartext_auth(self.host, self.tls, self.auth is not None, self.allow_cleartext_auth):
            raise ValueError(f"tls: none with auth {CLEARTEXT}")
        return self

    @property
    def effective_port(self) -> int:
        return self.port if self.port is not None else self.default_ports[self.tls]

    @property
    def target(self) -> str:
        return f"{self.host}:{self.effective_port}"


class HttpLogin(BaseModel):
    """An optional login form POSTed after the GET, with the service's ``auth`` credentials."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    username_field: str = "username"
    password_field: str = "password"  # noqa: S105 - a form field name, not a secret
    expect_status: Annotated[int, Field(ge=100, le=599)] = 200
    expect_body: str | None = None


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    return url


class HttpService(_Service):
    protocol: Literal["http"]
    default_label: ClassVar[str] = "Web-Mail"
    url: str
    expect_status: Annotated[int, Field(ge=100, le=599)] = 200
    expect_body: str | None = None
    login: HttpLogin | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_url(value)

    @model_validator(mode="after")
    def _login_needs_auth(self) -> HttpService:
        if self.login is not None:
            _check_url(self.login.url)
            if self.auth is None:
                raise ValueError("login needs auth (username and password_env or password_file)")
            parts = urlsplit(self.login.url)
            tls = "none" if parts.scheme == "http" else "implicit"
            if cleartext_auth(parts.hostname, tls, True, self.allow_cleartext_auth):
                raise ValueError(f"login.url: an http:// login {CLEARTEXT}")
        return self

    @property
    def target(self) -> str:
        return self.url


class SmtpService(_SocketService):
    protocol: Literal["smtp"]
    default_label: ClassVar[str] = "SMTP"
    ehlo_name: str | None = None
    default_ports: ClassVar[dict[str, int]] = {"none": 25, "starttls": 587, "implicit": 465}


class ImapService(_SocketService):
    protocol: Literal["imap"]
    default_label: ClassVar[str] = "IMAP"
    mailbox: str = "INBOX"
    default_ports: ClassVar[dict[str, int]] = {"none": 143, "starttls": 143, "implicit": 993}


class Pop3Service(_SocketService):
    protocol: Literal["pop3"]
    default_label: ClassVar[str] = "POP3"
    default_severity: ClassVar[int] = 3
    default_ports: ClassVar[dict[str, int]] = {"none": 110, "starttls": 110, "implicit": 995}


class _Endpoint(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: Host
    port: Port | None = None
    tls: TlsMode = "starttls"
    auth: Auth | None = None  # default: the round trip's own ``auth``


class SubmitEndpoint(_Endpoint):
    """Where the probe mail is submitted (SMTP submission, with STARTTLS by default)."""


class MailboxEndpoint(_Endpoint):
    """Where it must arrive (IMAP); ``junk`` is looked in too (null: not at all)."""

    folder: str = "INBOX"
    junk: str | None = "Junk"


class RoundtripService(_Service):
    """A probe mail submitted through SMTP and found through IMAP (DESIGN section 10)."""

    protocol: Literal["roundtrip"]
    default_label: ClassVar[str] = "Mail delivery"
    submit: SubmitEndpoint
    mailbox: MailboxEndpoint
    recipient: Address | None = None  # default: the mailbox's username
    sender: Address | None = None  # default: the submission username, else the recipient
    # Read the delivered mail's Authentication-Results: SPF, DKIM and DMARC must pass.
    expect_auth: bool = False

    @model_validator(mode="after")
    def _mailbox_needs_a_login(self) -> RoundtripService:
        if self.mailbox_auth is None:
            raise ValueError("the mailbox needs auth (here or in mailbox.auth) to find the mail")
        if self.recipient is None and "@" not in self.mailbox_auth.username:
            raise ValueError("give recipient: the mailbox username is not a mail address")
        for name, end, auth in (("submit", self.submit, self.submit_auth),
                                ("mailbox", self.mailbox, self.mailbox_auth)):  # fmt: skip
            if cleartext_auth(end.host, end.tls, auth is not None, self.allow_cleartext_auth):
                raise ValueError(f"{name}: tls: none with auth {CLEARTEXT}")
        return self

    @property
    def submit_auth(self) -> Auth | None:
        return self.submit.auth or self.auth

    @property
    def mailbox_auth(self) -> Auth | None:
        return self.mailbox.auth or self.auth

    @property
    def smtp(self) -> SmtpService:
        s = self.submit
        return SmtpService(
            protocol="smtp", host=s.host, port=s.port, tls=s.tls, tls_verify=self.tls_verify,
            ca_file=self.ca_file, auth=self.submit_auth,
            allow_cleartext_auth=self.allow_cleartext_auth,
        )  # fmt: skip

    @property
    def imap(self) -> ImapService:
        m = self.mailbox
        return ImapService(
            protocol="imap", host=m.host, port=m.port, tls=m.tls, tls_verify=self.tls_verify,
            ca_file=self.ca_file, auth=self.mailbox_auth, mailbox=m.folder,
            allow_cleartext_auth=self.allow_cleartext_auth,
        )  # fmt: skip

    @property
    def target(self) -> str:
        return f"{self.smtp.target} -> {self.imap.target}"


class DnsblService(_Service):
    """The platform's outbound addresses, asked of DNS blocklists (probes/dnsbl.py)."""

    protocol: Literal["dnsbl"]
    default_label: ClassVar[str] = "Blocklists"
    addresses: Annotated[list[IPvAnyAddress], Field(min_length=1, max_length=64)]
    zones: Annotated[list[DnsName], Field(min_length=1, max_length=32)]
    dns: DnsSettings = DnsSettings()

    @property
    def target(self) -> str:
        return f"{len(self.addresses)} address(es) in {', '.join(self.zones)}"


Selector = Annotated[str, Field(max_length=63, pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")]


class MailauthService(_Service):
    """SPF, DMARC, DKIM keys and optionally MTA-STS and TLS-RPT of a mail domain
    (probes/mailauth.py). ``ca_file``/``tls_verify`` apply to the MTA-STS policy's HTTPS;
    ``mta_sts_port`` replaces its port 443 (a rehearsal or a test)."""

    protocol: Literal["mailauth"]
    default_label: ClassVar[str] = "Mail authentication"
    domain: DnsName
    dkim_selectors: Annotated[list[Selector], Field(max_length=16)] = []
    mta_sts: bool = False
    mta_sts_port: Port | None = None
    dns: DnsSettings = DnsSettings()

    @property
    def target(self) -> str:
        return self.domain


Service = Annotated[
    HttpService
    | SmtpService
    | ImapService
    | Pop3Service
    | RoundtripService
    | DnsblService
    | MailauthService,
    Field(discriminator="protocol"),
]
PROTOCOLS = ("http", "smtp", "imap", "pop3", "roundtrip", "dnsbl", "mailauth")
# Their failures say the platform is unwell, not that users cannot reach it: they make the
# service degraded and tell on-call, and never count towards an outage (no customer mail).
HEALTH_PROTOCOLS = frozenset({"dnsbl", "mailauth"})
