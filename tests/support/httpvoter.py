"""A phone talking HTTP to a real server: its own cookie jar, plain form posts."""

from __future__ import annotations

import re

import httpx

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
RECEIPT_RE = re.compile(r'id="receipt">([0-9A-Z-]+)<')


class Phone:
    def __init__(self, base: str):
        # Drop idle connections before the server's 5 s keep-alive does, as browsers do. Plain
        # HTTP on loopback: verify=False skips building a TLS context (~25 ms a client).
        self.http = httpx.Client(
            base_url=base, follow_redirects=False, timeout=60, verify=False, limits=httpx.Limits(keepalive_expiry=2)
        )
        self.token = None

    def enter(self, code: str) -> int:
        return self.http.get(f"/v/{code}").status_code

    def review(self, item_id: int, choices: dict) -> httpx.Response:
        form = self.http.get(f"/ballot/{item_id}")
        token = CSRF_RE.search(form.text).group(1)
        posted = self.http.post(f"/ballot/{item_id}/review", data={**choices, "csrf_token": token})
        reviewed = self.http.get(posted.headers["location"])
        self.token = CSRF_RE.search(reviewed.text).group(1)
        return reviewed

    def cast(self, item_id: int, choices: dict | None = None) -> httpx.Response:
        return self.http.post(f"/ballot/{item_id}/cast", data={"csrf_token": self.token})

    def receipt(self, response: httpx.Response) -> str:
        page = self.http.get(response.headers["location"])
        return RECEIPT_RE.search(page.text).group(1)

    def vote(self, item_id: int, choices: dict) -> str:
        assert self.review(item_id, choices).status_code == 200
        cast = self.cast(item_id, choices)
        assert cast.status_code == 303, cast.text
        return self.receipt(cast)

    def close(self):
        self.http.close()
