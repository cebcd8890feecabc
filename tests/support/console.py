"""A signed-in console session over HTTP, for tests of the web console."""

from __future__ import annotations

import re

import httpx

from tests.support.server import ACCESS_KEY, REGION, SECRET_KEY

__all__ = ["csrf_of", "sign_in", "signed_in"]

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def sign_in(
    client: httpx.Client, key: str = ACCESS_KEY, secret: str = SECRET_KEY, region: str = REGION
) -> httpx.Response:
    form = client.get("/console/signin")
    return client.post(
        "/console/signin",
        data={
            "csrf": csrf_of(form.text),
            "next": "/console/clusters",
            "accessKeyId": key,
            "secretAccessKey": secret,
            "region": region,
        },
    )


def signed_in(endpoint: str) -> httpx.Client:
    client = httpx.Client(base_url=endpoint, timeout=30)
    answer = sign_in(client)
    assert answer.status_code == 303, answer.text
    return client
