"""The agent's reporter: newest state per task, early start states held briefly."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from openecs.agent.reporter import Reporter


class Recorder:
    def __init__(self) -> None:
        self.batches: list[list[tuple[str, str]]] = []
        self.sent = asyncio.Event()

    async def send(self, batch: list[dict[str, Any]]) -> None:
        self.batches.append([(r["taskArn"], r["lastStatus"]) for r in batch])
        self.sent.set()


async def _with_reporter(hold: float, body: Any) -> Recorder:
    recorder = Recorder()
    reporter = Reporter(recorder.send, hold=hold)
    runner = asyncio.create_task(reporter.run())
    try:
        await body(reporter, recorder)
        await asyncio.wait_for(reporter.flushed(), 2.0)
    finally:
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner
    return recorder


def test_an_early_state_superseded_within_the_hold_is_never_sent() -> None:
    async def body(reporter: Reporter, recorder: Recorder) -> None:
        reporter.submit({"taskArn": "t1", "lastStatus": "PENDING"})
        reporter.submit({"taskArn": "t1", "lastStatus": "ACTIVATING"})
        await asyncio.sleep(0)
        assert recorder.batches == []  # held
        reporter.submit({"taskArn": "t1", "lastStatus": "RUNNING"})

    recorder = asyncio.run(_with_reporter(10.0, body))
    assert recorder.batches == [[("t1", "RUNNING")]]


def test_an_early_state_alone_goes_out_when_the_hold_ends() -> None:
    async def body(reporter: Reporter, recorder: Recorder) -> None:
        reporter.submit({"taskArn": "t1", "lastStatus": "PENDING"})
        await asyncio.wait_for(recorder.sent.wait(), 2.0)

    recorder = asyncio.run(_with_reporter(0.02, body))
    assert recorder.batches == [[("t1", "PENDING")]]


def test_any_other_state_goes_at_once_and_takes_held_ones_along() -> None:
    async def body(reporter: Reporter, recorder: Recorder) -> None:
        reporter.submit({"taskArn": "t1", "lastStatus": "PENDING"})
        reporter.submit({"taskArn": "t2", "lastStatus": "STOPPED"})
        await asyncio.wait_for(recorder.sent.wait(), 1.0)  # long before the 10 s hold

    recorder = asyncio.run(_with_reporter(10.0, body))
    assert recorder.batches == [[("t1", "PENDING"), ("t2", "STOPPED")]]


def test_without_a_hold_every_state_goes_at_once() -> None:
    async def body(reporter: Reporter, recorder: Recorder) -> None:
        reporter.submit({"taskArn": "t1", "lastStatus": "PENDING"})
        await asyncio.wait_for(recorder.sent.wait(), 1.0)

    recorder = asyncio.run(_with_reporter(0.0, body))
    assert recorder.batches == [[("t1", "PENDING")]]
