"""Load and validate the YAML config into frozen, typed models (DESIGN section 6)."""

from outagewatch.config.dns import DnsSettings
from outagewatch.config.load import (
    ConfigError,
    load_config,
    parse_config,
    read_secret,
    secret_file_warnings,
    secret_problems,
)
from outagewatch.config.model import Api, Config, Oncall, Relay
from outagewatch.config.platforms import Lists, Platform
from outagewatch.config.rules import Rules, RulesOverride, merge_rules
from outagewatch.config.services import (
    Auth,
    DnsblService,
    HttpLogin,
    HttpService,
    ImapService,
    MailauthService,
    Pop3Service,
    RoundtripService,
    SecretRef,
    Service,
    SmtpService,
)

__all__ = [
    "Api",
    "Auth",
    "Config",
    "ConfigError",
    "DnsSettings",
    "DnsblService",
    "HttpLogin",
    "HttpService",
    "ImapService",
    "Lists",
    "MailauthService",
    "Oncall",
    "Platform",
    "Pop3Service",
    "Relay",
    "RoundtripService",
    "Rules",
    "RulesOverride",
    "SecretRef",
    "Service",
    "SmtpService",
    "load_config",
    "merge_rules",
    "parse_config",
    "read_secret",
    "secret_file_warnings",
    "secret_problems",
]
