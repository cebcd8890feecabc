"""Helpers for the elbv2 contract tests: clients in a region of their own, resources
that clean up after the test, AWS error codes, and signed raw Query requests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.support.server import ACCESS_KEY, REGION, SECRET_KEY, ServerProcess

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"
NAMESPACE = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"


def client(server: ServerProcess, region: str = REGION) -> Any:
    """An elbv2 client; a region of its own keeps listings free of other tests' resources."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "elbv2",
        endpoint_url=server.endpoint,
        region_name=region,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(retries={"max_attempts": 1}),
    )


def error_of(err: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = err.value.response["Error"]
    return error["Code"], error["Message"]


class Resources:
    """Creates load balancers and target groups and deletes them when the test ends
    (load balancers first: their listeners hold target groups)."""

    def __init__(self, elbv2: Any) -> None:
        self.elbv2 = elbv2
        self.load_balancers: list[str] = []
        self.target_groups: list[str] = []

    def load_balancer(self, name: str, **kw: Any) -> dict[str, Any]:
        lb: dict[str, Any] = self.elbv2.create_load_balancer(Name=name, **kw)["LoadBalancers"][0]
        self.load_balancers.append(lb["LoadBalancerArn"])
        return lb

    def target_group(self, name: str, **kw: Any) -> dict[str, Any]:
        settings: dict[str, Any] = {"Protocol": "HTTP", "Port": 8080, "TargetType": "ip", **kw}
        tg: dict[str, Any] = self.elbv2.create_target_group(Name=name, **settings)["TargetGroups"][
            0
        ]
        self.target_groups.append(tg["TargetGroupArn"])
        return tg

    def listener(self, lb: dict[str, Any], tg: dict[str, Any], port: int) -> dict[str, Any]:
        listener: dict[str, Any] = self.elbv2.create_listener(
            LoadBalancerArn=lb["LoadBalancerArn"],
            Protocol="HTTP",
            Port=port,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}],
        )["Listeners"][0]
        return listener

    def close(self) -> None:
        for arn in self.load_balancers:
            self.elbv2.delete_load_balancer(LoadBalancerArn=arn)
        for arn in self.target_groups:
            self.elbv2.delete_target_group(TargetGroupArn=arn)


@contextmanager
def resources(elbv2: Any) -> Iterator[Resources]:
    made = Resources(elbv2)
    try:
        yield made
    finally:
        made.close()


def signed_query(
    server: ServerProcess,
    fields: dict[str, str] | bytes,
    *,
    service: str = "elasticloadbalancing",
    region: str = REGION,
    secret_key: str = SECRET_KEY,
    content_type: str = FORM_CONTENT_TYPE,
) -> httpx.Response:
    """POST a Query request signed with botocore's SigV4Auth."""
    body = fields if isinstance(fields, bytes) else urlencode(fields).encode()
    request = AWSRequest(
        method="POST",
        url=server.endpoint + "/",
        data=body,
        headers={"Content-Type": content_type},
    )
    SigV4Auth(Credentials(ACCESS_KEY, secret_key), service, region).add_auth(request)
    return httpx.post(
        server.endpoint + "/", content=body, headers=dict(request.headers.items()), timeout=30
    )
