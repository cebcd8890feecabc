"""A bounded load generator for the Black Friday demo, loopback only.

The traffic follows a `LoadProfile`: a ramp from `base_rate` to `peak_rate`
requests per second over the first third of `duration`, a plateau, and a ramp
back down over the last third. `schedule` turns the profile into the send time
of every request (pure); workers take requests in order, wait for their time and
send them, so the rate holds whatever the latency (up to `workers` in flight).

Bounds, checked before anything is sent: the target must be a loopback address;
duration, rate, request count and workers have hard ceilings; the run stops by
itself at the end of the schedule, or `grace` seconds after its planned end, or
when `stop` is set.
"""

from __future__ import annotations

import ipaddress
import itertools
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

__all__ = [
    "MAX_DURATION",
    "MAX_RATE",
    "MAX_REQUESTS",
    "MAX_WORKERS",
    "LoadError",
    "LoadProfile",
    "Sample",
    "check_loopback",
    "run_load",
    "schedule",
]

MAX_DURATION = 1800.0
MAX_RATE = 500.0
MAX_REQUESTS = 250_000
MAX_WORKERS = 64
_STEP = 0.01


class LoadError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class LoadProfile:
    duration: float = 180.0
    peak_rate: float = 30.0
    base_rate: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.duration <= MAX_DURATION:
            raise LoadError(f"duration must be in (0, {MAX_DURATION:g}] seconds")
        if not 0 < self.peak_rate <= MAX_RATE:
            raise LoadError(f"peak rate must be in (0, {MAX_RATE:g}] requests per second")
        if not 0 <= self.base_rate <= self.peak_rate:
            raise LoadError("base rate must be between 0 and the peak rate")

    def rate_at(self, t: float) -> float:
        """Requests per second the profile asks for at `t` seconds."""
        if t < 0 or t >= self.duration:
            return 0.0
        third = self.duration / 3
        if t < third:
            shape = t / third
        elif t < 2 * third:
            shape = 1.0
        else:
            shape = (self.duration - t) / third
        return self.base_rate + (self.peak_rate - self.base_rate) * shape

    def expected_requests(self) -> float:
        """The integral of the rate: base over the whole run, plus 2/3 of the peak's excess."""
        return self.duration * (self.base_rate + (self.peak_rate - self.base_rate) * 2 / 3)


def schedule(profile: LoadProfile, max_requests: int = MAX_REQUESTS) -> list[float]:
    """Send time (seconds from the start) of each request, at most `max_requests`."""
    if not 0 < max_requests <= MAX_REQUESTS:
        raise LoadError(f"max requests must be in (0, {MAX_REQUESTS}]")
    times: list[float] = []
    # The k-th request (k = 0, 1, ...) goes when the integral of the rate reaches k.
    sent = 0.0
    next_request = 0
    for i in range(round(profile.duration / _STEP)):
        t = i * _STEP
        while next_request <= sent + 1e-9:
            times.append(round(t, 6))
            next_request += 1
            if len(times) >= max_requests:
                return times
        sent += profile.rate_at(t) * _STEP
    return times


def check_loopback(url: str) -> None:
    """Refuse any target that is not this machine's loopback interface."""
    host = urlsplit(url).hostname or ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise LoadError(f"the load generator only targets 127.0.0.1, not {host or url!r}")


@dataclass(frozen=True, slots=True)
class Sample:
    """One request: when it was sent (s from the start), how long it took, its status
    (0 when it failed without an HTTP answer)."""

    sent: float
    latency: float
    status: int

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 400


def run_load(
    base_url: str,
    profile: LoadProfile,
    *,
    paths: Sequence[str] = ("/api/products",),
    workers: int = 16,
    max_requests: int = MAX_REQUESTS,
    timeout: float = 5.0,
    grace: float = 15.0,
    stop: threading.Event | None = None,
) -> list[Sample]:
    """Send the profile's requests to `base_url` (loopback only), cycling through
    `paths`; every request's sample, in no particular order."""
    check_loopback(base_url)
    if not 0 < workers <= MAX_WORKERS:
        raise LoadError(f"workers must be in (0, {MAX_WORKERS}]")
    if not paths:
        raise LoadError("no paths to request")
    times = schedule(profile, max_requests)
    stop = stop or threading.Event()
    deadline = profile.duration + grace
    samples: list[Sample] = []
    lock = threading.Lock()
    order = itertools.count()
    started = time.monotonic()

    def work() -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        with httpx.Client(base_url=base_url, timeout=timeout, limits=limits) as http:
            while not stop.is_set():
                with lock:
                    index = next(order)
                if index >= len(times):
                    return
                wait = started + times[index] - time.monotonic()
                if wait > 0 and stop.wait(wait):
                    return
                sent = time.monotonic() - started
                if sent > deadline:
                    return
                try:
                    status = http.get(paths[index % len(paths)]).status_code
                except httpx.HTTPError:
                    status = 0
                sample = Sample(sent, time.monotonic() - started - sent, status)
                with lock:
                    samples.append(sample)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=deadline + timeout + 5)
    stop.set()
    with lock:
        return list(samples)
