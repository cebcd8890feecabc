"""The awslogs shipper against a fake control plane (httpx.MockTransport) and a fake
container output: options, stream set-up and its errors, ordering and batch rules,
retries, modes, and resuming after a restart or a crash without loss or duplicates."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from openecs.agent.container_log_source import (
    MAX_STREAM_SKEW_NS,
    DockerLogSource,
    OutputPosition,
    parse_docker_time,
)
from openecs.agent.docker_api import DockerClient
from openecs.agent.log_shipper import (
    AwslogsOptions,
    LogDriverError,
    LogLine,
    LogsClient,
    LogShipper,
    checkpoint_path,
)

pytestmark = pytest.mark.anyio

T0 = 1_764_115_200 * 1_000_000_000  # Docker time of the first line, in ns
TASK_ARN = "arn:aws:ecs:us-west-2:111122223333:task/default/0123456789abcdef0123456789abcdef"
GROUP = "/ecs/web"
STREAM = "web/app/0123456789abcdef0123456789abcdef"
GROUP_MISSING = "The specified log group does not exist."
ECS_GROUP_MISSING = (
    "ResourceInitializationError: failed to validate logger args: create stream has been "
    "retried 1 times: failed to create Cloudwatch log stream: ResourceNotFoundException: "
    "The specified log group does not exist. : exit status 1"
)


# --- a fake control plane ------------------------------------------------------------


@dataclass
class FakeLogs:
    """CloudWatch Logs in memory, checking what a PutLogEvents call must satisfy."""

    region: str = "us-west-2"
    groups: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    fail_puts: list[int] = field(default_factory=list)  # statuses for the next puts
    hold_before_store: asyncio.Event | None = None
    hold_after_store: asyncio.Event | None = None
    put_sizes: list[tuple[int, int, int]] = field(default_factory=list)  # events, bytes, span

    def events(self, stream: str = STREAM, group: str = GROUP) -> list[dict[str, Any]]:
        return self.groups[group][stream]

    def messages(self, stream: str = STREAM) -> list[str]:
        return [e["message"] for e in self.events(stream)]

    async def handle(self, request: httpx.Request) -> httpx.Response:
        target = request.headers["X-Amz-Target"]
        assert target.startswith("Logs_20140328.")
        scope = f"/{self.region}/logs/aws4_request"
        assert scope in request.headers["Authorization"]
        operation = target.split(".", 1)[1]
        self.calls.append(operation)
        body = json.loads(request.content)
        return await getattr(self, operation)(body)

    @staticmethod
    def error(code: str, message: str, status: int = 400) -> httpx.Response:
        return httpx.Response(status, json={"__type": code, "message": message})

    async def CreateLogGroup(self, body: dict[str, Any]) -> httpx.Response:
        if body["logGroupName"] in self.groups:
            return self.error("ResourceAlreadyExistsException", "exists")
        self.groups[body["logGroupName"]] = {}
        return httpx.Response(200, json={})

    async def CreateLogStream(self, body: dict[str, Any]) -> httpx.Response:
        group = self.groups.get(body["logGroupName"])
        if group is None:
            return self.error(
                "ResourceNotFoundException", "The specified log group does not exist."
            )
        if body["logStreamName"] in group:
            return self.error("ResourceAlreadyExistsException", "exists")
        group[body["logStreamName"]] = []
        return httpx.Response(200, json={})

    async def PutLogEvents(self, body: dict[str, Any]) -> httpx.Response:
        if self.fail_puts:
            status = self.fail_puts.pop(0)
            return self.error("ServiceUnavailableException", "try later", status)
        stream = self.groups.get(body["logGroupName"], {}).get(body["logStreamName"])
        if stream is None:
            return self.error(
                "ResourceNotFoundException", "The specified log stream does not exist."
            )
        events = body["logEvents"]
        stamps = [e["timestamp"] for e in events]
        size = sum(len(e["message"].encode()) + 26 for e in events)
        assert 1 <= len(events) <= 10_000
        assert size <= 1_048_576
        assert stamps == sorted(stamps), "events out of order"
        assert stamps[-1] - stamps[0] <= 24 * 3_600_000
        assert all(e["message"] for e in events)
        if self.hold_before_store is not None:
            await self.hold_before_store.wait()
        stream.extend(events)
        self.put_sizes.append((len(events), size, stamps[-1] - stamps[0]))
        if self.hold_after_store is not None:
            await self.hold_after_store.wait()
        return httpx.Response(200, json={"nextSequenceToken": "1"})

    async def GetLogEvents(self, body: dict[str, Any]) -> httpx.Response:
        events = self.events(body["logStreamName"], body["logGroupName"])
        window = [e for e in events if body["startTime"] <= e["timestamp"] < body["endTime"]]
        token = f"f/{len(window)}"
        if body.get("nextToken") == token:
            window = []
        return httpx.Response(
            200, json={"events": window, "nextForwardToken": token, "nextBackwardToken": "b/0"}
        )


class FakeSource:
    """A container's output. While `running`, the stream stays open and `push` adds lines."""

    def __init__(self, lines: list[LogLine], *, running: bool = False) -> None:
        self.lines = list(lines)
        self.since: list[int] = []
        self.consumed = 0
        self.running = running
        self._changed = asyncio.Event()

    def push(self, *more: LogLine) -> None:
        self.lines.extend(more)
        self._changed.set()

    def exit(self) -> None:
        self.running = False
        self._changed.set()

    async def follow(self, container_id: str, *, since_nanos: int) -> AsyncIterator[LogLine]:
        assert container_id == "c0ffee"
        self.since.append(since_nanos)
        index = 0
        while True:
            while index < len(self.lines):
                line = self.lines[index]
                index += 1
                if line.nanos >= since_nanos:
                    self.consumed += 1
                    yield line
            if not self.running:
                return
            self._changed.clear()
            await self._changed.wait()


def lines(
    count: int, *, start: int = 0, step: int = 1_000_000, text: str = "line"
) -> list[LogLine]:
    return [LogLine(T0 + (start + i) * step, f"{text} {start + i}") for i in range(count)]


@pytest.fixture
def fake() -> FakeLogs:
    fake = FakeLogs()
    fake.groups[GROUP] = {}
    return fake


def options(**extra: str) -> AwslogsOptions:
    """The container's options; blocking unless a test asks otherwise, so that tests of
    ordering and batching never lose lines to a full buffer."""
    return AwslogsOptions.parse(
        {
            "awslogs-group": GROUP,
            "awslogs-region": "us-west-2",
            "awslogs-stream-prefix": "web",
            **extra,
        },
        default_mode="blocking",
    )


def make_shipper(
    fake: FakeLogs,
    source: FakeSource,
    data_dir: Path,
    opts: AwslogsOptions | None = None,
    **kwargs: Any,
) -> LogShipper:
    client = LogsClient(
        "http://127.0.0.1:4580",
        "AKIDEXAMPLE",
        "secret",
        "us-west-2",
        transport=httpx.MockTransport(fake.handle),
    )
    return LogShipper(
        source=source,
        client=client,
        options=opts or options(),
        container_id="c0ffee",
        task_arn=TASK_ARN,
        container_name="app",
        data_dir=data_dir,
        flush_interval=kwargs.pop("flush_interval", 0.05),
        retry_delay=0.01,
        max_retry_delay=0.05,
        **kwargs,
    )


async def ship_all(shipper: LogShipper) -> None:
    await shipper.prepare()
    shipper.start()
    await asyncio.wait_for(shipper.wait(), 20)


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition never became true"
        await asyncio.sleep(0.01)


# --- options -------------------------------------------------------------------------


def test_stream_name_is_prefix_container_and_task_id() -> None:
    opts = options()
    name = opts.stream_name(task_arn=TASK_ARN, container_name="app", container_id="c0ffee")
    assert name == STREAM
    bare = AwslogsOptions.parse({"awslogs-group": "g", "awslogs-region": "r"})
    assert bare.stream_name(task_arn=TASK_ARN, container_name="app", container_id="c0") == "c0"


@pytest.mark.parametrize(
    ("given", "mode", "buffer"),
    [
        ({}, "non-blocking", 1_048_576),
        ({"mode": "blocking"}, "blocking", 1_048_576),
        ({"mode": "non-blocking", "max-buffer-size": "25m"}, "non-blocking", 25 * 1024**2),
        ({"max-buffer-size": "4k"}, "non-blocking", 4096),
        ({"max-buffer-size": "1000"}, "non-blocking", 1000),
    ],
)
def test_mode_and_buffer_options(given: dict[str, str], mode: str, buffer: int) -> None:
    parsed = AwslogsOptions.parse({"awslogs-group": "g", "awslogs-region": "r", **given})
    assert (parsed.mode, parsed.max_buffer_size) == (mode, buffer)


def test_the_account_default_mode_applies_when_the_container_names_none() -> None:
    parsed = AwslogsOptions.parse(
        {"awslogs-group": "g", "awslogs-region": "r"}, default_mode="blocking"
    )
    assert parsed.mode == "blocking"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"awslogs-region": "r"}, "must specify a value for log opt 'awslogs-group'"),
        ({"awslogs-group": "g"}, "must specify a value for log opt 'awslogs-region'"),
        ({"awslogs-group": "g", "awslogs-region": "r", "mode": "sometimes"}, "unknown log mode"),
        (
            {"awslogs-group": "g", "awslogs-region": "r", "max-buffer-size": "lots"},
            "max-buffer-size",
        ),
        (
            {"awslogs-group": "g", "awslogs-region": "r", "awslogs-create-group": "yes"},
            "awslogs-create-group",
        ),
    ],
)
def test_bad_options_fail_like_ecs(given: dict[str, str], message: str) -> None:
    with pytest.raises(LogDriverError) as err:
        AwslogsOptions.parse(given)
    assert str(err.value).startswith("ResourceInitializationError: failed to validate logger args")
    assert message in str(err.value)


# --- setting up the stream -----------------------------------------------------------


async def test_prepare_creates_the_stream(fake: FakeLogs, tmp_path: Path) -> None:
    shipper = make_shipper(fake, FakeSource([]), tmp_path)
    await shipper.prepare()
    await shipper.prepare()  # a stream that exists is fine
    assert fake.groups[GROUP] == {STREAM: []}


async def test_a_missing_group_fails_the_start_as_ecs_says(fake: FakeLogs, tmp_path: Path) -> None:
    del fake.groups[GROUP]
    shipper = make_shipper(fake, FakeSource([]), tmp_path)
    with pytest.raises(LogDriverError) as err:
        await shipper.prepare()
    assert str(err.value) == ECS_GROUP_MISSING
    assert fake.calls == ["CreateLogStream"]


async def test_the_group_is_created_when_allowed(fake: FakeLogs, tmp_path: Path) -> None:
    del fake.groups[GROUP]
    shipper = make_shipper(
        fake, FakeSource([]), tmp_path, options(**{"awslogs-create-group": "true"})
    )
    await shipper.prepare()
    assert fake.groups == {GROUP: {STREAM: []}}


async def test_prepare_retries_an_unreachable_control_plane_then_fails(
    fake: FakeLogs, tmp_path: Path
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    shipper = make_shipper(fake, FakeSource([]), tmp_path)
    shipper.client = LogsClient(
        "http://127.0.0.1:1", "a", "s", "us-west-2", transport=httpx.MockTransport(refuse)
    )
    with pytest.raises(LogDriverError, match="failed to create Cloudwatch log stream"):
        await shipper.prepare(attempts=2)


# --- shipping ------------------------------------------------------------------------


async def test_lines_are_shipped_in_order_in_one_batch(fake: FakeLogs, tmp_path: Path) -> None:
    output = [*lines(50), LogLine(T0 + 60_000_000, ""), *lines(50, start=70)]
    shipper = make_shipper(fake, FakeSource(output), tmp_path, flush_interval=0.5)
    await ship_all(shipper)
    assert fake.messages() == [line.text for line in output if line.text]
    assert [e["timestamp"] for e in fake.events()[:2]] == [T0 // 1_000_000, T0 // 1_000_000 + 1]
    assert fake.calls.count("PutLogEvents") == 1
    assert shipper.shipped_events == 100


async def test_a_batch_holds_at_most_10000_events(fake: FakeLogs, tmp_path: Path) -> None:
    output = lines(25_001, step=1000)
    shipper = make_shipper(fake, FakeSource(output), tmp_path)
    await ship_all(shipper)
    assert len(fake.events()) == 25_001
    assert fake.messages()[-1] == "line 25000"
    assert max(count for count, _, _ in fake.put_sizes) == 10_000


async def test_a_batch_holds_at_most_one_mebibyte(fake: FakeLogs, tmp_path: Path) -> None:
    output = lines(300, text="x" * 10_000)
    shipper = make_shipper(fake, FakeSource(output), tmp_path)
    await ship_all(shipper)
    assert len(fake.events()) == 300
    assert len(fake.put_sizes) >= 3
    assert all(size <= 1_048_576 for _, size, _ in fake.put_sizes)


async def test_a_batch_never_spans_more_than_a_day(fake: FakeLogs, tmp_path: Path) -> None:
    hour = 3_600 * 1_000_000_000
    output = lines(30, step=hour)
    shipper = make_shipper(fake, FakeSource(output), tmp_path)
    await ship_all(shipper)
    assert len(fake.events()) == 30
    assert len(fake.put_sizes) == 2


async def test_event_times_never_go_back(fake: FakeLogs, tmp_path: Path) -> None:
    output = [LogLine(T0 + 5_000_000, "late"), LogLine(T0 + 1_000_000, "early stderr")]
    shipper = make_shipper(fake, FakeSource(output), tmp_path)
    await ship_all(shipper)
    assert [e["timestamp"] for e in fake.events()] == [T0 // 1_000_000 + 5] * 2


async def test_a_huge_line_is_split_into_events(fake: FakeLogs, tmp_path: Path) -> None:
    text = "é" * 200_000  # 400,000 bytes in UTF-8
    shipper = make_shipper(fake, FakeSource([LogLine(T0, text)]), tmp_path)
    await ship_all(shipper)
    pieces = fake.messages()
    assert len(pieces) == 2
    assert "".join(pieces) == text


async def test_transient_failures_are_retried_without_duplicates(
    fake: FakeLogs, tmp_path: Path
) -> None:
    fake.fail_puts = [503, 500, 400]  # the 400 is a ServiceUnavailableException
    shipper = make_shipper(fake, FakeSource(lines(20)), tmp_path)
    await ship_all(shipper)
    assert fake.messages() == [f"line {i}" for i in range(20)]
    assert fake.calls.count("PutLogEvents") == 4


async def test_a_stream_deleted_meanwhile_is_made_again(fake: FakeLogs, tmp_path: Path) -> None:
    source = FakeSource(lines(3), running=True)
    shipper = make_shipper(fake, source, tmp_path)
    await shipper.prepare()
    shipper.start()
    await eventually(lambda: len(fake.events()) == 3)
    del fake.groups[GROUP][STREAM]
    source.push(*lines(2, start=3))
    source.exit()
    await asyncio.wait_for(shipper.wait(), 10)
    assert fake.messages() == ["line 3", "line 4"]


async def test_a_group_deleted_meanwhile_drops_the_batch_unless_it_may_be_created(
    fake: FakeLogs, tmp_path: Path
) -> None:
    source = FakeSource(lines(1), running=True)
    shipper = make_shipper(fake, source, tmp_path)
    await shipper.prepare()
    shipper.start()
    await eventually(lambda: len(fake.events()) == 1)
    del fake.groups[GROUP]
    source.push(*lines(1, start=1))
    await eventually(lambda: shipper.refused_events == 1)
    fake.groups[GROUP] = {STREAM: []}
    source.push(*lines(1, start=2))
    source.exit()
    await asyncio.wait_for(shipper.wait(), 10)
    assert fake.messages() == ["line 2"]


async def test_requests_are_signed_for_logs_in_the_group_region(
    fake: FakeLogs, tmp_path: Path
) -> None:
    fake.region = "eu-central-1"
    opts = AwslogsOptions.parse({"awslogs-group": GROUP, "awslogs-region": "eu-central-1"})
    shipper = make_shipper(fake, FakeSource([]), tmp_path, opts)
    shipper.client = LogsClient(
        "http://127.0.0.1:4580",
        "AKID",
        "s",
        "eu-central-1",
        transport=httpx.MockTransport(fake.handle),
    )
    await shipper.prepare()
    assert fake.calls == ["CreateLogStream"]


# --- modes ---------------------------------------------------------------------------


async def test_non_blocking_mode_drops_lines_while_the_buffer_is_full(
    fake: FakeLogs, tmp_path: Path
) -> None:
    fake.hold_before_store = asyncio.Event()
    opts = options(mode="non-blocking", **{"max-buffer-size": "2k"})
    source = FakeSource(lines(200, text="y" * 80))
    shipper = make_shipper(fake, source, tmp_path, opts, flush_interval=0.01)
    await shipper.prepare()
    shipper.start()
    await eventually(lambda: source.consumed == 200)
    fake.hold_before_store.set()
    await asyncio.wait_for(shipper.wait(), 10)
    assert shipper.dropped_lines > 100
    assert len(fake.events()) + shipper.dropped_lines == 200
    shipped = [int(m.split()[1]) for m in fake.messages()]
    assert shipped == sorted(shipped)


async def test_blocking_mode_waits_instead_of_dropping(
    fake: FakeLogs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(LogShipper, "BLOCKING_BUFFER", 2_000)
    fake.hold_before_store = asyncio.Event()
    source = FakeSource(lines(200, text="y" * 80))
    shipper = make_shipper(fake, source, tmp_path, options(mode="blocking"), flush_interval=0.01)
    await shipper.prepare()
    shipper.start()
    await asyncio.sleep(0.3)
    assert source.consumed < 200  # the reader waits for room
    fake.hold_before_store.set()
    await asyncio.wait_for(shipper.wait(), 10)
    assert shipper.dropped_lines == 0
    assert fake.messages() == [f"{'y' * 80} {i}" for i in range(200)]


# --- restarts ------------------------------------------------------------------------


async def test_a_restart_resumes_without_loss_or_duplicates(fake: FakeLogs, tmp_path: Path) -> None:
    # Three lines share one nanosecond across the restart point.
    same = T0 + 5_000_000
    before = [*lines(4), LogLine(same, "same a"), LogLine(same, "same b")]
    after = [LogLine(same, "same c"), *lines(3, start=10)]
    first_source = FakeSource(before, running=True)
    first = make_shipper(fake, first_source, tmp_path)
    await first.prepare()
    first.start()
    await eventually(lambda: len(fake.events()) == 6)
    await first.stop()

    second_source = FakeSource(before + after)
    second = make_shipper(fake, second_source, tmp_path)
    await ship_all(second)
    # From a little before the last shipped line: stderr lines may be stamped earlier.
    assert second_source.since == [same - MAX_STREAM_SKEW_NS]
    assert fake.messages() == [line.text for line in before + after]


async def test_a_restart_between_skewed_stdout_and_stderr_lines_is_exact(
    fake: FakeLogs, tmp_path: Path
) -> None:
    # Docker stamps the two streams in two copiers: file order is not time order.
    output = [
        LogLine(T0 + 100, "out a"),
        LogLine(T0 + 99, "err b", "stderr"),
        LogLine(T0 + 101, "out c"),
        LogLine(T0 + 100, "err d", "stderr"),
        LogLine(T0 + 102, "out e"),
    ]
    first_source = FakeSource(output[:3], running=True)
    first = make_shipper(fake, first_source, tmp_path)
    await first.prepare()
    first.start()
    await eventually(lambda: len(fake.events()) == 3)
    await first.stop()
    # Docker replays in file order whatever is stamped at or after `since`.
    second = make_shipper(fake, FakeSource(output), tmp_path)
    await ship_all(second)
    assert fake.messages() == [line.text for line in output]


@pytest.mark.parametrize(
    ("marks", "since"),
    [
        ((), 0),
        ((("stdout", T0, 1),), T0 - MAX_STREAM_SKEW_NS),
        ((("stderr", T0 - 5, 2), ("stdout", T0, 1)), T0 - 5),
        ((("stderr", T0 - 60 * 10**9, 1), ("stdout", T0, 1)), T0 - MAX_STREAM_SKEW_NS),
    ],
)
def test_resuming_reads_from_before_the_oldest_stream_mark(
    marks: tuple[tuple[str, int, int], ...], since: int
) -> None:
    assert OutputPosition(marks).since() == since


async def test_stop_ships_what_is_buffered(fake: FakeLogs, tmp_path: Path) -> None:
    source = FakeSource(lines(10), running=True)
    shipper = make_shipper(fake, source, tmp_path, flush_interval=60)
    await shipper.prepare()
    shipper.start()
    await eventually(lambda: source.consumed == 10)
    await shipper.stop()
    assert len(fake.events()) == 10


@pytest.mark.parametrize("stored", [True, False])
async def test_a_crash_between_ack_and_checkpoint_neither_loses_nor_repeats(
    fake: FakeLogs, tmp_path: Path, stored: bool
) -> None:
    held = asyncio.Event()
    if stored:
        fake.hold_after_store = held
    else:
        fake.hold_before_store = held
    output = lines(5)
    first = make_shipper(fake, FakeSource(output, running=True), tmp_path)
    await first.prepare()
    first.start()
    await eventually(lambda: fake.calls.count("PutLogEvents") == 1)
    await first.stop(timeout=0.05)  # the agent dies while the call is in flight
    assert json.loads(checkpoint_path(tmp_path, "c0ffee").read_text())["pending"]
    held.set()
    fake.hold_after_store = fake.hold_before_store = None

    second = make_shipper(fake, FakeSource([*output, *lines(2, start=5)]), tmp_path)
    await ship_all(second)
    assert fake.messages() == [f"line {i}" for i in range(7)]
    assert "pending" not in json.loads(checkpoint_path(tmp_path, "c0ffee").read_text())


async def test_repeated_identical_lines_are_not_mistaken_for_a_stored_batch(
    fake: FakeLogs, tmp_path: Path
) -> None:
    same_ms = [LogLine(T0 + i, "tick") for i in range(4)]
    first_source = FakeSource(same_ms[:2], running=True)
    first = make_shipper(fake, first_source, tmp_path)
    await first.prepare()
    first.start()
    await eventually(lambda: len(fake.events()) == 2)
    fake.hold_before_store = asyncio.Event()
    first_source.push(*same_ms[2:])
    await eventually(lambda: fake.calls.count("PutLogEvents") == 2)
    await first.stop(timeout=0.05)
    fake.hold_before_store.set()
    fake.hold_before_store = None
    # Only the first two ticks were stored; the two pending ones look the same.
    del fake.events()[2:]

    second = make_shipper(fake, FakeSource(same_ms), tmp_path)
    await ship_all(second)
    assert fake.messages() == ["tick"] * 4


async def test_discard_checkpoint_forgets_the_container(fake: FakeLogs, tmp_path: Path) -> None:
    shipper = make_shipper(fake, FakeSource(lines(1)), tmp_path)
    await ship_all(shipper)
    assert checkpoint_path(tmp_path, "c0ffee").exists()
    shipper.discard_checkpoint()
    assert not checkpoint_path(tmp_path, "c0ffee").exists()


# --- reading Docker ------------------------------------------------------------------


def frame(stream: int, payload: bytes) -> bytes:
    return bytes([stream, 0, 0, 0]) + len(payload).to_bytes(4, "big") + payload


@pytest.mark.parametrize(
    ("text", "nanos"),
    [
        ("2025-11-26T00:00:00.000000001Z", T0 + 1),
        ("2025-11-26T00:00:00.5Z", T0 + 500_000_000),
        ("2025-11-26T00:00:01Z", T0 + 1_000_000_000),
        ("2025-11-26T02:00:00.000000007+02:00", T0 + 7),
    ],
)
def test_docker_times_are_read_to_the_nanosecond(text: str, nanos: int) -> None:
    assert parse_docker_time(text) == nanos


class FakeDaemon:
    """Docker's logs endpoint on a Unix socket, answering HTTP/1.0 with a raw body."""

    def __init__(self, bodies: list[bytes]) -> None:
        self.bodies = bodies
        self.queries: list[dict[str, list[str]]] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        assert request.split(b"\r\n", 1)[0].endswith(b" HTTP/1.0")
        target = request.split(b" ")[1].decode()
        self.queries.append(parse_qs(urlsplit(target).query))
        writer.write(b"HTTP/1.0 200 OK\r\n\r\n" + self.bodies.pop(0))
        await writer.drain()
        writer.close()


@pytest.mark.parametrize("tty", [False, True])
async def test_docker_log_source_follows_frames_and_resumes_after_a_cut(
    tty: bool, tmp_path: Path
) -> None:
    first = (
        b"2025-11-26T00:00:00.000000001Z one\n",
        b"2025-11-26T00:00:00.000000002Z two\r\n",
    )
    # Docker's since is inclusive: the resumed stream repeats "one", which is skipped.
    second = (*first, b"2025-11-26T00:00:00.000000003Z three\n", b"2025-11-26T00:00:00.4Z last")

    def body(messages: tuple[bytes, ...]) -> bytes:
        if tty:
            return b"".join(messages)
        return b"".join(frame(1 if i % 2 == 0 else 2, m) for i, m in enumerate(messages))

    # The daemon goes away mid-message: the rest of the first stream never comes.
    daemon = FakeDaemon([body(first)[:-3], body(second)])
    socket_path = str(tmp_path / "docker.sock")
    server = await asyncio.start_unix_server(daemon.handle, socket_path)

    def api(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/version":
            return httpx.Response(200, json={"ApiVersion": "1.41"})
        status = "running" if len(daemon.queries) < 2 else "exited"
        return httpx.Response(200, json={"Config": {"Tty": tty}, "State": {"Status": status}})

    async with server, DockerClient(transport=httpx.MockTransport(api)) as docker:
        source = DockerLogSource(docker, socket_path=socket_path, retry_delay=0.01)
        got = [line async for line in source.follow("c0ffee", since_nanos=T0 + 1)]
    assert [(line.nanos - T0, line.text) for line in got] == [
        (1, "one"),
        (2, "two"),
        (3, "three"),
        (400_000_000, "last"),
    ]
    assert daemon.queries[0]["since"] == ["1764115200.000000001"]
    assert daemon.queries[0]["follow"] == ["1"]
    assert daemon.queries[0]["timestamps"] == ["1"]
    assert daemon.queries[1]["since"] == ["1764115200.000000001"]
    if not tty:
        assert [line.source for line in got] == ["stdout", "stderr", "stdout", "stderr"]
