"""The relational schema. Nested ECS documents live in JSON text columns; the
columns beside them are the ones queries filter, sort or lock on."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = [
    "account_settings",
    "attributes",
    "clusters",
    "container_instances",
    "idempotency_tokens",
    "metadata",
    "placement_epochs",
    "services",
    "tags",
    "task_definition_families",
    "task_definitions",
    "tasks",
]

metadata = MetaData()

clusters = Table(
    "clusters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("name", String(255), nullable=False),
    Column("arn", String(2048), nullable=False),
    Column("status", String(32), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("version", Integer, nullable=False, default=1),
    Column("doc", Text, nullable=False),
    UniqueConstraint("account_id", "region", "name", name="uq_clusters_name"),
)

task_definition_families = Table(
    "task_definition_families",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("family", String(255), primary_key=True),
    Column("last_revision", Integer, nullable=False),
)

task_definitions = Table(
    "task_definitions",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("family", String(255), primary_key=True),
    Column("revision", Integer, primary_key=True),
    Column("arn", String(2048), nullable=False),
    Column("status", String(32), nullable=False),
    Column("registered_at", Float, nullable=False),
    Column("deregistered_at", Float, nullable=True),
    Column("doc", Text, nullable=False),
    Index("ix_task_definitions_status", "account_id", "region", "status", "family", "revision"),
)

tags = Table(
    "tags",
    metadata,
    Column("resource_arn", String(2048), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("value", String(256), nullable=False),
)

account_settings = Table(
    "account_settings",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    # '' for the account default, else the IAM principal ARN the setting is for.
    Column("principal_arn", String(2048), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("value", String(256), nullable=False),
    Column("type", String(32), nullable=False),
)

attributes = Table(
    "attributes",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("cluster", String(255), primary_key=True),
    Column("target_id", String(2048), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("value", String(128), nullable=True),
    Column("target_type", String(64), nullable=False),
)

idempotency_tokens = Table(
    "idempotency_tokens",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("operation", String(64), primary_key=True),
    Column("token", String(64), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("result", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)

container_instances = Table(
    "container_instances",
    metadata,
    Column("instance_id", String(64), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("cluster", String(255), nullable=False),
    Column("arn", String(2048), nullable=False),
    Column("ec2_instance_id", String(64), nullable=True),
    Column("status", String(32), nullable=False),
    Column("agent_connected", Boolean, nullable=False),
    Column("last_heartbeat", Float, nullable=True),
    Column("registered_at", Float, nullable=False),
    Column("version", Integer, nullable=False, default=1),
    Column("doc", Text, nullable=False),
    Column("kind", String(16), nullable=False, server_default="EC2"),
    Index("ix_container_instances_cluster", "account_id", "region", "cluster", "status"),
)

tasks = Table(
    "tasks",
    metadata,
    Column("task_id", String(64), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("cluster", String(255), nullable=False),
    Column("arn", String(2048), nullable=False),
    Column("task_definition_arn", String(2048), nullable=False),
    Column("family", String(255), nullable=False),
    Column("group_name", String(255), nullable=True),
    Column("started_by", String(128), nullable=True),
    Column("launch_type", String(32), nullable=True),
    Column("container_instance_id", String(64), nullable=True),
    Column("last_status", String(32), nullable=False),
    Column("desired_status", String(32), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("stopped_at", Float, nullable=True),
    Column("version", Integer, nullable=False, default=1),
    Column("doc", Text, nullable=False),
    # What the task holds on its instance until it stops (see domain.resources).
    Column("reserved_cpu", Integer, nullable=False, server_default="0"),
    Column("reserved_memory", Integer, nullable=False, server_default="0"),
    Column("reserved_ports", Text, nullable=False, server_default=""),
    Column("client_token", String(64), nullable=True),
    # Lists by desired status; last_status too for a fleet's look-up of the tasks
    # waiting for it (desired vs last status).
    Index(
        "ix_tasks_cluster_status",
        "account_id",
        "region",
        "cluster",
        "desired_status",
        "last_status",
    ),
    Index("ix_tasks_instance", "container_instance_id", "desired_status"),
    # Covers what placement sums per instance and group, in GROUP BY order, so the sum
    # never reads the task documents.
    Index(
        "ix_tasks_placement",
        "account_id",
        "region",
        "cluster",
        "container_instance_id",
        "group_name",
        "last_status",
        "reserved_cpu",
        "reserved_memory",
        "reserved_ports",
    ),
)

# One row per capacity pool (a cluster's EC2 instances, or a region's FARGATE capacity,
# cluster ""): every transaction that changes what the pool offers or what its tasks
# hold writes a fresh token. Placement locks the row, so placements in a pool are
# serialized across replicas, and a capacity view kept in memory is reused only while
# the token it was kept with is still the committed one (usecases.capacity_views).
placement_epochs = Table(
    "placement_epochs",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("pool", String(255), primary_key=True),
    Column("token", String(32), nullable=False),
)

services = Table(
    "services",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("cluster", String(255), nullable=False),
    Column("name", String(255), nullable=False),
    Column("arn", String(2048), nullable=False),
    Column("status", String(32), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("version", Integer, nullable=False, default=1),
    Column("doc", Text, nullable=False),
    Index("ix_services_cluster", "account_id", "region", "cluster", "status"),
)

# --- application load balancing (elbv2) -----------------------------------------------
# Rows reference each other by ARN; deleting a load balancer cascades to its listeners,
# a listener to its rules, a target group to its targets. A target group that a rule
# forwards to cannot be deleted (rule_target_groups' foreign key).

load_balancers = Table(
    "load_balancers",
    metadata,
    Column("arn", String(2048), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("name", String(32), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("version", Integer, nullable=False, default=1),
    Column("doc", Text, nullable=False),
    UniqueConstraint("account_id", "region", "name", name="uq_load_balancers_name"),
)

target_groups = Table(
    "target_groups",
    metadata,
    Column("arn", String(2048), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("name", String(32), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("version", Integer, nullable=False, default=1),
    Column("doc", Text, nullable=False),
    UniqueConstraint("account_id", "region", "name", name="uq_target_groups_name"),
)

listeners = Table(
    "listeners",
    metadata,
    Column("arn", String(2048), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column(
        "load_balancer_arn",
        String(2048),
        ForeignKey("load_balancers.arn", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("port", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("version", Integer, nullable=False, default=1),
    Column("doc", Text, nullable=False),
    UniqueConstraint("load_balancer_arn", "port", name="uq_listeners_port"),
)

rules = Table(
    "rules",
    metadata,
    Column("arn", String(2048), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column(
        "listener_arn",
        String(2048),
        ForeignKey("listeners.arn", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("load_balancer_arn", String(2048), nullable=False),
    # NULL for the listener's default rule.
    Column("priority", Integer, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("doc", Text, nullable=False),
    Index("ix_rules_listener", "listener_arn", "priority"),
)

rule_target_groups = Table(
    "rule_target_groups",
    metadata,
    Column(
        "rule_arn",
        String(2048),
        ForeignKey("rules.arn", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("target_group_arn", String(2048), ForeignKey("target_groups.arn"), primary_key=True),
    Index("ix_rule_target_groups_target_group", "target_group_arn"),
)

targets = Table(
    "targets",
    metadata,
    Column(
        "target_group_arn",
        String(2048),
        ForeignKey("target_groups.arn", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("target_id", String(255), primary_key=True),
    Column("port", Integer, primary_key=True),
    Column("address", String(255), nullable=False),
    Column("availability_zone", String(64), nullable=True),
    Column("registered_at", Float, nullable=False),
    Column("state", String(32), nullable=False),
    Column("reason", String(64), nullable=True),
    Column("description", String(1024), nullable=True),
    Column("draining_until", Float, nullable=True),
)

__all__ += [
    "listeners",
    "load_balancers",
    "rule_target_groups",
    "rules",
    "target_groups",
    "targets",
]

__all__ += ["log_events", "log_groups", "log_streams"]

# CloudWatch Logs. Times are epoch milliseconds. Events are clustered by stream and
# time (the primary key; WITHOUT ROWID on SQLite) so that a stream's time range is
# one contiguous read; the group index serves FilterLogEvents across streams.
log_groups = Table(
    "log_groups",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("name", String(512), nullable=False),
    Column("arn", String(2048), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("retention_days", Integer, nullable=True),
    Column("kms_key_id", String(256), nullable=True),
    Column("log_group_class", String(32), nullable=False),
    Column("deletion_protection", Boolean, nullable=False),
    UniqueConstraint("account_id", "region", "name", name="uq_log_groups_name"),
)

log_streams = Table(
    "log_streams",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("group_id", Integer, nullable=False),
    Column("name", String(512), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("first_event_ts", BigInteger, nullable=True),
    # 0 until the first event, so that ordering by it is the same on every engine.
    Column("last_event_ts", BigInteger, nullable=False),
    Column("last_ingestion_time", BigInteger, nullable=True),
    Column("upload_sequence", BigInteger, nullable=False),
    Column("next_seq", BigInteger, nullable=False),
    Column("event_count", BigInteger, nullable=False),
    Column("stored_bytes", BigInteger, nullable=False),
    UniqueConstraint("group_id", "name", name="uq_log_streams_name"),
    Index("ix_log_streams_last_event", "group_id", "last_event_ts", "name"),
)

log_events = Table(
    "log_events",
    metadata,
    Column("stream_id", Integer, primary_key=True),
    Column("timestamp", BigInteger, primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("group_id", Integer, nullable=False),
    Column("ingestion_time", BigInteger, nullable=False),
    Column("message", Text, nullable=False),
    Index("ix_log_events_group_time", "group_id", "timestamp", "stream_id", "seq"),
    sqlite_with_rowid=False,
)

__all__ += ["metric_datapoints"]

# Metrics at 10-second resolution: one row per series (namespace, metric, canonical
# dimensions) and period. Samples merge into sum/count/min/max, so any statistic
# over any coarser period is one aggregate over a key range. Rows live a few hours.
metric_datapoints = Table(
    "metric_datapoints",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("namespace", String(255), primary_key=True),
    Column("metric", String(255), primary_key=True),
    Column("dimensions", String(1024), primary_key=True),
    Column("period_start", BigInteger, primary_key=True),
    Column("sum", Float, nullable=False),
    Column("sample_count", Integer, nullable=False),
    Column("minimum", Float, nullable=False),
    Column("maximum", Float, nullable=False),
    Column("unit", String(32), nullable=False),
    Index("ix_metric_datapoints_period", "period_start"),
)

__all__ += ["scalable_targets", "scaling_activities", "scaling_policies", "scheduled_actions"]

# Application Auto Scaling. Times are epoch seconds. Documents hold the API's shapes;
# `state` on a target is the scaling controller's memory (cooldowns, schedules fired).
scalable_targets = Table(
    "scalable_targets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("namespace", String(32), nullable=False),
    Column("resource_id", String(1600), nullable=False),
    Column("dimension", String(64), nullable=False),
    Column("arn", String(2048), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("doc", Text, nullable=False),
    Column("state", Text, nullable=False),
    UniqueConstraint(
        "account_id", "region", "namespace", "resource_id", "dimension", name="uq_scalable_targets"
    ),
)

scaling_policies = Table(
    "scaling_policies",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("target_id", Integer, ForeignKey("scalable_targets.id"), nullable=False),
    Column("name", String(256), nullable=False),
    Column("arn", String(2048), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("doc", Text, nullable=False),
    UniqueConstraint("target_id", "name", name="uq_scaling_policies_name"),
)

scheduled_actions = Table(
    "scheduled_actions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("target_id", Integer, ForeignKey("scalable_targets.id"), nullable=False),
    Column("name", String(256), nullable=False),
    Column("arn", String(2048), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("doc", Text, nullable=False),
    UniqueConstraint("target_id", "name", name="uq_scheduled_actions_name"),
)

# Activities outlive their target (AWS keeps six weeks), so they key on the resource.
scaling_activities = Table(
    "scaling_activities",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("namespace", String(32), nullable=False),
    Column("resource_id", String(1600), nullable=False),
    Column("activity_id", String(64), nullable=False),
    Column("start_time", Float, nullable=False),
    Column("doc", Text, nullable=False),
    Index(
        "ix_scaling_activities_resource",
        "account_id",
        "region",
        "namespace",
        "resource_id",
        "start_time",
    ),
)

__all__ += ["usage_records"]

# Cost accounting's history: what metering needs of a task once it is forgotten (after
# its retention) and of an instance once it is deregistered (its deregistration time
# is kept nowhere else). Written in the transaction that expires or deregisters it;
# the bill of what still exists is computed from the live rows. `doc` holds
# domain.metering's MeteredTask / MeteredInstance.
usage_records = Table(
    "usage_records",
    metadata,
    Column("kind", String(16), primary_key=True),
    Column("resource_id", String(64), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("cluster", String(255), nullable=False),
    Column("group_name", String(255), nullable=True),
    Column("begin_at", Float, nullable=False),
    Column("end_at", Float, nullable=False),
    Column("doc", Text, nullable=False),
    Index("ix_usage_records_window", "account_id", "region", "kind", "end_at"),
)
