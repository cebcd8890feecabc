"""The Black Friday report, pure apart from writing the chart: percentiles, time
buckets of the load, the backend's task counts over time, the printed table and
the PNG chart (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from openecs.demo.load import Sample

__all__ = [
    "Bucket",
    "Summary",
    "TaskCount",
    "bucketize",
    "percentile",
    "render_table",
    "summarize",
    "tasks_at",
    "write_chart",
]


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 100]); 0.0 for no values."""
    if not values:
        return 0.0
    if not 0 <= q <= 100:
        raise ValueError("q must be in [0, 100]")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class TaskCount:
    """The backend service as DescribeServices saw it `at` seconds from the start."""

    at: float
    desired: int
    running: int


@dataclass(frozen=True, slots=True)
class Bucket:
    start: float
    requests: int
    errors: int
    p50: float
    p99: float
    width: float

    @property
    def rate(self) -> float:
        return self.requests / self.width


def bucketize(samples: Sequence[Sample], width: float, until: float | None = None) -> list[Bucket]:
    """Samples grouped by send time into buckets of `width` seconds, empty ones included,
    up to `until` (else the last sample). With `until` (the end of the run), the last
    bucket's rate counts only the part of it the run covered."""
    if width <= 0:
        raise ValueError("width must be positive")
    if not samples and not until:
        return []
    end = max([s.sent for s in samples] + [until or 0.0])
    groups: list[list[Sample]] = [[] for _ in range(int(end // width) + 1)]
    for sample in samples:
        groups[int(sample.sent // width)].append(sample)
    buckets = []
    for i, group in enumerate(groups):
        latencies = [s.latency for s in group if s.ok]
        start = i * width
        covered = min(width, end - start) if until is not None else width
        buckets.append(
            Bucket(
                start=start,
                requests=len(group),
                errors=sum(1 for s in group if not s.ok),
                p50=percentile(latencies, 50),
                p99=percentile(latencies, 99),
                width=covered if covered >= 1.0 else width,
            )
        )
    return buckets


def tasks_at(counts: Sequence[TaskCount], t: float) -> TaskCount | None:
    """The last sample taken at or before `t`."""
    seen = [c for c in counts if c.at <= t]
    return max(seen, key=lambda c: c.at) if seen else None


@dataclass(frozen=True, slots=True)
class Summary:
    requests: int
    errors: int
    peak_rate: float
    p50: float
    p99: float
    min_tasks: int
    max_tasks: int
    final_tasks: int


def summarize(
    samples: Sequence[Sample],
    counts: Sequence[TaskCount],
    peak_window: float = 10.0,
    until: float | None = None,
) -> Summary:
    ok = [s.latency for s in samples if s.ok]
    buckets = bucketize(samples, peak_window, until)
    desired = [c.desired for c in counts]
    return Summary(
        requests=len(samples),
        errors=sum(1 for s in samples if not s.ok),
        # Whole windows only: a last, partly covered one would read high or low.
        peak_rate=max(
            (b.rate for b in buckets if b.width == peak_window),
            default=max((b.rate for b in buckets), default=0.0),
        ),
        p50=percentile(ok, 50),
        p99=percentile(ok, 99),
        min_tasks=min(desired, default=0),
        max_tasks=max(desired, default=0),
        final_tasks=counts[-1].desired if counts else 0,
    )


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def render_table(
    samples: Sequence[Sample],
    counts: Sequence[TaskCount],
    *,
    row_seconds: float = 30.0,
    cost: str = "cost: not available",
) -> str:
    """The summary and a row per `row_seconds`: traffic, latency, errors, tasks."""
    until = max([c.at for c in counts] + [0.0])
    summary = summarize(samples, counts, until=until)
    lines = [
        f"requests         {summary.requests}",
        f"peak rate        {summary.peak_rate:.1f} req/s (10 s window)",
        f"latency p50      {_ms(summary.p50)}",
        f"latency p99      {_ms(summary.p99)}",
        f"errors           {summary.errors}",
        f"backend tasks    {summary.min_tasks} → {summary.max_tasks} → {summary.final_tasks} "
        "(desired: min, max, at the end)",
        cost,
        "",
        f"{'time':>6} {'req/s':>7} {'p50':>8} {'p99':>8} {'errors':>7} {'desired':>8} "
        f"{'running':>8}",
    ]
    for bucket in bucketize(samples, row_seconds, until):
        seen = tasks_at(counts, bucket.start + row_seconds)
        desired = str(seen.desired) if seen else "-"
        running = str(seen.running) if seen else "-"
        minutes, seconds = divmod(int(bucket.start), 60)
        answered = bucket.requests > bucket.errors
        p50 = _ms(bucket.p50) if answered else "-"
        p99 = _ms(bucket.p99) if answered else "-"
        lines.append(
            f"{minutes:>3}:{seconds:02d} {bucket.rate:>7.1f} {p50:>8} "
            f"{p99:>8} {bucket.errors:>7} {desired:>8} {running:>8}"
        )
    return "\n".join(lines)


def write_chart(
    samples: Sequence[Sample],
    counts: Sequence[TaskCount],
    path: Path,
    *,
    title: str = "Black Friday on OpenECS",
    width: float = 5.0,
    load_end: float | None = None,
) -> Path:
    """A PNG with three panels sharing the time axis: request rate, backend tasks
    (desired and running), latency (p50, p99)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    until = max([c.at for c in counts] + [0.0])
    buckets = bucketize(samples, width, until)
    t = [b.start + width / 2 for b in buckets]
    figure, (rate, tasks, latency) = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    figure.suptitle(title)
    rate.plot(t, [b.rate for b in buckets], color="tab:blue", label="requests/s")
    errors = [b.errors / b.width for b in buckets]
    if any(errors):
        rate.plot(t, errors, color="tab:red", label="errors/s")
    rate.set_ylabel("requests / s")
    rate.legend(loc="upper right")
    rate.grid(alpha=0.3)
    at = [c.at for c in counts]
    tasks.step(at, [c.running for c in counts], where="post", label="running", color="tab:green")
    # Dashed on top: where desired and running agree, both stay visible.
    tasks.step(
        at,
        [c.desired for c in counts],
        where="post",
        label="desired",
        color="tab:orange",
        linestyle="--",
    )
    tasks.set_ylabel("backend tasks")
    tasks.set_ylim(bottom=0)
    tasks.legend(loc="upper right")
    tasks.grid(alpha=0.3)
    # No requests, no latency: a gap rather than a drop to zero.
    p50 = [b.p50 * 1000 if b.requests > b.errors else math.nan for b in buckets]
    p99 = [b.p99 * 1000 if b.requests > b.errors else math.nan for b in buckets]
    latency.plot(t, p50, label="p50", color="tab:purple")
    latency.plot(t, p99, label="p99", color="tab:gray")
    latency.set_ylabel("latency (ms)")
    latency.set_xlabel("seconds since the start of the load")
    latency.legend(loc="upper right")
    latency.grid(alpha=0.3)
    if load_end is not None:
        for panel in (rate, tasks, latency):
            panel.axvline(load_end, color="black", linestyle=":", linewidth=1)
        rate.annotate("load ends", (load_end, 0), xytext=(4, 4), textcoords="offset points")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
