"""hypothesis over the console's forms and every page's path: whatever a browser, or
something posing as one, sends (any text in any field, stray fields, a missing or wrong
CSRF token, a body that is not the form it claims to be, any path segment), the answer is
a page or a refusal, never a 5xx, and nothing the server logged is a traceback.

The server is tests/api/fuzz_server.py: the real application in a thread of its own, with
the status page, the console and the API on, and an open incident to act on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import quote

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ..api.fuzz_server import FuzzServer, fuzz_server

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
EXAMPLES = 40
FORMS = {  # the console's forms and the fields each one's model reads
    "/console/incidents/{ref}/ack": ("note",),
    "/console/incidents/{ref}/update": ("message", "user_impact", "etr", "update_every",
                                        "severity"),
    "/console/incidents/{ref}/restore": ("note",),
    "/console/incidents/{ref}/close": ("note",),
    "/console/maintenance": ("platform", "services", "kind", "starts_at", "ends_at",
                             "expected_impact"),
    "/console/maintenance/{ref}/finish": ("successful", "note"),
    "/console/sign-in": ("token", "next"),
}  # fmt: skip
# Text a form can carry: anything UTF-8 can encode (no lone surrogates), also empty.
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=300)
VALUES = st.one_of(
    TEXT,
    st.sampled_from(["2026-11-30T18:30", "2026-11-30T18:30:00+00:00", "1999-01-01T00:00",
                     "30m", "0s", "-1h", "1", "5", "true", "false", "eu-de-1", "imap",
                     "planned", "emergency", "/console", "//evil.example", "x" * 5000]),
)  # fmt: skip
PAGES = [
    "/status", "/status/{x}", "/status/eu-de-1/incidents/{x}", "/status/{x}/feed.atom",
    "/status/{x}/maintenance.ics", "/console/incidents/{x}", "/console/maintenance?state={x}",
    "/console/sign-in?next={x}", "/console/partials/incidents?{x}", "/api/v1/incidents/{x}",
    "/api/v1/incidents?state={x}", "/api/v1/maintenances?platform={x}", "/metrics?{x}",
    "/{x}",
]  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzServer]:
    with fuzz_server(tmp_path_factory.mktemp("console-fuzz")) as running:
        yield running


def _csrf(response: requests.Response) -> str:
    found = CSRF.search(response.text)
    assert found, response.text[:500]
    return found.group(1)


@pytest.fixture(scope="module")
def browser(server: FuzzServer) -> tuple[requests.Session, str]:
    """A session signed in as admin, and its CSRF token."""
    session = requests.Session()
    form = session.get(f"{server.base}/console/sign-in", timeout=10)
    data = {"csrf": _csrf(form), "token": server.token, "next": "/console"}
    home = session.post(f"{server.base}/console/sign-in", data=data, timeout=10)
    assert home.status_code == 200 and home.url.endswith("/console"), home.text[:500]
    return session, _csrf(home)


@pytest.fixture(autouse=True)
def fresh_log(server: FuzzServer) -> None:
    server.log.records.clear()  # each test answers for what it caused


def _no_server_error(response: requests.Response) -> None:
    assert response.status_code < 500, (response.request.method, response.url, response.text)


def test_the_console_forms_take_anything(
    server: FuzzServer, browser: tuple[requests.Session, str]
) -> None:
    session, csrf = browser

    @given(
        form=st.sampled_from(sorted(FORMS)),
        data=st.data(),
        token=st.sampled_from(["valid", "valid", "valid", "", "stale"]),
        ref=st.one_of(st.just(server.ref), st.just("MW-20261123-0001"), TEXT),
    )
    @settings(max_examples=EXAMPLES * len(FORMS), deadline=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def posts(form: str, data: st.DataObject, token: str, ref: str) -> None:
        fields = {name: data.draw(VALUES, label=name)
                  for name in data.draw(st.sets(st.sampled_from(FORMS[form])))}  # fmt: skip
        fields.update(data.draw(st.dictionaries(TEXT, TEXT, max_size=3), label="stray"))
        fields["csrf"] = {"valid": csrf, "": "", "stale": "x" * 43}[token]
        url = server.base + form.replace("{ref}", quote(ref, safe="") or "x")
        _no_server_error(session.post(url, data=fields, allow_redirects=False, timeout=10))

    posts()
    assert server.log.tracebacks() == []


BODY_TYPES = [
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=latin-1",
    "application/x-www-form-urlencoded; charset=no-such-charset",
    "multipart/form-data; boundary=b",
    "multipart/form-data",
    "text/plain",
    "application/json",
]


def test_a_body_that_is_not_the_form_it_claims_is_refused(
    server: FuzzServer, browser: tuple[requests.Session, str]
) -> None:
    session, csrf = browser

    @given(
        form=st.sampled_from(sorted(FORMS)),
        kind=st.sampled_from(BODY_TYPES),
        body=st.one_of(
            st.binary(max_size=400),
            st.builds(lambda raw: f"csrf={csrf}&".encode() + raw, st.binary(max_size=200)),
            st.builds(
                lambda raw: b'--b\r\nContent-Disposition: form-data; name="' + raw,
                st.binary(max_size=200),
            ),
        ),
    )
    @settings(max_examples=EXAMPLES * 4, deadline=None, suppress_health_check=list(HealthCheck))
    def posts(form: str, kind: str, body: bytes) -> None:
        url = server.base + form.replace("{ref}", server.ref)
        response = session.post(url, data=body, headers={"Content-Type": kind},
                                allow_redirects=False, timeout=10)  # fmt: skip
        _no_server_error(response)

    posts()
    assert server.log.tracebacks() == []


def test_every_page_takes_any_path_segment(
    server: FuzzServer, browser: tuple[requests.Session, str]
) -> None:
    session, _ = browser
    bearer = {"Authorization": f"Bearer {server.token}"}

    @given(page=st.sampled_from(PAGES), segment=TEXT)
    @settings(max_examples=EXAMPLES * 4, deadline=None, suppress_health_check=list(HealthCheck))
    def gets(page: str, segment: str) -> None:
        url = server.base + page.replace("{x}", quote(segment, safe="") or "x")
        _no_server_error(session.get(url, headers=bearer, allow_redirects=False, timeout=10))

    gets()
    assert server.log.tracebacks() == []
