"""SigV4 on the wire: every refusal AWS makes, with AWS's codes and wording, and the
region taken from the credential scope."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.awscli import AWS
from tests.support.server import ACCESS_KEY, ACCOUNT, SECRET_KEY, ServerProcess
from tests.support.signing import ECS_TARGET_PREFIX, call, sign

MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


def error_of(response: httpx.Response) -> tuple[str, str]:
    assert 400 <= response.status_code < 500, response.text
    body = response.json()
    assert response.headers["x-amzn-ErrorType"] == body["__type"]
    return body["__type"], body["message"]


def amz(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def test_a_correctly_signed_request_is_served(server: ServerProcess, http: httpx.Client) -> None:
    response = call(server.endpoint, "ListClusters", {}, client=http)
    assert response.status_code == 200, response.text


def test_a_request_without_authorization_is_a_missing_authentication_token(
    server: ServerProcess, http: httpx.Client
) -> None:
    response = http.post(
        server.endpoint + "/",
        content=b"{}",
        headers={
            "X-Amz-Target": f"{ECS_TARGET_PREFIX}.ListClusters",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    assert response.status_code == 403
    assert error_of(response) == (
        "MissingAuthenticationTokenException",
        "Missing Authentication Token",
    )


def test_an_unknown_access_key_is_an_unrecognized_client(
    server: ServerProcess, http: httpx.Client
) -> None:
    response = call(
        server.endpoint, "ListClusters", {}, client=http, access_key="AKIANOBODYKNOWSTHIS1"
    )
    assert error_of(response) == (
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    )


def test_the_wrong_secret_is_an_invalid_signature(
    server: ServerProcess, http: httpx.Client
) -> None:
    response = call(server.endpoint, "ListClusters", {}, client=http, secret_key="wrong")
    assert response.status_code == 403
    assert error_of(response) == ("InvalidSignatureException", MISMATCH)


def test_a_request_signed_ten_minutes_ago_has_expired(
    server: ServerProcess, http: httpx.Client
) -> None:
    at = datetime.now(UTC) - timedelta(minutes=10)
    response = call(server.endpoint, "ListClusters", {}, client=http, when=at)
    code, message = error_of(response)
    assert code == "InvalidSignatureException"
    # The server's own clock is in the message; its shape is AWS's.
    assert re.fullmatch(
        rf"Signature expired: {amz(at)} is now earlier than \d{{8}}T\d{{6}}Z "
        r"\(\d{8}T\d{6}Z - 5 min\.\)",
        message,
    ), message


def test_a_request_signed_ten_minutes_ahead_is_not_yet_current(
    server: ServerProcess, http: httpx.Client
) -> None:
    at = datetime.now(UTC) + timedelta(minutes=10)
    response = call(server.endpoint, "ListClusters", {}, client=http, when=at)
    code, message = error_of(response)
    assert code == "InvalidSignatureException"
    assert re.fullmatch(
        rf"Signature not yet current: {amz(at)} is still later than \d{{8}}T\d{{6}}Z "
        r"\(\d{8}T\d{6}Z \+ 5 min\.\)",
        message,
    ), message


def test_a_body_tampered_with_after_signing_is_an_invalid_signature(
    server: ServerProcess, http: httpx.Client, unique: Callable[[str], str]
) -> None:
    signed_for = {"clusterName": unique("meant")}
    tampered = {"clusterName": unique("evil")}
    response = call(
        server.endpoint,
        "CreateCluster",
        signed_for,
        client=http,
        send_body=json.dumps(tampered).encode(),
    )
    assert error_of(response) == ("InvalidSignatureException", MISMATCH)
    listed = call(server.endpoint, "ListClusters", {}, client=http).json()["clusterArns"]
    assert not any(arn.endswith("/" + tampered["clusterName"]) for arn in listed)


def test_a_target_changed_after_signing_is_an_invalid_signature(
    server: ServerProcess, http: httpx.Client
) -> None:
    headers = sign(server.endpoint, b"{}", target=f"{ECS_TARGET_PREFIX}.ListClusters")
    headers["X-Amz-Target"] = f"{ECS_TARGET_PREFIX}.DescribeClusters"
    response = http.post(server.endpoint + "/", content=b"{}", headers=headers)
    assert error_of(response) == ("InvalidSignatureException", MISMATCH)


def test_a_signature_scoped_to_another_service_is_refused(
    server: ServerProcess, http: httpx.Client
) -> None:
    response = call(server.endpoint, "ListClusters", {}, client=http, service="s3")
    assert error_of(response) == (
        "InvalidSignatureException",
        "Credential should be scoped to correct service: 'ecs'.",
    )


def test_a_signature_scoped_to_a_malformed_region_is_refused(
    server: ServerProcess, http: httpx.Client
) -> None:
    response = call(server.endpoint, "ListClusters", {}, client=http, region="x" * 40)
    assert error_of(response) == (
        "IncompleteSignatureException",
        f"Credential should be scoped to a valid region, not '{'x' * 40}'. ",
    )


def test_boto3_with_a_wrong_secret_gets_invalid_signature(server: ServerProcess) -> None:
    client = boto3.client(
        "ecs",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key="definitely-not-it",
        config=Config(retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as err:
        client.list_clusters()
    assert err.value.response["Error"] == {"Code": "InvalidSignatureException", "Message": MISMATCH}


def test_aws_cli_with_an_unknown_key_reports_unrecognized_client(server: ServerProcess) -> None:
    env = {**server.env(), "AWS_ACCESS_KEY_ID": "AKIANOBODYKNOWSTHIS1"}
    result = subprocess.run(
        [AWS, "ecs", "list-clusters"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "UnrecognizedClientException" in result.stderr
    assert "The security token included in the request is invalid." in result.stderr


def regional(server: ServerProcess, region: str) -> Any:
    return boto3.client(
        "ecs",
        endpoint_url=server.endpoint,
        region_name=region,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(retries={"max_attempts": 1}),
    )


def test_the_region_comes_from_the_credential_scope(
    server: ServerProcess, unique: Callable[[str], str]
) -> None:
    name = unique("regional")
    ireland, virginia = regional(server, "eu-west-1"), regional(server, "us-east-1")

    created = ireland.create_cluster(clusterName=name)["cluster"]
    assert created["clusterArn"] == f"arn:aws:ecs:eu-west-1:{ACCOUNT}:cluster/{name}"

    seen_from_virginia = virginia.describe_clusters(clusters=[name])
    assert seen_from_virginia["clusters"] == []
    assert seen_from_virginia["failures"] == [
        {"arn": f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/{name}", "reason": "MISSING"}
    ]
    assert created["clusterArn"] not in virginia.list_clusters(maxResults=100)["clusterArns"]
    with pytest.raises(ClientError) as err:
        virginia.delete_cluster(cluster=name)
    assert err.value.response["Error"]["Code"] == "ClusterNotFoundException"

    seen_from_ireland = ireland.describe_clusters(clusters=[name])["clusters"]
    assert [c["clusterArn"] for c in seen_from_ireland] == [created["clusterArn"]]


def test_the_same_name_in_two_regions_is_two_clusters(
    server: ServerProcess, unique: Callable[[str], str]
) -> None:
    name = unique("twin")
    ireland, tokyo = regional(server, "eu-west-1"), regional(server, "ap-northeast-1")
    ireland.create_cluster(clusterName=name, tags=[{"key": "where", "value": "ireland"}])
    tokyo.create_cluster(clusterName=name, tags=[{"key": "where", "value": "tokyo"}])

    tokyo.delete_cluster(cluster=name)

    (in_ireland,) = ireland.describe_clusters(clusters=[name], include=["TAGS"])["clusters"]
    assert in_ireland["status"] == "ACTIVE"
    assert in_ireland["tags"] == [{"key": "where", "value": "ireland"}]
    (in_tokyo,) = tokyo.describe_clusters(clusters=[name])["clusters"]
    assert in_tokyo["status"] == "INACTIVE"
