"""Request validation from botocore shapes: the wire types it accepts and converts,
and each constraint's wording."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from botocore.model import ShapeResolver, StructureShape

from openecs.api.shape_validation import RequestValidator
from openecs.domain.errors import (
    ClientException,
    InvalidParameterException,
    SerializationException,
)

_SHAPES: dict[str, Any] = {
    "Input": {
        "type": "structure",
        "required": ["name"],
        "members": {
            "name": {"shape": "Name"},
            "count": {"shape": "Count"},
            "big": {"shape": "Big"},
            "ratio": {"shape": "Ratio"},
            "flag": {"shape": "Flag"},
            "when": {"shape": "When"},
            "data": {"shape": "Data"},
            "labels": {"shape": "Labels"},
            "items": {"shape": "Items"},
            "node": {"shape": "Node"},
            "colour": {"shape": "Colour"},
        },
    },
    "Name": {"type": "string", "min": 2, "max": 5, "pattern": "[a-z]+"},
    "Count": {"type": "integer", "min": 1, "max": 10},
    "Big": {"type": "long"},
    "Ratio": {"type": "double", "min": 0, "max": 1},
    "Flag": {"type": "boolean"},
    "When": {"type": "timestamp"},
    "Data": {"type": "blob"},
    "Labels": {"type": "map", "key": {"shape": "Name"}, "value": {"shape": "Name"}, "max": 2},
    "Items": {"type": "list", "member": {"shape": "Name"}, "min": 1, "max": 3},
    "Node": {
        "type": "structure",
        "required": ["value"],
        "members": {"child": {"shape": "Node"}, "value": {"shape": "Count"}},
    },
    "Colour": {"type": "string", "enum": ["RED", "GREEN"]},
}

INPUT = ShapeResolver(_SHAPES).get_shape_by_name("Input")
assert isinstance(INPUT, StructureShape)
ECS = botocore.session.get_session().get_service_model("ecs")


def ok(body: dict[str, Any], shape: StructureShape = INPUT) -> dict[str, Any]:
    return RequestValidator().validate(shape, {"name": "ab", **body} if shape is INPUT else body)


def problem(body: dict[str, Any], shape: StructureShape = INPUT) -> str:
    with pytest.raises(InvalidParameterException) as err:
        ok(body, shape)
    return err.value.message


def wire_error(body: dict[str, Any]) -> str:
    with pytest.raises(SerializationException) as err:
        ok(body)
    return err.value.message


def ecs_input(operation: str) -> StructureShape:
    shape = ECS.operation_model(operation).input_shape
    assert shape is not None
    return shape


# --- what passes, and what it becomes ------------------------------------------------


def test_a_valid_body_comes_back_with_its_values() -> None:
    body = {
        "count": 3,
        "big": 2**40,
        "ratio": 0.5,
        "flag": False,
        "labels": {"ab": "cd"},
        "items": ["ab", "cd"],
        "colour": "RED",
    }
    assert ok(body) == {"name": "ab", **body}


def test_members_the_model_does_not_know_are_dropped() -> None:
    assert ok({"surprise": 1, "node": {"value": 1, "extra": True}}) == {
        "name": "ab",
        "node": {"value": 1},
    }


def test_null_members_are_treated_as_absent() -> None:
    assert ok({"count": None, "items": None}) == {"name": "ab"}


def test_an_integral_float_is_accepted_as_an_integer() -> None:
    result = ok({"count": 4.0})
    assert result["count"] == 4
    assert isinstance(result["count"], int)


@pytest.mark.parametrize(
    ("wire", "epoch"),
    [
        (1_700_000_000, 1_700_000_000.0),
        (1_700_000_000.5, 1_700_000_000.5),
        ("2023-11-14T22:13:20Z", 1_700_000_000.0),
        ("2023-11-14T22:13:20+00:00", 1_700_000_000.0),
    ],
)
def test_timestamps_become_epoch_seconds(wire: Any, epoch: float) -> None:
    assert ok({"when": wire})["when"] == epoch


def test_blobs_are_base64_decoded() -> None:
    assert ok({"data": "aGVsbG8="})["data"] == b"hello"


def test_recursive_shapes_validate_at_every_depth() -> None:
    body = {"node": {"value": 1, "child": {"value": 2, "child": {"value": 3}}}}
    assert ok(body)["node"]["child"]["child"] == {"value": 3}
    assert problem({"node": {"value": 1, "child": {"child": {"value": 11}}}}) == (
        "2 validation errors detected: "
        "Value '11' at 'node.child.child.value' failed to satisfy constraint: "
        "Member must have value less than or equal to 10; "
        "Value null at 'node.child.value' failed to satisfy constraint: Member must not be null"
    )


def test_a_validator_gives_the_same_answer_twice() -> None:
    validator = RequestValidator()
    first = validator.validate(INPUT, {"name": "ab", "items": ["cd"]})
    second = validator.validate(INPUT, {"name": "ab", "items": ["cd"]})
    assert first == second == {"name": "ab", "items": ["cd"]}


def test_an_operation_without_input_takes_nothing() -> None:
    assert RequestValidator().validate(None, {"anything": 1}) == {}


# --- constraint failures, in AWS's words --------------------------------------------


def test_a_missing_required_member() -> None:
    with pytest.raises(InvalidParameterException) as err:
        RequestValidator().validate(INPUT, {})
    assert err.value.message == (
        "1 validation error detected: Value null at 'name' failed to satisfy constraint: "
        "Member must not be null"
    )


def test_a_string_shorter_than_its_minimum() -> None:
    assert problem({"name": "a"}) == (
        "1 validation error detected: Value 'a' at 'name' failed to satisfy constraint: "
        "Member must have length greater than or equal to 2"
    )


def test_a_string_longer_than_its_maximum() -> None:
    assert problem({"name": "abcdef"}) == (
        "1 validation error detected: Value 'abcdef' at 'name' failed to satisfy constraint: "
        "Member must have length less than or equal to 5"
    )


def test_a_string_outside_its_pattern() -> None:
    assert problem({"name": "AB"}) == (
        "1 validation error detected: Value 'AB' at 'name' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [a-z]+"
    )


def test_a_string_outside_its_enum() -> None:
    assert problem({"colour": "BLUE"}) == (
        "1 validation error detected: Value 'BLUE' at 'colour' failed to satisfy constraint: "
        "Member must satisfy enum value set: [RED, GREEN]"
    )


def test_an_integer_below_its_minimum() -> None:
    assert problem({"count": 0}) == (
        "1 validation error detected: Value '0' at 'count' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1"
    )


def test_a_double_above_its_maximum() -> None:
    assert problem({"ratio": 1.5}) == (
        "1 validation error detected: Value '1.5' at 'ratio' failed to satisfy constraint: "
        "Member must have value less than or equal to 1"
    )


def test_a_list_longer_than_its_maximum() -> None:
    assert problem({"items": ["ab", "bc", "cd", "de"]}) == (
        '1 validation error detected: Value \'["ab","bc","cd","de"]\' at \'items\' failed '
        "to satisfy constraint: Member must have length less than or equal to 3"
    )


def test_an_empty_list_below_its_minimum() -> None:
    assert problem({"items": []}) == (
        "1 validation error detected: Value '[]' at 'items' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1"
    )


def test_list_members_are_named_by_position() -> None:
    assert problem({"items": ["ab", "X"]}) == (
        "2 validation errors detected: "
        "Value 'X' at 'items.2.member' failed to satisfy constraint: "
        "Member must have length greater than or equal to 2; "
        "Value 'X' at 'items.2.member' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [a-z]+"
    )


def test_map_keys_and_values_are_checked() -> None:
    message = problem({"labels": {"ab": "Z1", "X": "cd", "ef": "gh"}})
    assert message.startswith("4 validation errors detected: ")
    assert "at 'labels' failed to satisfy constraint: Member must have length less than" in message
    assert "Value 'Z1' at 'labels.ab' failed to satisfy constraint" in message
    assert "Value 'X' at 'labels.key' failed to satisfy constraint" in message


def test_a_null_inside_a_list_is_a_missing_member() -> None:
    assert problem({"items": ["ab", None]}) == (
        "1 validation error detected: Value null at 'items.2.member' failed to satisfy "
        "constraint: Member must not be null"
    )


def test_a_null_map_value_is_a_missing_member() -> None:
    assert problem({"labels": {"ab": None}}) == (
        "1 validation error detected: Value null at 'labels.ab' failed to satisfy "
        "constraint: Member must not be null"
    )


def test_at_most_ten_problems_are_listed_but_all_are_counted() -> None:
    message = problem({"name": "A", "items": ["A", "B", "C", "D"], "count": 0, "colour": "x"})
    assert message.startswith("13 validation errors detected: ")
    assert message.count("failed to satisfy constraint") == 10


def test_the_error_class_is_the_services_choice() -> None:
    with pytest.raises(ClientException):
        RequestValidator(ClientException).validate(INPUT, {})


# --- the wrong JSON type is a SerializationException ---------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": 12}, "Unexpected value type for 'name': expected a string but got number."),
        ({"name": None, "count": "1"}, "Unexpected value type for 'count': expected integer "),
        ({"count": True}, "Unexpected value type for 'count': expected integer but got boolean."),
        ({"count": 1.5}, "Unexpected value for 'count': 1.5 is not an integer."),
        ({"count": 2**31}, f"Unexpected value for 'count': {2**31} is out of range for integer."),
        ({"big": 2**63}, f"Unexpected value for 'big': {2**63} is out of range for long."),
        ({"ratio": float("inf")}, "Unexpected value for 'ratio': inf."),
        ({"ratio": "0.5"}, "Unexpected value type for 'ratio': expected double but got string."),
        ({"flag": "true"}, "Unexpected value type for 'flag': expected boolean but got string."),
        ({"flag": 1}, "Unexpected value type for 'flag': expected boolean but got number."),
        ({"when": "yesterday"}, "Unexpected value for 'when': expected a timestamp."),
        ({"when": True}, "Unexpected value type for 'when': expected a timestamp."),
        ({"data": "***"}, "Unexpected value for 'data': invalid base64."),
        ({"data": 5}, "Unexpected value type for 'data': expected base64 text."),
        ({"labels": ["ab"]}, "Unexpected value type for 'labels': expected a map."),
        ({"items": "ab"}, "Unexpected value type for 'items': expected a list."),
        ({"node": "ab"}, "Unexpected value type for 'node': expected a structure."),
        ({"items": [["ab"]]}, "Unexpected value type for 'items.1.member': expected a string "),
        ({"name": "a\ud800b"}, "Unexpected value for 'name': the string is not valid Unicode."),
        ({"labels": {"\udfff": "ab"}}, "Unexpected value for 'labels.key': the string is not "),
    ],
)
def test_a_value_of_the_wrong_json_type(body: dict[str, Any], message: str) -> None:
    assert wire_error(body).startswith(message)


def test_a_body_that_is_not_an_object() -> None:
    with pytest.raises(SerializationException) as err:
        RequestValidator().validate(INPUT, ["name"])
    assert err.value.message == "Start of structure or map found where not expected."


# --- on the real ECS model -----------------------------------------------------------


def test_ecs_capacity_provider_weight_range() -> None:
    body = {
        "cluster": "c",
        "capacityProviders": ["FARGATE"],
        "defaultCapacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1001}],
    }
    assert problem(body, ecs_input("PutClusterCapacityProviders")) == (
        "1 validation error detected: Value '1001' at "
        "'defaultCapacityProviderStrategy.1.member.weight' failed to satisfy constraint: "
        "Member must have value less than or equal to 1000"
    )


def test_ecs_tag_key_pattern_and_length() -> None:
    message = problem({"tags": [{"key": "", "value": "v"}]}, ecs_input("CreateCluster"))
    assert message == (
        "1 validation error detected: Value '' at 'tags.1.member.key' failed to satisfy "
        "constraint: Member must have length greater than or equal to 1"
    )
    message = problem({"tags": [{"key": "no#hash", "value": "v"}]}, ecs_input("CreateCluster"))
    assert message == (
        "1 validation error detected: Value 'no#hash' at 'tags.1.member.key' failed to "
        "satisfy constraint: Member must satisfy regular expression pattern: "
        "([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)"
    )


def test_ecs_tag_patterns_accept_unicode_letters() -> None:
    body = {"tags": [{"key": "équipe", "value": "données 北京"}]}
    assert ok(body, ecs_input("CreateCluster")) == body


def test_ecs_cluster_setting_name_enum() -> None:
    body = {"cluster": "c", "settings": [{"name": "insights", "value": "enabled"}]}
    assert problem(body, ecs_input("UpdateClusterSettings")) == (
        "1 validation error detected: Value 'insights' at 'settings.1.member.name' failed to "
        "satisfy constraint: Member must satisfy enum value set: [containerInsights]"
    )
