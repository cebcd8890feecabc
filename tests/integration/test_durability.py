"""Durable before acknowledged: a server killed with SIGKILL in the middle of a burst
of writes comes back with every write it answered 200 to.

Several threads write (CreateCluster with tags, RegisterTaskDefinition) as fast
as the server answers; once enough writes are acknowledged the server is
killed while writes are still in flight, restarted on the same data, and every
acknowledged write is looked up. Runs on SQLite (the data dir) and on
PostgreSQL (--database-url).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.support.server import ACCESS_KEY, REGION, SECRET_KEY, ServerProcess

pytestmark = pytest.mark.integration

WRITERS = 6
# A loaded machine can take long to import and migrate; a slow start is not a failure.
START_TIMEOUT = 300.0
# Enough acknowledged writes that the kill lands in a busy server, not a warm-up.
ACKNOWLEDGED_BEFORE_KILL = 60


@dataclass
class Ledger:
    """What the server acknowledged, recorded by the writer threads."""

    clusters: dict[str, dict[str, str]] = field(default_factory=dict)
    task_definitions: dict[str, dict[str, Any]] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    enough: threading.Event = field(default_factory=threading.Event)

    def count(self) -> int:
        return len(self.clusters) + len(self.task_definitions)

    def cluster_created(self, name: str, tags: dict[str, str]) -> None:
        with self.lock:
            self.clusters[name] = tags
            self._tick()

    def task_definition_registered(self, arn: str, container: dict[str, Any]) -> None:
        with self.lock:
            self.task_definitions[arn] = container
            self._tick()

    def _tick(self) -> None:
        if self.count() >= ACKNOWLEDGED_BEFORE_KILL:
            self.enough.set()


def client(server: ServerProcess) -> Any:
    return boto3.client(
        "ecs",
        endpoint_url=server.endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(
            retries={"max_attempts": 1}, connect_timeout=5, read_timeout=60, tcp_keepalive=True
        ),
    )


def writer(server: ServerProcess, ledger: Ledger, run: str, index: int) -> None:
    """Write until the server stops answering; record each 200."""
    ecs = client(server)
    family = f"durable-{run}-{index}"
    for seq in range(100_000):
        try:
            if seq % 2 == 0:
                name = f"durable-{run}-{index}-{seq}"
                tags = {"writer": str(index), "seq": str(seq)}
                ecs.create_cluster(
                    clusterName=name, tags=[{"key": k, "value": v} for k, v in tags.items()]
                )
                ledger.cluster_created(name, tags)
            else:
                container = {
                    "name": "app",
                    "image": f"busybox:{seq}",
                    "memory": 64 + seq,
                    "environment": [{"name": "SEQ", "value": str(seq)}],
                }
                arn = ecs.register_task_definition(family=family, containerDefinitions=[container])[
                    "taskDefinition"
                ]["taskDefinitionArn"]
                ledger.task_definition_registered(arn, container)
        except ClientError as err:
            # An AWS error answer is not an acknowledged write; a 5xx would be a bug.
            with ledger.lock:
                ledger.refused.append(str(err))
            return
        except BotoCoreError:
            return  # the server is gone: this write's fate is unknown, which is allowed


def burst_kill_restart(server: ServerProcess) -> Ledger:
    server.start(timeout=START_TIMEOUT)
    ledger = Ledger()
    run = uuid.uuid4().hex[:8]
    threads = [
        threading.Thread(target=writer, args=(server, ledger, run, i), daemon=True)
        for i in range(WRITERS)
    ]
    for t in threads:
        t.start()
    reached = ledger.enough.wait(timeout=300)
    server.kill9()
    for t in threads:
        t.join(timeout=120)
    assert reached, f"only {ledger.count()} writes acknowledged: {ledger.refused[:3]}"
    assert not any(t.is_alive() for t in threads), "a writer hung on a dead server"
    assert ledger.refused == []
    server.start(timeout=START_TIMEOUT)
    return ledger


def assert_all_acknowledged_writes_present(server: ServerProcess, ledger: Ledger) -> None:
    ecs = client(server)
    names = sorted(ledger.clusters)
    for start in range(0, len(names), 100):
        batch = names[start : start + 100]
        found = ecs.describe_clusters(clusters=batch, include=["TAGS"])
        assert found["failures"] == []
        for cluster in found["clusters"]:
            assert cluster["status"] == "ACTIVE"
            tags = {t["key"]: t["value"] for t in cluster["tags"]}
            assert tags == ledger.clusters[cluster["clusterName"]]
        assert sorted(c["clusterName"] for c in found["clusters"]) == batch

    for arn, container in ledger.task_definitions.items():
        described = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        assert described["taskDefinitionArn"] == arn
        assert described["status"] == "ACTIVE"
        (stored,) = described["containerDefinitions"]
        assert stored["image"] == container["image"]
        assert stored["memory"] == container["memory"]
        assert stored["environment"] == container["environment"]

    # Revisions stay gap-free per family: every acknowledged revision is there, and the
    # family's next revision follows the highest one that exists.
    families: dict[str, list[int]] = {}
    for arn in ledger.task_definitions:
        family, revision = arn.rsplit("/", 1)[1].rsplit(":", 1)
        families.setdefault(family, []).append(int(revision))
    for family, revisions in families.items():
        pages = ecs.get_paginator("list_task_definitions").paginate(familyPrefix=family, sort="ASC")
        listed = [a for page in pages for a in page["taskDefinitionArns"]]
        present = [
            int(a.rsplit(":", 1)[1]) for a in listed if a.rsplit("/", 1)[1].startswith(family + ":")
        ]
        assert set(revisions) <= set(present)
        assert present == list(range(1, len(present) + 1))

    # And the restarted server takes new writes.
    after = ecs.create_cluster(clusterName=f"after-restart-{uuid.uuid4().hex[:8]}")
    assert after["cluster"]["status"] == "ACTIVE"


def test_acknowledged_writes_survive_kill_9_on_sqlite(fresh_server: ServerProcess) -> None:
    ledger = burst_kill_restart(fresh_server)
    assert ledger.clusters and ledger.task_definitions
    assert_all_acknowledged_writes_present(fresh_server, ledger)


@pytest.fixture
def postgres_database(postgres_url: str) -> Iterator[str]:
    name = f"durable_{uuid.uuid4().hex[:16]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.postgres
def test_acknowledged_writes_survive_kill_9_on_postgres(
    fresh_server: ServerProcess, postgres_database: str
) -> None:
    fresh_server.database_url = postgres_database
    ledger = burst_kill_restart(fresh_server)
    assert ledger.clusters and ledger.task_definitions
    assert_all_acknowledged_writes_present(fresh_server, ledger)
