"""Fixtures of the simulator tests (the CA and server context come from tests/conftest.py)."""

from __future__ import annotations

import ssl

import pytest
import trustme


@pytest.fixture(scope="session")
def client_tls(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx
