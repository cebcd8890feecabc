"""CloudWatch Logs through boto3 and the AWS CLI: log groups, retention, streams,
PutLogEvents' batch rules, GetLogEvents' token semantics, FilterLogEvents with
patterns and pagination, tags, and AWS's errors."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.awscli import CliResult
from tests.support.server import ACCESS_KEY, ACCOUNT, REGION, SECRET_KEY, ServerProcess

Unique = Callable[[str], str]
Aws = Callable[..., CliResult]
DAY_MS = 86_400_000
GROUP_NOT_FOUND = "The specified log group does not exist."
STREAM_NOT_FOUND = "The specified log stream does not exist."


@pytest.fixture(scope="module")
def logs(server: ServerProcess) -> Any:
    return server.client("logs")


def now_ms() -> int:
    return int(time.time() * 1000)


def error_of(err: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = err.value.response["Error"]
    return error["Code"], error["Message"]


def group_name(unique: Unique) -> str:
    return "/ecs/" + unique("lg")


def make_stream(logs: Any, unique: Unique) -> tuple[str, str]:
    group = group_name(unique)
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="app/web/1")
    return group, "app/web/1"


def put(logs: Any, group: str, stream: str, events: list[tuple[int, str]]) -> dict[str, Any]:
    result: dict[str, Any] = logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": ts, "message": msg} for ts, msg in events],
    )
    return result


def messages(page: dict[str, Any]) -> list[str]:
    return [event["message"] for event in page["events"]]


def cli_json(result: CliResult) -> Any:
    assert result.returncode == 0, result.stderr
    return result.json


# --- log groups ----------------------------------------------------------------------


def test_a_new_log_group_is_described_as_aws_shows_it(logs: Any, unique: Unique) -> None:
    name = group_name(unique)
    before = now_ms()
    logs.create_log_group(logGroupName=name)
    [group] = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    assert group["logGroupName"] == name
    assert group["arn"] == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*"
    assert group["logGroupArn"] == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}"
    assert before - 5 <= group["creationTime"] <= now_ms() + 5
    assert group["storedBytes"] == 0
    assert group["metricFilterCount"] == 0
    assert group["logGroupClass"] == "STANDARD"
    assert "retentionInDays" not in group


def test_creating_a_log_group_twice_is_already_exists(logs: Any, unique: Unique) -> None:
    name = group_name(unique)
    logs.create_log_group(logGroupName=name)
    with pytest.raises(ClientError) as err:
        logs.create_log_group(logGroupName=name)
    assert error_of(err)[0] == "ResourceAlreadyExistsException"


@pytest.mark.parametrize("name", ["aws/reserved", "has space", "colon:no", "x" * 513])
def test_bad_log_group_names_are_invalid_parameters(logs: Any, name: str) -> None:
    with pytest.raises(ClientError) as err:
        logs.create_log_group(logGroupName=name)
    assert error_of(err)[0] == "InvalidParameterException"


def test_deleting_a_missing_log_group_is_not_found(logs: Any, unique: Unique) -> None:
    with pytest.raises(ClientError) as err:
        logs.delete_log_group(logGroupName=group_name(unique))
    assert error_of(err) == ("ResourceNotFoundException", GROUP_NOT_FOUND)


def test_deleting_a_log_group_deletes_its_streams_and_events(logs: Any, unique: Unique) -> None:
    group, stream = make_stream(logs, unique)
    put(logs, group, stream, [(now_ms(), "gone soon")])
    logs.delete_log_group(logGroupName=group)
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] == []
    logs.create_log_group(logGroupName=group)
    assert logs.describe_log_streams(logGroupName=group)["logStreams"] == []


def test_describe_log_groups_pages_by_name_after_a_prefix(logs: Any, unique: Unique) -> None:
    prefix = group_name(unique) + "/"
    names = [f"{prefix}{i}" for i in range(5)]
    for name in reversed(names):
        logs.create_log_group(logGroupName=name)
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        args: dict[str, Any] = {"logGroupNamePrefix": prefix, "limit": 2}
        if token:
            args["nextToken"] = token
        page = logs.describe_log_groups(**args)
        pages += 1
        seen += [g["logGroupName"] for g in page["logGroups"]]
        token = page.get("nextToken")
        if not token:
            break
    assert seen == names
    assert pages == 3
    paginated = logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=prefix)
    assert [g["logGroupName"] for p in paginated for g in p["logGroups"]] == names


def test_describe_log_groups_by_pattern_shows_names_only(logs: Any, unique: Unique) -> None:
    tag = unique("Pat").replace("-", "")
    wanted = [f"/x/{tag}/a", f"/y/in{tag}"]
    for name in [*wanted, f"/z/{tag.lower()}"]:
        logs.create_log_group(logGroupName=name)
    found = logs.describe_log_groups(logGroupNamePattern=tag)["logGroups"]
    assert [g["logGroupName"] for g in found] == wanted
    assert set(found[0]) == {"logGroupName", "arn", "creationTime"}
    with pytest.raises(ClientError) as err:
        logs.describe_log_groups(logGroupNamePattern=tag, logGroupNamePrefix="/x")
    assert error_of(err)[0] == "InvalidParameterException"


def test_describe_log_groups_by_identifiers_and_class(logs: Any, unique: Unique) -> None:
    standard, infrequent, other = (group_name(unique) for _ in range(3))
    logs.create_log_group(logGroupName=standard)
    logs.create_log_group(logGroupName=infrequent, logGroupClass="INFREQUENT_ACCESS")
    logs.create_log_group(logGroupName=other)
    arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{infrequent}"
    found = logs.describe_log_groups(logGroupIdentifiers=[standard, arn])["logGroups"]
    assert sorted(g["logGroupName"] for g in found) == sorted([standard, infrequent])
    classed = logs.describe_log_groups(
        logGroupIdentifiers=[standard, infrequent, other], logGroupClass="ESSENTIALS"
    )["logGroups"]
    assert [(g["logGroupName"], g["logGroupClass"]) for g in classed] == [
        (infrequent, "INFREQUENT_ACCESS")
    ]


def test_log_groups_live_in_their_region(server: ServerProcess, logs: Any, unique: Unique) -> None:
    name = group_name(unique)
    logs.create_log_group(logGroupName=name)
    elsewhere = boto3.client(
        "logs",
        endpoint_url=server.endpoint,
        region_name="eu-west-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(retries={"max_attempts": 1}),
    )
    assert elsewhere.describe_log_groups(logGroupNamePrefix=name)["logGroups"] == []
    elsewhere.create_log_group(logGroupName=name)
    [there] = elsewhere.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    assert ":eu-west-1:" in there["arn"]


def test_deletion_protection_blocks_deletes_until_disabled(logs: Any, unique: Unique) -> None:
    group = group_name(unique)
    logs.create_log_group(logGroupName=group, deletionProtectionEnabled=True)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    for call in (
        lambda: logs.delete_log_group(logGroupName=group),
        lambda: logs.delete_log_stream(logGroupName=group, logStreamName="s"),
    ):
        with pytest.raises(ClientError) as err:
            call()
        assert error_of(err)[0] == "ValidationException"
    logs.put_log_group_deletion_protection(
        logGroupIdentifier=group, deletionProtectionEnabled=False
    )
    logs.delete_log_group(logGroupName=group)


# --- retention -----------------------------------------------------------------------


def test_retention_policy_is_set_shown_and_removed(logs: Any, unique: Unique) -> None:
    name = group_name(unique)
    logs.create_log_group(logGroupName=name)
    logs.put_retention_policy(logGroupName=name, retentionInDays=7)
    [group] = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    assert group["retentionInDays"] == 7
    logs.delete_retention_policy(logGroupName=name)
    [group] = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    assert "retentionInDays" not in group


@pytest.mark.parametrize("days", [0, 2, 4, 8, 9999])
def test_retention_outside_aws_values_is_invalid(logs: Any, unique: Unique, days: int) -> None:
    name = group_name(unique)
    logs.create_log_group(logGroupName=name)
    with pytest.raises(ClientError) as err:
        logs.put_retention_policy(logGroupName=name, retentionInDays=days)
    code, message = error_of(err)
    assert code == "InvalidParameterException"
    assert f"Value '{days}' at 'retentionInDays'" in message
    assert "[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731" in message


def test_retention_on_a_missing_group_is_not_found(logs: Any, unique: Unique) -> None:
    for call in (
        lambda: logs.put_retention_policy(logGroupName=group_name(unique), retentionInDays=1),
        lambda: logs.delete_retention_policy(logGroupName=group_name(unique)),
    ):
        with pytest.raises(ClientError) as err:
            call()
        assert error_of(err) == ("ResourceNotFoundException", GROUP_NOT_FOUND)


# --- log streams ---------------------------------------------------------------------


def test_a_new_log_stream_is_described_without_event_times(logs: Any, unique: Unique) -> None:
    group, stream = make_stream(logs, unique)
    [found] = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert found["logStreamName"] == stream
    assert found["arn"] == (
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:log-stream:{stream}"
    )
    assert found["storedBytes"] == 0
    assert "lastEventTimestamp" not in found
    assert "firstEventTimestamp" not in found


def test_log_stream_errors(logs: Any, unique: Unique) -> None:
    group, stream = make_stream(logs, unique)
    with pytest.raises(ClientError) as err:
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    assert error_of(err)[0] == "ResourceAlreadyExistsException"
    with pytest.raises(ClientError) as err:
        logs.create_log_stream(logGroupName=group + "-missing", logStreamName="s")
    assert error_of(err) == ("ResourceNotFoundException", GROUP_NOT_FOUND)
    with pytest.raises(ClientError) as err:
        logs.create_log_stream(logGroupName=group, logStreamName="no:colons")
    assert error_of(err)[0] == "InvalidParameterException"
    logs.delete_log_stream(logGroupName=group, logStreamName=stream)
    with pytest.raises(ClientError) as err:
        logs.delete_log_stream(logGroupName=group, logStreamName=stream)
    assert error_of(err) == ("ResourceNotFoundException", STREAM_NOT_FOUND)
    with pytest.raises(ClientError) as err:
        logs.describe_log_streams(logGroupName=group + "-missing")
    assert error_of(err) == ("ResourceNotFoundException", GROUP_NOT_FOUND)


def test_describe_log_streams_by_prefix_and_pages(logs: Any, unique: Unique) -> None:
    group = group_name(unique)
    logs.create_log_group(logGroupName=group)
    for name in ("b/2", "a/1", "b/1", "c/1", "b/3"):
        logs.create_log_stream(logGroupName=group, logStreamName=name)
    first = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix="b/", limit=2)
    assert [s["logStreamName"] for s in first["logStreams"]] == ["b/1", "b/2"]
    second = logs.describe_log_streams(
        logGroupName=group, logStreamNamePrefix="b/", limit=2, nextToken=first["nextToken"]
    )
    assert [s["logStreamName"] for s in second["logStreams"]] == ["b/3"]
    assert "nextToken" not in second
    backwards = logs.describe_log_streams(logGroupName=group, descending=True)
    assert [s["logStreamName"] for s in backwards["logStreams"]] == [
        "c/1", "b/3", "b/2", "b/1", "a/1",
    ]  # fmt: skip
    by_identifier = logs.describe_log_streams(
        logGroupIdentifier=f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}"
    )
    assert len(by_identifier["logStreams"]) == 5


def test_describe_log_streams_by_last_event_time(logs: Any, unique: Unique) -> None:
    group = group_name(unique)
    logs.create_log_group(logGroupName=group)
    base = now_ms() - 60_000
    for name, offset in (("old", 0), ("newest", 3000), ("middle", 1000)):
        logs.create_log_stream(logGroupName=group, logStreamName=name)
        put(logs, group, name, [(base + offset, f"from {name}")])
    latest_first = logs.describe_log_streams(
        logGroupName=group, orderBy="LastEventTime", descending=True, limit=2
    )
    assert [s["logStreamName"] for s in latest_first["logStreams"]] == ["newest", "middle"]
    assert latest_first["logStreams"][0]["lastEventTimestamp"] == base + 3000
    rest = logs.describe_log_streams(
        logGroupName=group,
        orderBy="LastEventTime",
        descending=True,
        nextToken=latest_first["nextToken"],
    )
    assert [s["logStreamName"] for s in rest["logStreams"]] == ["old"]
    with pytest.raises(ClientError) as err:
        logs.describe_log_streams(
            logGroupName=group, orderBy="LastEventTime", logStreamNamePrefix="o"
        )
    assert error_of(err) == (
        "InvalidParameterException",
        "Cannot order by LastEventTime with a logStreamNamePrefix.",
    )


# --- PutLogEvents --------------------------------------------------------------------


def test_put_log_events_stores_events_and_updates_the_stream(logs: Any, unique: Unique) -> None:
    group, stream = make_stream(logs, unique)
    now = now_ms()
    result = put(logs, group, stream, [(now - 10, "first"), (now - 10, "second"), (now, "third")])
    assert result["nextSequenceToken"]
    assert "rejectedLogEventsInfo" not in result
    [described] = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert described["firstEventTimestamp"] == now - 10
    assert described["lastEventTimestamp"] == now
    assert described["lastIngestionTime"] >= now - 1000
    page = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)
    assert messages(page) == ["first", "second", "third"]
    assert all(e["ingestionTime"] >= now - 1000 for e in page["events"])
    [with_bytes] = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert with_bytes["storedBytes"] == len("firstsecondthird")


def test_sequence_tokens_are_accepted_and_ignored(logs: Any, unique: Unique) -> None:
    group, stream = make_stream(logs, unique)
    for token in ("49590302859328476712397847912", "not-a-real-token"):
        logs.put_log_events(
            logGroupName=group,
            logStreamName=stream,
            logEvents=[{"timestamp": now_ms(), "message": token}],
            sequenceToken=token,
        )
    page = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)
    assert len(page["events"]) == 2


def test_put_log_events_to_missing_group_or_stream_is_not_found(logs: Any, unique: Unique) -> None:
    group, _ = make_stream(logs, unique)
    with pytest.raises(ClientError) as err:
        put(logs, group + "-missing", "s", [(now_ms(), "x")])
    assert error_of(err) == ("ResourceNotFoundException", GROUP_NOT_FOUND)
    with pytest.raises(ClientError) as err:
        put(logs, group, "missing", [(now_ms(), "x")])
    assert error_of(err) == ("ResourceNotFoundException", STREAM_NOT_FOUND)


def test_put_log_events_batch_rules_fail_the_call(logs: Any, unique: Unique) -> None:
    group, stream = make_stream(logs, unique)
    now = now_ms()
    cases = {
        "must be in chronological order": [(now, "b"), (now - 1, "a")],
        "cannot span more than 24 hours": [(now - DAY_MS - 1, "a"), (now, "b")],
        "Upload too large": [(now, "x" * 600_000), (now, "y" * 600_000)],
    }
    for expected, events in cases.items():
        with pytest.raises(ClientError) as err:
            put(logs, group, stream, events)
        code, message = error_of(err)
        assert code == "InvalidParameterException"
        assert expected in message
    assert logs.get_log_events(logGroupName=group, logStreamName=stream)["events"] == []


def test_a_batch_of_exactly_the_size_limit_is_accepted(logs: Any, unique: Unique) -> None:
    group, stream = make_stream(logs, unique)
    message = "z" * (1_048_576 - 26)
    put(logs, group, stream, [(now_ms(), message)])
    with pytest.raises(ClientError) as err:
        put(logs, group, stream, [(now_ms(), message + "z")])
    assert error_of(err) == (
        "InvalidParameterException",
        "Upload too large: 1048577 bytes exceeds limit of 1048576",
    )


def test_too_old_too_new_and_expired_events_are_rejected_by_index(
    logs: Any, unique: Unique
) -> None:
    group, stream = make_stream(logs, unique)
    now = now_ms()
    result = put(
        logs,
        group,
        stream,
        [
            (now - 15 * DAY_MS, "too old"),
            (now - 60_000, "kept 1"),
            (now, "kept 2"),
            (now + 3 * 3_600_000, "too new"),
            (now + 4 * 3_600_000, "too new too"),
        ],
    )
    assert result["rejectedLogEventsInfo"] == {
        "tooOldLogEventEndIndex": 1,
        "tooNewLogEventStartIndex": 3,
    }
    page = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)
    assert messages(page) == ["kept 1", "kept 2"]
    logs.put_retention_policy(logGroupName=group, retentionInDays=1)
    expired = put(logs, group, stream, [(now - 2 * DAY_MS, "expired"), (now, "kept 3")])
    assert expired["rejectedLogEventsInfo"] == {"expiredLogEventEndIndex": 1}


def test_the_24_hour_span_counts_only_events_that_are_kept(logs: Any, unique: Unique) -> None:
    group, stream = make_stream(logs, unique)
    now = now_ms()
    result = put(logs, group, stream, [(now - 20 * DAY_MS, "old"), (now, "new")])
    assert result["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 1}


# --- GetLogEvents --------------------------------------------------------------------


def five_events(logs: Any, unique: Unique) -> tuple[str, str, int]:
    group, stream = make_stream(logs, unique)
    base = now_ms() - 10_000
    put(logs, group, stream, [(base + i * 1000, f"e{i}") for i in range(5)])
    return group, stream, base


def test_get_log_events_pages_forward_to_a_repeated_token(logs: Any, unique: Unique) -> None:
    group, stream, _ = five_events(logs, unique)
    args = {"logGroupName": group, "logStreamName": stream, "startFromHead": True, "limit": 2}
    first = logs.get_log_events(**args)
    assert messages(first) == ["e0", "e1"]
    assert first["nextForwardToken"].startswith("f/")
    assert first["nextBackwardToken"].startswith("b/")
    second = logs.get_log_events(**args, nextToken=first["nextForwardToken"])
    assert messages(second) == ["e2", "e3"]
    third = logs.get_log_events(**args, nextToken=second["nextForwardToken"])
    assert messages(third) == ["e4"]
    end = logs.get_log_events(**args, nextToken=third["nextForwardToken"])
    assert end["events"] == []
    assert end["nextForwardToken"] == third["nextForwardToken"]
    # New events show up behind the repeated token: the token is a position.
    put(logs, group, stream, [(now_ms(), "e5")])
    more = logs.get_log_events(**args, nextToken=end["nextForwardToken"])
    assert messages(more) == ["e5"]


def test_get_log_events_pages_backward_to_a_repeated_token(logs: Any, unique: Unique) -> None:
    group, stream, _ = five_events(logs, unique)
    args = {"logGroupName": group, "logStreamName": stream, "limit": 2}
    newest = logs.get_log_events(**args)
    assert messages(newest) == ["e3", "e4"]
    older = logs.get_log_events(**args, nextToken=newest["nextBackwardToken"])
    assert messages(older) == ["e1", "e2"]
    oldest = logs.get_log_events(**args, nextToken=older["nextBackwardToken"])
    assert messages(oldest) == ["e0"]
    end = logs.get_log_events(**args, nextToken=oldest["nextBackwardToken"])
    assert end["events"] == []
    assert end["nextBackwardToken"] == oldest["nextBackwardToken"]
    # And forward again from the oldest page.
    back = logs.get_log_events(**args, startFromHead=True, nextToken=oldest["nextForwardToken"])
    assert messages(back) == ["e1", "e2"]


def test_get_log_events_without_a_limit_returns_everything_in_order(
    logs: Any, unique: Unique
) -> None:
    group, stream, _ = five_events(logs, unique)
    page = logs.get_log_events(logGroupName=group, logStreamName=stream)
    assert messages(page) == ["e0", "e1", "e2", "e3", "e4"]


def test_get_log_events_time_range_includes_start_and_excludes_end(
    logs: Any, unique: Unique
) -> None:
    group, stream, base = five_events(logs, unique)
    page = logs.get_log_events(
        logGroupName=group,
        logStreamName=stream,
        startTime=base + 1000,
        endTime=base + 3000,
        startFromHead=True,
    )
    assert messages(page) == ["e1", "e2"]


def test_get_log_events_on_an_empty_stream_still_gives_tokens(logs: Any, unique: Unique) -> None:
    group, stream = make_stream(logs, unique)
    empty = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)
    assert empty["events"] == []
    assert empty["nextForwardToken"].startswith("f/")
    assert empty["nextBackwardToken"].startswith("b/")
    put(logs, group, stream, [(now_ms(), "arrived")])
    later = logs.get_log_events(
        logGroupName=group,
        logStreamName=stream,
        startFromHead=True,
        nextToken=empty["nextForwardToken"],
    )
    assert messages(later) == ["arrived"]


def test_get_log_events_errors(logs: Any, unique: Unique) -> None:
    group, stream = make_stream(logs, unique)
    with pytest.raises(ClientError) as err:
        logs.get_log_events(logGroupName=group, logStreamName=stream, nextToken="x/123")
    assert error_of(err) == ("InvalidParameterException", "The specified nextToken is invalid.")
    with pytest.raises(ClientError) as err:
        logs.get_log_events(logGroupName=group, logStreamName="missing")
    assert error_of(err) == ("ResourceNotFoundException", STREAM_NOT_FOUND)
    with pytest.raises(ClientError) as err:
        logs.get_log_events(logGroupName=group + "-missing", logStreamName=stream)
    assert error_of(err) == ("ResourceNotFoundException", GROUP_NOT_FOUND)
    with pytest.raises(ClientError) as err:
        logs.get_log_events(logGroupName=group, logGroupIdentifier=group, logStreamName=stream)
    assert error_of(err)[0] == "InvalidParameterException"


def test_get_log_events_through_the_aws_cli(logs: Any, unique: Unique, aws: Aws) -> None:
    group, stream, _ = five_events(logs, unique)
    head = cli_json(
        aws(
            "logs", "get-log-events", "--log-group-name", group, "--log-stream-name", stream,
            "--start-from-head", "--limit", "3",
        )
    )  # fmt: skip
    assert messages(head) == ["e0", "e1", "e2"]
    rest = cli_json(
        aws(
            "logs", "get-log-events", "--log-group-name", group, "--log-stream-name", stream,
            "--start-from-head", "--next-token", head["nextForwardToken"],
        )
    )  # fmt: skip
    assert messages(rest) == ["e3", "e4"]
    missing = aws("logs", "get-log-events", "--log-group-name", group, "--log-stream-name", "no")
    assert missing.returncode != 0
    assert "ResourceNotFoundException" in missing.stderr


# --- FilterLogEvents -----------------------------------------------------------------


def two_streams(logs: Any, unique: Unique) -> tuple[str, int]:
    group = group_name(unique)
    logs.create_log_group(logGroupName=group)
    for stream in ("api/1", "worker/1"):
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    base = now_ms() - 60_000
    put(
        logs,
        group,
        "api/1",
        [
            (base, "GET / 200"),
            (base + 2000, '{"level": "error", "latency": 250}'),
            (base + 4000, "ERROR timeout talking to db"),
        ],
    )
    put(
        logs,
        group,
        "worker/1",
        [
            (base + 1000, '{"level": "info", "latency": 20}'),
            (base + 3000, "WARN queue is long"),
            (base + 5000, "ERROR job 7 failed"),
        ],
    )
    return group, base


def test_filter_log_events_interleaves_streams_by_time(logs: Any, unique: Unique) -> None:
    group, base = two_streams(logs, unique)
    page = logs.filter_log_events(logGroupName=group)
    assert [e["timestamp"] - base for e in page["events"]] == [0, 1000, 2000, 3000, 4000, 5000]
    assert [e["logStreamName"] for e in page["events"][:2]] == ["api/1", "worker/1"]
    ids = [e["eventId"] for e in page["events"]]
    assert len(set(ids)) == 6
    assert ids == sorted(ids)
    assert "nextToken" not in page


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("ERROR", ["ERROR timeout talking to db", "ERROR job 7 failed"]),
        ("ERROR -timeout", ["ERROR job 7 failed"]),
        ("?WARN ?timeout", ["WARN queue is long", "ERROR timeout talking to db"]),
        ('"job 7"', ["ERROR job 7 failed"]),
        ('{ $.level = "error" }', ['{"level": "error", "latency": 250}']),
        ("{ $.latency > 100 }", ['{"level": "error", "latency": 250}']),
        (
            '{ $.level = "info" || $.latency > 100 }',
            ['{"level": "info", "latency": 20}', '{"level": "error", "latency": 250}'],
        ),
    ],
)
def test_filter_log_events_by_pattern(
    logs: Any, unique: Unique, pattern: str, expected: list[str]
) -> None:
    group, _ = two_streams(logs, unique)
    page = logs.filter_log_events(logGroupName=group, filterPattern=pattern)
    assert messages(page) == expected


def test_filter_log_events_by_streams_and_time(logs: Any, unique: Unique) -> None:
    group, base = two_streams(logs, unique)
    by_name = logs.filter_log_events(logGroupName=group, logStreamNames=["worker/1"])
    assert {e["logStreamName"] for e in by_name["events"]} == {"worker/1"}
    by_prefix = logs.filter_log_events(logGroupName=group, logStreamNamePrefix="api")
    assert len(by_prefix["events"]) == 3
    # startTime and endTime are both inclusive here.
    window = logs.filter_log_events(logGroupName=group, startTime=base + 1000, endTime=base + 3000)
    assert [e["timestamp"] - base for e in window["events"]] == [1000, 2000, 3000]
    with pytest.raises(ClientError) as err:
        logs.filter_log_events(
            logGroupName=group, logStreamNames=["api/1"], logStreamNamePrefix="api"
        )
    assert error_of(err)[0] == "InvalidParameterException"


def test_filter_log_events_pages_until_no_token(logs: Any, unique: Unique) -> None:
    group, base = two_streams(logs, unique)
    seen: list[int] = []
    token: str | None = None
    for _ in range(10):
        args: dict[str, Any] = {"logGroupName": group, "limit": 4}
        if token:
            args["nextToken"] = token
        page = logs.filter_log_events(**args)
        seen += [e["timestamp"] - base for e in page["events"]]
        token = page.get("nextToken")
        if token is None:
            break
    assert seen == [0, 1000, 2000, 3000, 4000, 5000]
    paginated = logs.get_paginator("filter_log_events").paginate(
        logGroupName=group, filterPattern="ERROR", PaginationConfig={"PageSize": 1}
    )
    assert [e["message"] for p in paginated for e in p["events"]] == [
        "ERROR timeout talking to db",
        "ERROR job 7 failed",
    ]


def test_filter_log_events_newest_first(logs: Any, unique: Unique) -> None:
    group, base = two_streams(logs, unique)
    first = logs.filter_log_events(logGroupName=group, startTime=base, startFromHead=False, limit=4)
    assert [e["timestamp"] - base for e in first["events"]] == [5000, 4000, 3000, 2000]
    rest = logs.filter_log_events(logGroupName=group, startTime=base, nextToken=first["nextToken"])
    assert [e["timestamp"] - base for e in rest["events"]] == [1000, 0]
    with pytest.raises(ClientError) as err:
        logs.filter_log_events(logGroupName=group, startTime=0, startFromHead=False)
    assert error_of(err)[0] == "InvalidParameterException"


def test_filter_log_events_errors(logs: Any, unique: Unique) -> None:
    group, _ = two_streams(logs, unique)
    with pytest.raises(ClientError) as err:
        logs.filter_log_events(logGroupName=group, filterPattern="{ $.level = }")
    code, message = error_of(err)
    assert code == "InvalidParameterException"
    assert "Invalid filter pattern" in message
    with pytest.raises(ClientError) as err:
        logs.filter_log_events(logGroupName=group + "-missing")
    assert error_of(err) == ("ResourceNotFoundException", GROUP_NOT_FOUND)
    with pytest.raises(ClientError) as err:
        logs.filter_log_events(logGroupName=group, nextToken="bogus")
    assert error_of(err)[0] == "InvalidParameterException"


def test_filter_log_events_through_the_aws_cli(logs: Any, unique: Unique, aws: Aws) -> None:
    group, _ = two_streams(logs, unique)
    found = cli_json(
        aws(
            "logs", "filter-log-events", "--log-group-name", group,
            "--filter-pattern", "ERROR", "--page-size", "1",
        )
    )  # fmt: skip
    assert messages(found) == ["ERROR timeout talking to db", "ERROR job 7 failed"]
    as_json = cli_json(
        aws(
            "logs", "filter-log-events", "--log-group-name", group,
            "--log-stream-names", "api/1", "--filter-pattern", '{ $.latency > 100 }',
        )
    )  # fmt: skip
    assert [json.loads(m)["latency"] for m in messages(as_json)] == [250]


# --- tags ----------------------------------------------------------------------------


def test_tags_by_log_group_name(logs: Any, unique: Unique) -> None:
    group = group_name(unique)
    logs.create_log_group(logGroupName=group, tags={"team": "web"})
    logs.tag_log_group(logGroupName=group, tags={"env": "prod", "team": "api"})
    assert logs.list_tags_log_group(logGroupName=group)["tags"] == {
        "env": "prod",
        "team": "api",
    }
    logs.untag_log_group(logGroupName=group, tags=["team", "absent"])
    assert logs.list_tags_log_group(logGroupName=group)["tags"] == {"env": "prod"}
    with pytest.raises(ClientError) as err:
        logs.list_tags_log_group(logGroupName=group + "-missing")
    assert error_of(err) == ("ResourceNotFoundException", GROUP_NOT_FOUND)


def test_tags_by_arn(logs: Any, unique: Unique) -> None:
    group = group_name(unique)
    logs.create_log_group(logGroupName=group)
    arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}"
    logs.tag_resource(resourceArn=arn, tags={"a": "1"})
    logs.tag_log_group(logGroupName=group, tags={"b": "2"})
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"a": "1", "b": "2"}
    assert logs.list_tags_log_group(logGroupName=group)["tags"] == {"a": "1", "b": "2"}
    logs.untag_resource(resourceArn=arn, tagKeys=["a"])
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"b": "2"}
    logs.delete_log_group(logGroupName=group)
    logs.create_log_group(logGroupName=group)
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {}


def test_tag_errors(logs: Any, unique: Unique) -> None:
    group = group_name(unique)
    logs.create_log_group(logGroupName=group)
    arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}"
    with pytest.raises(ClientError) as err:
        logs.tag_resource(resourceArn=arn + "-missing", tags={"a": "1"})
    assert error_of(err) == ("ResourceNotFoundException", GROUP_NOT_FOUND)
    with pytest.raises(ClientError) as err:
        logs.tag_resource(resourceArn="arn:aws:ecs:us-east-1:1:cluster/x", tags={"a": "1"})
    assert error_of(err)[0] == "InvalidParameterException"
    logs.tag_resource(resourceArn=arn, tags={f"k{i}": "v" for i in range(50)})
    with pytest.raises(ClientError) as err:
        logs.tag_resource(resourceArn=arn, tags={"one-more": "v"})
    assert error_of(err)[0] == "TooManyTagsException"
    with pytest.raises(ClientError) as err:
        logs.tag_log_group(logGroupName=group, tags={"one-more": "v"})
    assert error_of(err)[0] == "InvalidParameterException"


def test_describe_log_groups_through_the_aws_cli(logs: Any, unique: Unique, aws: Aws) -> None:
    group = group_name(unique)
    created = aws("logs", "create-log-group", "--log-group-name", group)
    assert created.returncode == 0, created.stderr
    found = cli_json(aws("logs", "describe-log-groups", "--log-group-name-prefix", group))
    assert [g["logGroupName"] for g in found["logGroups"]] == [group]
    again = aws("logs", "create-log-group", "--log-group-name", group)
    assert again.returncode != 0
    assert "ResourceAlreadyExistsException" in again.stderr
