"""The smallest end-to-end proof: boto3 creates, describes and deletes a cluster."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError


def test_create_describe_delete_cluster_through_boto3(
    ecs: Any, unique: Callable[[str], str]
) -> None:
    name = unique("smoke")
    created = ecs.create_cluster(clusterName=name)["cluster"]
    assert created["status"] == "ACTIVE"
    assert created["clusterArn"] == f"arn:aws:ecs:us-east-1:000000000000:cluster/{name}"
    described = ecs.describe_clusters(clusters=[name])["clusters"]
    assert [c["clusterName"] for c in described] == [name]
    assert ecs.delete_cluster(cluster=name)["cluster"]["status"] == "INACTIVE"
    with pytest.raises(ClientError) as err:
        ecs.delete_cluster(cluster=name)
    assert err.value.response["Error"]["Code"] == "ClusterNotFoundException"
