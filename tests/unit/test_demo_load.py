"""The Black Friday load generator's bounds and schedule, and the report's maths."""

from __future__ import annotations

import itertools
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from openecs.demo.load import (
    MAX_DURATION,
    MAX_RATE,
    MAX_REQUESTS,
    LoadError,
    LoadProfile,
    Sample,
    check_loopback,
    run_load,
    schedule,
)
from openecs.demo.report import (
    TaskCount,
    bucketize,
    percentile,
    render_table,
    summarize,
    tasks_at,
    write_chart,
)

# Profile and schedule


def test_the_profile_ramps_up_holds_and_ramps_down() -> None:
    profile = LoadProfile(duration=90, peak_rate=30, base_rate=0)
    assert profile.rate_at(0) == 0
    assert profile.rate_at(15) == pytest.approx(15)
    assert profile.rate_at(30) == profile.rate_at(59) == 30
    assert profile.rate_at(75) == pytest.approx(15)
    assert profile.rate_at(90) == profile.rate_at(-1) == 0


def test_the_schedule_sends_what_the_profile_integrates_to_in_order_and_in_time() -> None:
    profile = LoadProfile(duration=60, peak_rate=20, base_rate=2)
    times = schedule(profile)
    assert abs(len(times) - profile.expected_requests()) <= 1
    assert times == sorted(times)
    assert times[0] >= 0 and times[-1] < profile.duration


def test_a_flat_profile_spaces_requests_evenly() -> None:
    times = schedule(LoadProfile(duration=10, peak_rate=10, base_rate=10))
    assert len(times) == 100
    gaps = {round(b - a, 2) for a, b in itertools.pairwise(times)}
    assert gaps == {0.1}


def test_the_schedule_stops_at_the_request_ceiling() -> None:
    assert len(schedule(LoadProfile(duration=60, peak_rate=100), max_requests=50)) == 50
    with pytest.raises(LoadError):
        schedule(LoadProfile(), max_requests=MAX_REQUESTS + 1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"duration": 0},
        {"duration": MAX_DURATION + 1},
        {"peak_rate": 0},
        {"peak_rate": MAX_RATE + 1},
        {"peak_rate": 10, "base_rate": 11},
        {"base_rate": -1},
    ],
)
def test_profiles_beyond_the_bounds_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(LoadError):
        LoadProfile(**kwargs)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000", "http://127.9.9.9:1/", "http://[::1]:8000/"]
)
def test_loopback_targets_are_allowed(url: str) -> None:
    check_loopback(url)


@pytest.mark.parametrize(
    "url", ["http://10.0.0.1:8000", "http://example.com/", "http://localhost.evil.com/", "x"]
)
def test_any_other_target_is_refused_before_a_request_is_sent(url: str) -> None:
    with pytest.raises(LoadError):
        check_loopback(url)
    with pytest.raises(LoadError):
        run_load(url, LoadProfile(duration=1, peak_rate=1))


def test_worker_count_is_bounded() -> None:
    with pytest.raises(LoadError):
        run_load("http://127.0.0.1:1", LoadProfile(duration=1, peak_rate=1), workers=1000)


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 500 if self.path == "/fail" else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def test_a_run_sends_its_schedule_to_loopback_and_stops_by_itself() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        profile = LoadProfile(duration=2, peak_rate=20, base_rate=20)
        samples = run_load(url, profile, paths=("/ok", "/fail"), workers=4)
    finally:
        server.shutdown()
    assert len(samples) == len(schedule(profile)) == 40
    assert sum(1 for s in samples if not s.ok) == 20  # every other path fails
    assert max(s.sent for s in samples) < profile.duration + 1


def test_a_stopped_run_sends_nothing_more() -> None:
    stop = threading.Event()
    stop.set()
    samples = run_load("http://127.0.0.1:9", LoadProfile(duration=5, peak_rate=10), stop=stop)
    assert samples == []


# Report maths


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([3.0, 1.0, 2.0], 50) == 2
    assert percentile([], 99) == 0.0
    with pytest.raises(ValueError):
        percentile(values, 101)


def _samples(rate: int, seconds: int, latency: float = 0.01) -> list[Sample]:
    return [Sample(i / rate, latency, 200) for i in range(rate * seconds)]


def test_buckets_count_rate_errors_and_latency_per_window() -> None:
    samples = [*_samples(10, 20), Sample(5.0, 1.0, 0), Sample(15.5, 2.0, 503)]
    buckets = bucketize(samples, 10)
    assert [b.requests for b in buckets] == [101, 101]
    assert [b.errors for b in buckets] == [1, 1]
    assert buckets[0].p50 == 0.01  # failed requests leave latency alone


def test_a_partly_covered_last_bucket_reports_its_real_rate() -> None:
    buckets = bucketize(_samples(20, 75), 30, until=75)
    assert [round(b.rate) for b in buckets] == [20, 20, 20]


def test_empty_periods_appear_as_empty_buckets() -> None:
    samples = [Sample(0.5, 0.01, 200), Sample(25.0, 0.01, 200)]
    assert [b.requests for b in bucketize(samples, 10)] == [1, 0, 1]


def test_task_counts_are_read_as_of_a_time() -> None:
    counts = [TaskCount(0, 2, 2), TaskCount(40, 5, 3), TaskCount(80, 5, 5)]
    assert tasks_at(counts, 39) == counts[0]
    assert tasks_at(counts, 40) == counts[1]
    assert tasks_at(counts, -1) is None


def test_the_summary_has_the_peak_rate_latency_errors_and_task_range() -> None:
    samples = [*_samples(5, 10), *[Sample(10 + i / 30, 0.02, 200) for i in range(300)]]
    counts = [TaskCount(0, 2, 2), TaskCount(30, 6, 6), TaskCount(60, 2, 2)]
    summary = summarize(samples, counts)
    assert summary.peak_rate == 30
    assert summary.requests == 350 and summary.errors == 0
    assert (summary.min_tasks, summary.max_tasks, summary.final_tasks) == (2, 6, 2)
    assert summary.p99 == 0.02


def test_the_table_shows_every_period_with_its_tasks_and_the_cost_line() -> None:
    counts = [TaskCount(0, 2, 2), TaskCount(30, 4, 3), TaskCount(59, 4, 4)]
    table = render_table(_samples(10, 60), counts, cost="cost: 0.01 USD")
    assert "peak rate        10.0 req/s" in table
    assert "cost: 0.01 USD" in table
    rows = [line.split() for line in table.splitlines() if line.strip()[:4] in ("0:00", "0:30")]
    assert rows[0][-2:] == ["4", "3"] and rows[1][-2:] == ["4", "4"]


def test_the_chart_is_a_png(tmp_path: Path) -> None:
    counts = [TaskCount(0, 2, 2), TaskCount(30, 4, 3)]
    path = write_chart(_samples(10, 40), counts, tmp_path / "chart.png", load_end=40)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
