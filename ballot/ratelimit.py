"""Rate limits on *failed* attempts only (wrong codes, wrong passwords).

Per client: after N failures in the window the client is refused before its attempt is
checked. Globally: a ceiling on failures across all clients that, once reached, refuses only
clients that have failed themselves in the window, so a distributed guesser can never lock
out a hall of honest voters who type their code right the first time.

Counters use the `limits` library's moving window; the default storage is per process
(each gunicorn worker counts on its own, so the effective limits are N × workers). Set
BALLOT_RATELIMIT_STORAGE to a `limits` storage URI (e.g. redis://…) to share them.
"""

from __future__ import annotations

from dataclasses import dataclass

from limits import RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter


@dataclass
class FailureLimiter:
    name: str
    per_client: int
    global_ceiling: int | None
    window_seconds: int
    storage_uri: str = "memory://"

    def __post_init__(self):
        self._limiter = MovingWindowRateLimiter(storage_from_string(self.storage_uri))
        self._client_item = RateLimitItemPerSecond(self.per_client, self.window_seconds)
        self._global_item = (
            RateLimitItemPerSecond(self.global_ceiling, self.window_seconds) if self.global_ceiling else None
        )

    def _client_failures(self, client: str) -> int:
        stats = self._limiter.get_window_stats(self._client_item, self.name, client)
        return self.per_client - stats.remaining

    def blocked(self, client: str) -> bool:
        failures = self._client_failures(client)
        if failures >= self.per_client:
            return True
        if self._global_item and failures > 0 and not self._limiter.test(self._global_item, self.name, "*"):
            return True
        return False

    def failed(self, client: str) -> None:
        self._limiter.hit(self._client_item, self.name, client)
        if self._global_item:
            self._limiter.hit(self._global_item, self.name, "*")

    def reset(self) -> None:
        self._limiter.storage.reset()
