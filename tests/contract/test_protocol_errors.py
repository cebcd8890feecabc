"""The JSON 1.1 protocol's failure modes, on the wire: AWS error bodies and codes,
never a 500, never a traceback.

Requests are signed correctly (botocore's SigV4Auth) so that what is tested is
the protocol layer behind authentication.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from openecs.api.registry import build_services
from tests.support.server import ServerProcess
from tests.support.signing import call


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


def error_of(response: httpx.Response) -> tuple[str, str]:
    """(__type, message) of an AWS JSON error response, after checking its envelope."""
    assert 400 <= response.status_code < 500, response.text
    assert "Traceback" not in response.text
    assert response.headers["content-type"] == "application/x-amz-json-1.1"
    body = response.json()
    assert set(body) == {"__type", "message"}
    assert response.headers["x-amzn-ErrorType"] == body["__type"]
    assert response.headers["x-amzn-RequestId"]
    return body["__type"], body["message"]


def post(server: ServerProcess, http: httpx.Client, operation: str, **kw: Any) -> httpx.Response:
    return call(server.endpoint, operation, client=http, **kw)


def test_malformed_json_is_a_serialization_exception(
    server: ServerProcess, http: httpx.Client
) -> None:
    response = post(server, http, "ListClusters", body=b'{"maxResults": 5')
    assert response.status_code == 400
    assert error_of(response) == (
        "SerializationException",
        "Could not parse the request body as JSON.",
    )


def test_body_that_is_not_utf8_is_a_serialization_exception(
    server: ServerProcess, http: httpx.Client
) -> None:
    response = post(server, http, "ListClusters", body=b'{"nextToken": "\xff\xfe"}')
    assert error_of(response)[0] == "SerializationException"


def test_json_nested_beyond_the_parser_limit_is_a_serialization_exception(
    server: ServerProcess, http: httpx.Client
) -> None:
    deep = b'{"clusters": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    response = post(server, http, "DescribeClusters", body=deep)
    assert error_of(response) == (
        "SerializationException",
        "Could not parse the request body as JSON.",
    )


def test_a_json_array_instead_of_an_object_is_a_serialization_exception(
    server: ServerProcess, http: httpx.Client
) -> None:
    response = post(server, http, "ListClusters", body=[1, 2])
    assert error_of(response) == (
        "SerializationException",
        "Start of structure or map found where not expected.",
    )


def test_a_number_where_a_string_belongs_is_a_serialization_exception(
    server: ServerProcess, http: httpx.Client
) -> None:
    response = post(server, http, "CreateCluster", body={"clusterName": 5})
    assert error_of(response) == (
        "SerializationException",
        "Unexpected value type for 'clusterName': expected a string but got number.",
    )


def test_a_string_where_an_integer_belongs_is_a_serialization_exception(
    server: ServerProcess, http: httpx.Client
) -> None:
    response = post(server, http, "ListClusters", body={"maxResults": "ten"})
    assert error_of(response) == (
        "SerializationException",
        "Unexpected value type for 'maxResults': expected integer but got string.",
    )


def test_a_string_where_a_list_belongs_is_a_serialization_exception(
    server: ServerProcess, http: httpx.Client
) -> None:
    response = post(server, http, "DescribeClusters", body={"clusters": "default"})
    assert error_of(response) == (
        "SerializationException",
        "Unexpected value type for 'clusters': expected a list.",
    )


def test_a_list_where_a_structure_belongs_is_a_serialization_exception(
    server: ServerProcess, http: httpx.Client
) -> None:
    response = post(server, http, "CreateCluster", body={"configuration": []})
    assert error_of(response) == (
        "SerializationException",
        "Unexpected value type for 'configuration': expected a structure.",
    )


def test_an_integer_beyond_32_bits_is_a_serialization_exception(
    server: ServerProcess, http: httpx.Client
) -> None:
    response = post(server, http, "ListClusters", body={"maxResults": 2**40})
    assert error_of(response) == (
        "SerializationException",
        f"Unexpected value for 'maxResults': {2**40} is out of range for integer.",
    )


def test_a_string_where_a_boolean_belongs_is_a_serialization_exception(
    server: ServerProcess, http: httpx.Client
) -> None:
    body = {
        "configuration": {
            "executeCommandConfiguration": {
                "logConfiguration": {"cloudWatchEncryptionEnabled": "yes"}
            }
        }
    }
    response = post(server, http, "CreateCluster", body=body)
    path = "configuration.executeCommandConfiguration.logConfiguration.cloudWatchEncryptionEnabled"
    assert error_of(response) == (
        "SerializationException",
        f"Unexpected value type for '{path}': expected boolean but got string.",
    )


def test_a_lone_surrogate_in_a_string_is_a_serialization_exception(
    server: ServerProcess, http: httpx.Client
) -> None:
    response = post(server, http, "DeleteCluster", body=b'{"cluster": "x\\ud800"}')
    assert error_of(response) == (
        "SerializationException",
        "Unexpected value for 'cluster': the string is not valid Unicode.",
    )


def test_an_operation_the_model_does_not_know_is_an_unknown_operation(
    server: ServerProcess, http: httpx.Client
) -> None:
    response = post(server, http, "LaunchRockets")
    assert error_of(response) == ("UnknownOperationException", "Unknown operation LaunchRockets")


def test_a_target_of_an_unknown_service_is_an_unknown_operation(
    server: ServerProcess, http: httpx.Client
) -> None:
    response = post(server, http, "ListQueues", target_prefix="AmazonSQS")
    assert error_of(response) == (
        "UnknownOperationException",
        "Unknown operation AmazonSQS.ListQueues",
    )


def test_a_request_without_a_target_is_an_unknown_operation(
    server: ServerProcess, http: httpx.Client
) -> None:
    response = post(server, http, "", target_prefix="")
    assert error_of(response)[0] == "UnknownOperationException"


def test_a_model_operation_that_is_not_built_yet_names_itself(
    server: ServerProcess, http: httpx.Client
) -> None:
    ecs = next(s for s in build_services() if s.model.service_name == "ecs")
    missing = sorted(set(ecs.model.operation_names) - set(ecs.operations))
    assert missing, "every ECS operation is implemented; pick another unbuilt one"
    response = post(server, http, missing[0])
    assert response.status_code == 400
    assert error_of(response) == (
        "UnsupportedFeatureException",
        f"OpenECS does not implement ecs:{missing[0]} yet.",
    )


def test_a_missing_required_member_is_reported_with_the_validation_message(
    server: ServerProcess, http: httpx.Client
) -> None:
    response = post(server, http, "DeleteCluster", body={})
    assert response.status_code == 400
    assert error_of(response) == (
        "InvalidParameterException",
        "1 validation error detected: Value null at 'cluster' failed to satisfy constraint: "
        "Member must not be null",
    )


def test_several_validation_errors_are_reported_together(
    server: ServerProcess, http: httpx.Client
) -> None:
    response = post(server, http, "PutClusterCapacityProviders", body={"cluster": "x"})
    code, message = error_of(response)
    assert code == "InvalidParameterException"
    assert message.startswith("2 validation errors detected: ")
    assert "Value null at 'capacityProviders' failed to satisfy constraint" in message
    assert "Value null at 'defaultCapacityProviderStrategy' failed to satisfy constraint" in message


def test_an_enum_member_outside_its_value_set_is_a_validation_error(
    server: ServerProcess, http: httpx.Client
) -> None:
    response = post(server, http, "DescribeClusters", body={"include": ["EVERYTHING"]})
    assert error_of(response) == (
        "InvalidParameterException",
        "1 validation error detected: Value 'EVERYTHING' at 'include.1.member' failed to "
        "satisfy constraint: Member must satisfy enum value set: "
        "[ATTACHMENTS, CONFIGURATIONS, SETTINGS, STATISTICS, TAGS]",
    )


def test_members_the_model_does_not_know_are_ignored(
    server: ServerProcess, http: httpx.Client
) -> None:
    response = post(server, http, "ListClusters", body={"maxResults": 1, "colour": "blue"})
    assert response.status_code == 200
    assert set(response.json()) <= {"clusterArns", "nextToken"}


def test_an_empty_body_is_an_empty_request(server: ServerProcess, http: httpx.Client) -> None:
    response = post(server, http, "ListClusters", body=b"")
    assert response.status_code == 200
    assert isinstance(response.json()["clusterArns"], list)


def test_null_members_count_as_absent(server: ServerProcess, http: httpx.Client) -> None:
    response = post(server, http, "ListClusters", body={"maxResults": None, "nextToken": None})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        b"null",
        b"\x00\x01\x02",
        b'"just a string"',
        b"1e999",
        b'{"maxResults": 1e999}',
        b'{"maxResults": NaN}',
        b'{"maxResults": 1.5}',
        b'{"maxResults": true}',
        b'{"nextToken": "\\ud800"}',
        b'{"nextToken": "' + b"A" * 100_000 + b'"}',
        b'{"maxResults": -1}',
    ],
    ids=[
        "null",
        "binary",
        "string",
        "huge-number",
        "infinite-integer",
        "nan-integer",
        "fractional-integer",
        "boolean-integer",
        "lone-surrogate",
        "huge-token",
        "negative-limit",
    ],
)
def test_hostile_bodies_never_cause_a_server_error(
    server: ServerProcess, http: httpx.Client, body: bytes
) -> None:
    response = post(server, http, "ListClusters", body=body)
    code, message = error_of(response)
    assert code in {"SerializationException", "InvalidParameterException"}
    assert message
