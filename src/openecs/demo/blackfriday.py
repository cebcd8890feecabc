"""Black Friday: a bounded burst of loopback traffic through the shop's load
balancer while the backend service is sampled, then the report.

The backend's target tracking policy (ALBRequestCountPerTarget) sees requests per
task rise above its target and scales out; once the load is over, every datapoint
of the server's scale-in window (`openecs up --scaling-in-seconds`, 300 by default)
below target lets it scale back in (after its ScaleInCooldown).
The run waits for that at most `settle` seconds after the load, then prints the
table and writes the chart.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openecs.demo.cost import CostFetcher
from openecs.demo.deploy import ShopClients
from openecs.demo.load import LoadProfile, Sample, run_load
from openecs.demo.report import TaskCount, render_table, summarize, write_chart
from openecs.demo.shop_spec import ShopSettings

__all__ = ["BlackFriday", "BlackFridayResult", "run_blackfriday"]

Log = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class BlackFriday:
    profile: LoadProfile = field(default_factory=LoadProfile)
    settle: float = 420.0
    sample_every: float = 5.0
    workers: int = 16
    chart: Path = Path("blackfriday.png")
    # A quick check: end the load as soon as the backend's desired count rises.
    stop_at_scale_out: bool = False


@dataclass(frozen=True, slots=True)
class BlackFridayResult:
    samples: list[Sample]
    counts: list[TaskCount]
    table: str
    chart: Path
    activities: list[str]


class _Sampler:
    """DescribeServices of the backend every `every` seconds, on a thread."""

    def __init__(
        self,
        c: ShopClients,
        settings: ShopSettings,
        every: float,
        scaled_out: threading.Event | None = None,
    ) -> None:
        self.c, self.settings, self.every = c, settings, every
        self.counts: list[TaskCount] = []
        self.stop = threading.Event()
        # Set once the desired count rises above its first sample.
        self.scaled_out = scaled_out or threading.Event()
        self.started = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> _Sampler:
        self.started = time.monotonic()
        self._thread.start()
        return self

    def sample(self) -> TaskCount | None:
        try:
            found = self.c.ecs.describe_services(
                cluster=self.settings.cluster, services=[self.settings.service("backend")]
            )["services"]
        except Exception:  # a missed sample is a gap in the chart, not a failed run
            return None
        if not found:
            return None
        count = TaskCount(
            time.monotonic() - self.started, found[0]["desiredCount"], found[0]["runningCount"]
        )
        self.counts.append(count)
        if count.desired > self.counts[0].desired:
            self.scaled_out.set()
        return count

    def _run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(self.every)

    def close(self) -> list[TaskCount]:
        self.stop.set()
        self._thread.join(timeout=30)
        self.sample()
        return list(self.counts)


def _activities(c: ShopClients, settings: ShopSettings, since: float) -> list[str]:
    found = c.autoscaling.describe_scaling_activities(
        ServiceNamespace="ecs",
        ResourceId=f"service/{settings.cluster}/{settings.service('backend')}",
    )["ScalingActivities"]
    lines = []
    for activity in sorted(found, key=lambda a: a["StartTime"]):
        when = activity["StartTime"].timestamp()
        if when >= since:
            lines.append(
                f"+{when - since:5.0f}s  {activity['Description']}  ({activity.get('Cause', '')})"
            )
    return lines


def _scaled_in(counts: list[TaskCount], minimum: int) -> bool:
    return bool(counts) and counts[-1].desired <= minimum and counts[-1].running <= minimum


def run_blackfriday(
    c: ShopClients,
    settings: ShopSettings,
    shop_url: str,
    options: BlackFriday,
    *,
    cost: CostFetcher | None = None,
    log: Log = print,
) -> BlackFridayResult:
    wall_start = time.time()
    profile = options.profile
    log(
        f"Black Friday: {profile.duration:.0f}s of traffic to {shop_url}/api/products, "
        f"{profile.base_rate:g} → {profile.peak_rate:g} → {profile.base_rate:g} req/s "
        f"(at most {options.workers} in flight, loopback only)"
    )
    load_stop = threading.Event()
    sampler = _Sampler(
        c, settings, options.sample_every, load_stop if options.stop_at_scale_out else None
    ).start()
    progress = threading.Event()

    def report_progress() -> None:
        while not progress.wait(30):
            if sampler.counts:
                last = sampler.counts[-1]
                log(
                    f"  +{last.at:4.0f}s  backend tasks: desired {last.desired}, "
                    f"running {last.running}"
                )

    reporter = threading.Thread(target=report_progress, daemon=True)
    reporter.start()
    samples: list[Sample] = []
    load_end = profile.duration
    try:
        samples = run_load(
            shop_url,
            profile,
            paths=("/api/products",),
            workers=options.workers,
            stop=load_stop,
        )
        if options.stop_at_scale_out and sampler.scaled_out.is_set():
            load_end = max((sample.sent for sample in samples), default=0.0)
            log(f"the backend scaled out: load stopped after {load_end:.0f}s")
        summary = summarize(samples, sampler.counts)
        log(
            f"load done: {summary.requests} requests, {summary.errors} errors, "
            f"backend desired up to {summary.max_tasks}"
        )
        if options.settle > 0:
            log(
                f"waiting up to {options.settle:.0f}s for the backend to scale back in to "
                f"{settings.backend_min} (target tracking scales in once every datapoint of "
                "the server's scale-in window, 5 minutes by default, is below target; "
                "Ctrl-C stops waiting)"
            )
            deadline = time.monotonic() + options.settle
            while time.monotonic() < deadline and not _scaled_in(
                sampler.counts, settings.backend_min
            ):
                time.sleep(1)
    except KeyboardInterrupt:
        log("stopped waiting")
    finally:
        progress.set()
        counts = sampler.close()
    wall_end = time.time()
    activities = _activities(c, settings, wall_start)
    cost_line = cost(wall_start, wall_end) if cost is not None else "cost: not available"
    table = render_table(samples, counts, cost=cost_line)
    chart = write_chart(samples, counts, options.chart, load_end=load_end)
    return BlackFridayResult(samples, counts, table, chart, activities)


def describe_result(result: BlackFridayResult) -> str:
    parts: list[Any] = [result.table, ""]
    if result.activities:
        parts += ["scaling activities:", *result.activities, ""]
    parts.append(f"chart: {result.chart}")
    return "\n".join(str(p) for p in parts)
