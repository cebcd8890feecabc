"""The Query protocol on the wire, for requests no SDK would send: the XML envelopes
of answers and errors, AWS's protocol error codes, and SigV4 scoped to the
elasticloadbalancing service. Requests are signed with botocore's SigV4Auth."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import httpx

from tests.support.elbv2 import NAMESPACE, signed_query
from tests.support.server import ACCOUNT, REGION, ServerProcess

NS = {"e": NAMESPACE}
MISSING_TG = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/none/{'0' * 16}"


def xml_error(response: httpx.Response) -> tuple[str, str, str]:
    """(Type, Code, Message) of an XML error, after checking its envelope."""
    assert response.headers["content-type"].startswith("text/xml")
    assert "Traceback" not in response.text
    root = ET.fromstring(response.content)
    assert root.tag == f"{{{NAMESPACE}}}ErrorResponse"
    request_id = root.findtext("e:RequestId", namespaces=NS)
    assert request_id and request_id == response.headers["x-amzn-RequestId"]
    error = root.find("e:Error", NS)
    assert error is not None
    return (
        error.findtext("e:Type", namespaces=NS) or "",
        error.findtext("e:Code", namespaces=NS) or "",
        error.findtext("e:Message", namespaces=NS) or "",
    )


def action(name: str, **fields: str) -> dict[str, str]:
    return {"Action": name, "Version": "2015-12-01", **fields}


def test_an_answer_is_wrapped_in_response_and_result_elements(server: ServerProcess) -> None:
    response = signed_query(server, action("DescribeLoadBalancers", PageSize="1"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(response.content)
    assert root.tag == f"{{{NAMESPACE}}}DescribeLoadBalancersResponse"
    assert root.find("e:DescribeLoadBalancersResult/e:LoadBalancers", NS) is not None
    request_id = root.findtext("e:ResponseMetadata/e:RequestId", namespaces=NS)
    assert request_id == response.headers["x-amzn-RequestId"]


def test_a_missing_target_group_is_awss_xml_error(server: ServerProcess) -> None:
    response = signed_query(server, action("DescribeTargetHealth", TargetGroupArn=MISSING_TG))
    assert response.status_code == 400
    assert xml_error(response) == (
        "Sender",
        "TargetGroupNotFound",
        "One or more target groups not found",
    )
    assert response.content.startswith(
        b'<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/">'
        b"<Error><Type>Sender</Type><Code>TargetGroupNotFound</Code>"
    )


def test_values_that_are_not_numbers_or_booleans_are_validation_errors(
    server: ServerProcess,
) -> None:
    response = signed_query(
        server,
        action(
            "CreateTargetGroup",
            Name="bad-types",
            Protocol="HTTP",
            Port="eighty",
            HealthCheckEnabled="maybe",
        ),
    )
    assert response.status_code == 400
    kind, code, message = xml_error(response)
    assert (kind, code) == ("Sender", "ValidationError")
    assert message.startswith("2 validation errors detected: ")
    assert "Value 'eighty' at 'port' failed to satisfy constraint: Member must be an integer" in (
        message
    )
    assert "Value 'maybe' at 'healthCheckEnabled'" in message


def test_a_missing_required_member_is_named_in_query_style(server: ServerProcess) -> None:
    response = signed_query(server, action("DeleteTargetGroup"))
    assert xml_error(response) == (
        "Sender",
        "ValidationError",
        "1 validation error detected: Value null at 'targetGroupArn' failed to satisfy "
        "constraint: Member must not be null",
    )


def test_actions_and_versions_that_do_not_exist(server: ServerProcess) -> None:
    unknown = signed_query(server, action("LaunchRockets"))
    assert unknown.status_code == 400
    assert xml_error(unknown)[1:] == (
        "InvalidAction",
        "The action LaunchRockets is not valid for this web service.",
    )
    no_action = signed_query(server, {"Version": "2015-12-01"})
    assert xml_error(no_action)[1] == "MissingParameter"
    old = signed_query(server, {"Action": "DescribeLoadBalancers", "Version": "2012-06-01"})
    assert xml_error(old)[1:] == (
        "InvalidAction",
        "Could not find operation DescribeLoadBalancers for version 2012-06-01.",
    )
    no_version = signed_query(server, {"Action": "DescribeLoadBalancers"})
    assert xml_error(no_version)[1:] == (
        "MissingParameter",
        "The request must contain the parameter Version.",
    )


def test_an_operation_not_built_yet_names_itself(server: ServerProcess) -> None:
    response = signed_query(server, action("DescribeSSLPolicies"))
    assert response.status_code == 400
    assert xml_error(response)[1:] == (
        "UnsupportedFeatureException",
        "OpenECS does not implement elasticloadbalancing:DescribeSSLPolicies yet.",
    )


def test_a_form_that_is_not_utf8_is_malformed(server: ServerProcess) -> None:
    body = b"Action=DescribeLoadBalancers&Version=2015-12-01&Names.member.1=%ff"
    assert xml_error(signed_query(server, body))[1] == "MalformedQueryString"


def test_authentication_failures_are_xml_in_query_spelling(server: ServerProcess) -> None:
    unsigned = httpx.post(
        server.endpoint + "/",
        content=b"Action=DescribeLoadBalancers&Version=2015-12-01",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert unsigned.status_code == 403
    assert xml_error(unsigned)[1:] == ("MissingAuthenticationToken", "Missing Authentication Token")
    wrong_key = signed_query(server, action("DescribeLoadBalancers"), secret_key="not-the-secret")
    assert wrong_key.status_code == 403
    assert xml_error(wrong_key)[1] == "SignatureDoesNotMatch"


def test_a_form_signed_for_another_service_is_not_a_query_request_it_serves(
    server: ServerProcess,
) -> None:
    response = signed_query(server, action("DescribeLoadBalancers"), service="ecs")
    assert response.status_code == 400
    assert xml_error(response)[1:] == (
        "InvalidAction",
        "The service 'ecs' does not accept Query requests.",
    )


def test_json_requests_still_go_to_json_services(server: ServerProcess) -> None:
    response = signed_query(server, b"{}", service="ecs", content_type="application/x-amz-json-1.1")
    assert response.status_code == 400
    assert response.json()["__type"] == "UnknownOperationException"
