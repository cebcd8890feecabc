"""The Query protocol codec against botocore's own: requests serialized by botocore's
QuerySerializer decode back to the parameters, and our XML parses with botocore's
QueryParser back to the result. That is what makes boto3 and the AWS CLI work."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import botocore.session
import pytest
from botocore.model import ServiceModel
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from hypothesis import given, settings
from hypothesis import strategies as st

from openecs.api.query_protocol import (
    FormDecoder,
    QueryService,
    XmlWriter,
    error_response,
    is_query_request,
    parse_form,
)
from openecs.api.shape_validation import RequestValidator
from openecs.domain.errors import (
    InvalidSignatureException,
    MalformedQueryStringException,
    ServerException,
    TargetGroupNotFoundException,
    ValidationError,
)

ELBV2 = botocore.session.get_session().get_service_model("elbv2")
ARN = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/0123456789abcdef"


def botocore_form(model: ServiceModel, operation: str, params: dict[str, Any]) -> bytes:
    """The body botocore sends for `params`."""
    request = create_serializer("query").serialize_to_request(
        params, model.operation_model(operation)
    )
    return urlencode(request["body"], doseq=True).encode()


def decode(model: ServiceModel, operation: str, body: bytes) -> dict[str, Any]:
    form = parse_form(body)
    assert form.pop("Action") == operation
    assert form.pop("Version") == model.api_version
    return FormDecoder().decode(model.operation_model(operation).input_shape, form)


def botocore_parse(model: ServiceModel, operation: str, xml: bytes, status: int = 200) -> Any:
    shape = model.operation_model(operation).output_shape
    return create_parser("query").parse({"body": xml, "headers": {}, "status_code": status}, shape)


# --- requests: botocore's form → our parameters ----------------------------------------

ROUND_TRIPS = [
    ("DescribeLoadBalancers", {"Names": ["a", "b"], "PageSize": 2, "Marker": "m&x=y%+=="}),
    ("DescribeLoadBalancers", {}),
    ("DescribeTargetGroups", {"TargetGroupArns": [ARN]}),
    (
        "CreateTargetGroup",
        {
            "Name": "web",
            "Protocol": "HTTP",
            "Port": 8080,
            "TargetType": "ip",
            "HealthCheckEnabled": True,
            "HealthCheckIntervalSeconds": 10,
            "Matcher": {"HttpCode": "200-299"},
            "Tags": [{"Key": "team", "Value": "a:b = c+d@e/f"}, {"Key": "empty", "Value": ""}],
        },
    ),
    (
        "CreateRule",
        {
            "ListenerArn": "arn:listener",
            "Priority": 10,
            "Conditions": [
                {"Field": "path-pattern", "Values": ["/api/*", "/v2/*"]},
                {
                    "Field": "query-string",
                    "QueryStringConfig": {"Values": [{"Key": "k", "Value": "v"}, {"Value": "x"}]},
                },
                {
                    "Field": "http-header",
                    "HttpHeaderConfig": {"HttpHeaderName": "X-Env", "Values": ["dev"]},
                },
            ],
            "Actions": [
                {
                    "Type": "forward",
                    "ForwardConfig": {
                        "TargetGroups": [
                            {"TargetGroupArn": ARN, "Weight": 3},
                            {"TargetGroupArn": ARN + "0", "Weight": 0},
                        ],
                        "TargetGroupStickinessConfig": {"Enabled": False},
                    },
                }
            ],
        },
    ),
    (
        "ModifyTargetGroupAttributes",
        {
            "TargetGroupArn": ARN,
            "Attributes": [{"Key": "stickiness.enabled", "Value": "true"}],
        },
    ),
    ("RegisterTargets", {"TargetGroupArn": ARN, "Targets": [{"Id": "10.0.0.1", "Port": 80}]}),
    ("SetRulePriorities", {"RulePriorities": [{"RuleArn": "r1", "Priority": 1}]}),
    ("CreateLoadBalancer", {"Name": "lb", "Subnets": [], "Tags": [{"Key": "ü", "Value": "日本"}]}),
    (
        "ModifyListener",
        {
            "ListenerArn": "l",
            "DefaultActions": [
                {
                    "Type": "authenticate-oidc",
                    "AuthenticateOidcConfig": {
                        "Issuer": "i",
                        "AuthorizationEndpoint": "a",
                        "TokenEndpoint": "t",
                        "UserInfoEndpoint": "u",
                        "ClientId": "c",
                        "SessionTimeout": 2**40,
                        "AuthenticationRequestExtraParams": {"prompt": "login", "x": "y"},
                    },
                }
            ],
        },
    ),
]


@pytest.mark.parametrize(
    ("operation", "params"), ROUND_TRIPS, ids=[f"{op}-{i}" for i, (op, _) in enumerate(ROUND_TRIPS)]
)
def test_what_botocore_serializes_decodes_to_the_same_parameters(
    operation: str, params: dict[str, Any]
) -> None:
    body = botocore_form(ELBV2, operation, params)
    decoded = decode(ELBV2, operation, body)
    assert decoded == params
    validated = RequestValidator(ValidationError).validate(
        ELBV2.operation_model(operation).input_shape, decoded
    )
    assert validated == params


def test_an_integer_that_is_not_a_number_is_a_validation_error() -> None:
    body = b"Action=CreateTargetGroup&Version=2015-12-01&Name=web&Port=eighty"
    with pytest.raises(ValidationError) as err:
        decode(ELBV2, "CreateTargetGroup", body)
    assert err.value.message == (
        "1 validation error detected: Value 'eighty' at 'port' failed to satisfy "
        "constraint: Member must be an integer"
    )


def test_bad_booleans_and_oversized_integers_are_all_reported() -> None:
    body = (
        b"Action=CreateTargetGroup&Version=2015-12-01&Name=web"
        b"&HealthCheckEnabled=yes&Port=99999999999&Tags.member.1.Key=k"
    )
    with pytest.raises(ValidationError) as err:
        decode(ELBV2, "CreateTargetGroup", body)
    message = err.value.message
    assert message.startswith("2 validation errors detected: ")
    assert "Value 'yes' at 'healthCheckEnabled'" in message
    assert "Value '99999999999' at 'port'" in message


def test_list_items_are_taken_in_index_order_and_unknown_keys_ignored() -> None:
    body = (
        b"Action=DescribeLoadBalancers&Version=2015-12-01"
        b"&Names.member.10=ten&Names.member.2=two&Names.member.x=junk&Colour=blue"
    )
    assert decode(ELBV2, "DescribeLoadBalancers", body) == {"Names": ["two", "ten"]}


def test_a_form_that_is_not_utf8_is_malformed() -> None:
    with pytest.raises(MalformedQueryStringException):
        parse_form(b"Action=DescribeLoadBalancers&Names.member.1=%ff%fe")


def test_query_requests_are_form_posts_without_a_target() -> None:
    form = "application/x-www-form-urlencoded; charset=utf-8"
    assert is_query_request({"content-type": form})
    assert not is_query_request({"content-type": form, "x-amz-target": "X.Y"})
    assert not is_query_request({"content-type": "application/x-amz-json-1.1"})
    assert not is_query_request({})


# --- responses: our XML → botocore's parser ---------------------------------------------

CREATED = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)


def _service(model: ServiceModel = ELBV2) -> QueryService:
    return QueryService(model, {})


def test_describe_load_balancers_xml_parses_back_with_botocore() -> None:
    result = {
        "LoadBalancers": [
            {
                "LoadBalancerArn": "arn:lb",
                "DNSName": "web.localhost",
                "CreatedTime": CREATED.timestamp(),
                "LoadBalancerName": "web",
                "State": {"Code": "active"},
                "AvailabilityZones": [
                    {
                        "ZoneName": "us-east-1a",
                        "LoadBalancerAddresses": [{"IpAddress": "127.0.0.1"}],
                    }
                ],
                "SecurityGroups": [],
                "VpcId": None,
            }
        ],
        "NextMarker": "abc",
    }
    xml = _service().response("DescribeLoadBalancers", result, "req-1")
    assert xml.startswith(
        b'<DescribeLoadBalancersResponse xmlns="http://elasticloadbalancing.amazonaws.com/'
        b'doc/2015-12-01/"><DescribeLoadBalancersResult>'
    )
    parsed = botocore_parse(ELBV2, "DescribeLoadBalancers", xml)
    assert parsed["ResponseMetadata"]["RequestId"] == "req-1"
    lb = parsed["LoadBalancers"][0]
    assert lb["CreatedTime"] == CREATED
    assert lb["SecurityGroups"] == []
    assert "VpcId" not in lb
    assert lb["AvailabilityZones"][0]["LoadBalancerAddresses"] == [{"IpAddress": "127.0.0.1"}]
    assert parsed["NextMarker"] == "abc"


def test_rules_with_booleans_integers_and_nested_lists_parse_back() -> None:
    rule = {
        "RuleArn": "arn:rule",
        "Priority": "default",
        "IsDefault": True,
        "Conditions": [],
        "Actions": [
            {
                "Type": "forward",
                "Order": 1,
                "ForwardConfig": {
                    "TargetGroups": [{"TargetGroupArn": ARN, "Weight": 0}],
                    "TargetGroupStickinessConfig": {"Enabled": False},
                },
            }
        ],
    }
    parsed = botocore_parse(
        ELBV2, "DescribeRules", _service().response("DescribeRules", {"Rules": [rule]}, "r")
    )
    assert parsed["Rules"] == [rule]


def test_text_is_escaped_and_characters_xml_cannot_carry_are_replaced() -> None:
    tags = [{"Key": "k", "Value": "<a & b>\r\n\"q\" 'x'"}, {"Key": "bell", "Value": "ding\x07"}]
    result = {"TagDescriptions": [{"ResourceArn": "arn", "Tags": tags}]}
    parsed = botocore_parse(ELBV2, "DescribeTags", _service().response("DescribeTags", result, "r"))
    assert parsed["TagDescriptions"][0]["Tags"] == [
        tags[0],
        {"Key": "bell", "Value": "ding\ufffd"},
    ]


def test_an_operation_without_output_members_has_an_empty_result() -> None:
    xml = _service().response("AddTags", {}, "r")
    assert b"<AddTagsResult></AddTagsResult>" in xml
    assert botocore_parse(ELBV2, "AddTags", xml)["ResponseMetadata"]["RequestId"] == "r"


# --- errors ------------------------------------------------------------------------------


def _parsed_error(status: int, body: bytes) -> dict[str, Any]:
    parsed = botocore_parse(ELBV2, "DescribeTargetGroups", body, status)
    error: dict[str, Any] = parsed["Error"]
    return error


def test_a_modeled_error_takes_the_models_code_and_status() -> None:
    status, code, body = _service().error(
        TargetGroupNotFoundException("One or more target groups not found"), "req-9"
    )
    assert (status, code) == (400, "TargetGroupNotFound")
    assert body.startswith(
        b'<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/">'
        b"<Error><Type>Sender</Type><Code>TargetGroupNotFound</Code>"
    )
    error = _parsed_error(status, body)
    assert error["Code"] == "TargetGroupNotFound"
    assert error["Message"] == "One or more target groups not found"
    assert b"<RequestId>req-9</RequestId>" in body


def test_protocol_errors_use_the_query_spelling() -> None:
    status, code, body = error_response(InvalidSignatureException("bad <sig>"), "r")
    assert (status, code) == (403, "SignatureDoesNotMatch")
    assert _parsed_error(status, body)["Message"] == "bad <sig>"
    status, code, body = error_response(ServerException("boom"), "r")
    assert (status, code) == (500, "InternalFailure")
    assert b"<Type>Receiver</Type>" in body
    status, code, _ = error_response(ValidationError("no"), "r")
    assert (status, code) == (400, "ValidationError")


# --- a synthetic model: flattened lists, maps, renamed members, other scalar types -------

SYNTHETIC = ServiceModel(
    {
        "metadata": {
            "protocol": "query",
            "apiVersion": "2020-01-01",
            "xmlNamespace": "http://example.com/doc/2020-01-01/",
            "endpointPrefix": "example",
            "serviceId": "Example",
            "signatureVersion": "v4",
        },
        "operations": {
            "Echo": {
                "name": "Echo",
                "http": {"method": "POST", "requestUri": "/"},
                "input": {"shape": "Payload"},
                "output": {"shape": "Payload", "resultWrapper": "EchoResult"},
            }
        },
        "shapes": {
            "Payload": {
                "type": "structure",
                "members": {
                    "Flat": {"shape": "FlatList"},
                    "FlatNamed": {"shape": "FlatNamedList", "locationName": "Item"},
                    "Wrapped": {"shape": "NamedMemberList"},
                    "Attributes": {"shape": "StringMap"},
                    "Settings": {"shape": "FlatMap"},
                    "Renamed": {"shape": "String", "locationName": "OtherName"},
                    "When": {"shape": "Time"},
                    "Ratio": {"shape": "Ratio"},
                    "Data": {"shape": "Data"},
                    "Big": {"shape": "Big"},
                    "Nested": {"shape": "Payload"},
                },
            },
            "FlatList": {"type": "list", "member": {"shape": "String"}, "flattened": True},
            "FlatNamedList": {
                "type": "list",
                "member": {"shape": "String", "locationName": "Item"},
                "flattened": True,
            },
            "NamedMemberList": {
                "type": "list",
                "member": {"shape": "String", "locationName": "Entry"},
            },
            "StringMap": {"type": "map", "key": {"shape": "String"}, "value": {"shape": "String"}},
            "FlatMap": {
                "type": "map",
                "key": {"shape": "String", "locationName": "Name"},
                "value": {"shape": "Big", "locationName": "Val"},
                "flattened": True,
            },
            "String": {"type": "string"},
            "Time": {"type": "timestamp"},
            "Ratio": {"type": "double"},
            "Data": {"type": "blob"},
            "Big": {"type": "long"},
        },
    },
    service_name="example",
)


def test_flattened_lists_maps_and_renamed_members_round_trip_both_ways() -> None:
    params = {
        "Flat": ["a", "b"],
        "FlatNamed": ["c"],
        "Wrapped": ["d", "e"],
        "Attributes": {"x": "1", "y": "2"},
        "Settings": {"n": 2**40},
        "Renamed": "r",
        "Ratio": 0.25,
        "Big": -(2**62),
        "Nested": {"Wrapped": ["deep"], "Renamed": "inner"},
    }
    body = botocore_form(SYNTHETIC, "Echo", params)
    assert decode(SYNTHETIC, "Echo", body) == params

    service = QueryService(SYNTHETIC, {})
    echoed = botocore_parse(SYNTHETIC, "Echo", service.response("Echo", params, "r"))
    echoed.pop("ResponseMetadata")
    assert echoed == params


def test_timestamps_and_blobs_travel_as_iso_8601_and_base64() -> None:
    body = botocore_form(SYNTHETIC, "Echo", {"When": CREATED, "Data": b"\x00\xffbin"})
    decoded = decode(SYNTHETIC, "Echo", body)
    validated = RequestValidator().validate(SYNTHETIC.operation_model("Echo").input_shape, decoded)
    assert validated["When"] == CREATED.timestamp()
    assert validated["Data"] == b"\x00\xffbin"

    out: list[str] = []
    shape = SYNTHETIC.operation_model("Echo").output_shape
    assert shape is not None
    XmlWriter().element(shape, "P", {"When": CREATED.timestamp(), "Data": b"\x00\xff"}, out)
    assert "<When>2024-05-06T07:08:09.123Z</When>" in "".join(out)
    parsed = botocore_parse(
        SYNTHETIC,
        "Echo",
        QueryService(SYNTHETIC, {}).response("Echo", {"When": CREATED, "Data": b"\x00\xff"}, "r"),
    )
    assert parsed["When"] == CREATED
    assert parsed["Data"] == b"\x00\xff"


# --- property: no form makes the decoder fail with anything but a ValidationError -------

_SEGMENTS = st.sampled_from(
    [
        "Names",
        "member",
        "entry",
        "key",
        "value",
        "1",
        "2",
        "10",
        "0",
        "01",
        "-1",
        "Port",
        "Targets",
        "Id",
        "Conditions",
        "Values",
        "Attributes",
        "Key",
        "Value",
        "PageSize",
        "",
    ]
)
_FORMS = st.dictionaries(
    st.lists(_SEGMENTS, min_size=1, max_size=6).map(".".join),
    st.text(max_size=20) | st.sampled_from(["", "1", "-5", "true", "nan", "1e99", "99999999999"]),
    max_size=12,
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    operation=st.sampled_from(sorted(ELBV2.operation_names)),
    form=_FORMS,
)
def test_any_form_decodes_or_is_a_validation_error(operation: str, form: dict[str, str]) -> None:
    shape = ELBV2.operation_model(operation).input_shape
    try:
        params = FormDecoder().decode(shape, form)
        RequestValidator(ValidationError).validate(shape, params)
    except ValidationError:
        pass
