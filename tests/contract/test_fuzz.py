"""Property: whatever a signed caller sends to an implemented operation, the answer is
200 or a 4xx with an AWS error body; never a 5xx. Every service the server speaks
is covered: JSON 1.1 ones (ECS, CloudWatch Logs: `{"__type", "message"}`) and
Query ones (ELBv2: form bodies, `<ErrorResponse><Error><Code>`).

Bodies are drawn from botocore's input shapes: random subsets of members, values
of the right type and of wrong ones, strings of any unicode (lone surrogates,
NUL, very long), integers far outside 32 bits, JSON nested thousands deep, and
identifiers that exist so handlers get past "not found".

Deterministic by default (derandomized, no example database). To explore:
OPENECS_FUZZ_EXAMPLES=500 OPENECS_FUZZ_RANDOM=1 pytest tests/contract/test_fuzz.py
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openecs.api.json_protocol import JsonService
from openecs.api.query_protocol import QueryService
from openecs.api.registry import build_services
from tests.support.server import ACCOUNT, ServerProcess
from tests.support.signing import call, call_query

REGION = "fz-fuzz-1"
RANDOM = os.environ.get("OPENECS_FUZZ_RANDOM") == "1"
MAX_DEPTH = 6
_DEEP_MARK = "__openecs_fuzz_deep_"
# About 1,200 requests in all by default (well under a minute on a small machine),
# spread over however many operations are implemented.
_TOTAL_EXAMPLES = 1200

Service = JsonService | QueryService
SERVICES: list[Service] = list(build_services())
OPERATIONS = sorted(
    (service.model.service_name, name) for service in SERVICES for name in service.operations
)
MAX_EXAMPLES = int(
    os.environ.get(
        "OPENECS_FUZZ_EXAMPLES", max(10, min(40, _TOTAL_EXAMPLES // max(1, len(OPERATIONS))))
    )
)
# Codes a 4xx may carry: the service's modelled errors plus the protocol and auth
# errors every AWS service of that protocol returns.
COMMON_JSON_ERRORS = {
    "SerializationException",
    "UnknownOperationException",
    "UnsupportedFeatureException",
    "ValidationException",
    "MissingAuthenticationTokenException",
    "IncompleteSignatureException",
    "InvalidSignatureException",
    "UnrecognizedClientException",
    "AccessDeniedException",
    "ThrottlingException",
}
COMMON_QUERY_ERRORS = {
    "AccessDenied",
    "IncompleteSignature",
    "InvalidAction",
    "InvalidClientTokenId",
    "InvalidParameterCombination",
    "InvalidParameterValue",
    "InvalidQueryParameter",
    "MalformedQueryString",
    "MissingAction",
    "MissingAuthenticationToken",
    "MissingParameter",
    "SignatureDoesNotMatch",
    "Throttling",
    "UnsupportedFeatureException",
    "ValidationError",
}


def _service(name: str) -> Service:
    return next(s for s in SERVICES if s.model.service_name == name)


def _error_codes(service: Service) -> set[str]:
    if isinstance(service, JsonService):
        return {shape.name for shape in service.model.error_shapes} | COMMON_JSON_ERRORS
    modelled = {
        str((shape.metadata.get("error") or {}).get("code", shape.name))
        for shape in service.model.error_shapes
    }
    return modelled | COMMON_QUERY_ERRORS


# --- strategies from shapes ----------------------------------------------------------

_EDGE_STRINGS = [
    "",
    " ",
    "\x00",
    "\ud800",
    "😀" * 3,
    "a" * 2049,
    "default",
    "FARGATE",
    "FARGATE_SPOT",
    "fuzz",
    "fuzz:1",
    f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/fuzz",
    f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/fuzz:1",
    f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/elsewhere",
    "arn:aws:ecs:::",
    "arn:",
    "../../etc/passwd",
    "'; DROP TABLE clusters; --",
    "%s%n",
]

_any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
_texts = st.one_of(st.sampled_from(_EDGE_STRINGS), _any_text)
_numbers = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, -1, 2**31, 2**63, 1e300, 0.5]),
)
_deep = st.integers(200, 5000).map(lambda n: f"{_DEEP_MARK}{n}")
_json_values = st.recursive(
    st.none() | st.booleans() | _numbers | _texts,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(_any_text, children, max_size=3)
    ),
    max_leaves=8,
)
# What a member may hold when it holds the wrong thing.
_wrong = st.one_of(_json_values, _deep)


class ShapeStrategies:
    """One Hypothesis strategy per (shape, depth): right-typed values, sometimes wrong ones."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, int], st.SearchStrategy[Any]] = {}

    def for_shape(self, shape: Shape, depth: int = 0) -> st.SearchStrategy[Any]:
        key = (f"{shape.type_name}:{shape.name}", depth)
        found = self._cache.get(key)
        if found is None:
            typed = self._typed(shape, depth)
            found = st.one_of(typed, typed, typed, _wrong)
            self._cache[key] = found
        return found

    def _typed(self, shape: Shape, depth: int) -> st.SearchStrategy[Any]:
        kind = shape.type_name
        if depth > MAX_DEPTH:
            return _json_values
        if isinstance(shape, StructureShape):
            members = {
                name: self.for_shape(member, depth + 1) for name, member in shape.members.items()
            }
            known = st.fixed_dictionaries({}, optional=members)
            with_unknown = st.tuples(known, st.dictionaries(_any_text, _json_values, max_size=2))
            return st.one_of(known, with_unknown.map(lambda kv: {**kv[1], **kv[0]}))
        if isinstance(shape, ListShape):
            return st.lists(self.for_shape(shape.member, depth + 1), max_size=4)
        if isinstance(shape, MapShape):
            keys = self._typed(shape.key, depth + 1)
            return st.dictionaries(
                keys.filter(lambda k: isinstance(k, str)),
                self.for_shape(shape.value, depth + 1),
                max_size=3,
            )
        if kind == "string":
            enum = list(getattr(shape, "enum", None) or [])
            return st.one_of(st.sampled_from(enum), _texts) if enum else _texts
        if kind in ("integer", "long"):
            low = shape.metadata.get("min", -(2**31))
            high = shape.metadata.get("max", 2**31 - 1)
            return st.one_of(st.integers(low, high), st.integers(-(2**70), 2**70))
        if kind in ("double", "float"):
            return st.floats(allow_nan=False, allow_infinity=False)
        if kind == "boolean":
            return st.booleans()
        if kind == "timestamp":
            return st.one_of(
                st.integers(0, 2**33), st.sampled_from(["2024-01-01T00:00:00Z", "not a date"])
            )
        if kind == "blob":
            return st.one_of(st.sampled_from(["aGVsbG8=", "***"]), _texts)
        return _json_values


STRATEGIES = ShapeStrategies()


def body_strategy(operation: OperationModel) -> st.SearchStrategy[Any]:
    shape = operation.input_shape
    if shape is None:
        return st.just({})
    typed = STRATEGIES.for_shape(shape)
    return st.one_of(typed, typed, typed, typed, _wrong)


def form_fields(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """A drawn body as Query form fields (`A.B`, `List.member.N`); any value flattens."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [
            pair
            for key, item in value.items()
            for pair in form_fields(item, f"{prefix}.{key}" if prefix else str(key))
        ]
    if isinstance(value, list):
        return [
            pair
            for i, item in enumerate(value)
            for pair in form_fields(item, f"{prefix}.member.{i + 1}" if prefix else str(i + 1))
        ]
    if isinstance(value, bool):
        return [(prefix or "Value", "true" if value else "false")]
    return [(prefix or "Value", str(value))]


def encode_form(operation: str, version: str, body: Any) -> bytes:
    """A Query request body; lone surrogates go out as their raw (invalid) UTF-8 bytes."""
    pairs = [("Action", operation), ("Version", version), *form_fields(body)]
    return "&".join(
        f"{quote(k, safe='', errors='surrogatepass')}={quote(v, safe='', errors='surrogatepass')}"
        for k, v in pairs
    ).encode()


def encode(body: Any) -> bytes:
    """JSON for a drawn body, with deep-nesting marks expanded in place."""
    text = json.dumps(body)
    while _DEEP_MARK in text:
        start = text.index(f'"{_DEEP_MARK}')
        end = text.index('"', start + 1) + 1
        depth = int(text[start + 1 + len(_DEEP_MARK) : end - 1])
        text = text[:start] + "[" * depth + "]" * depth + text[end:]
    return text.encode()


# --- the property --------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server of its own: fuzzed writes must not disturb other tests' state."""
    # Generous start timeout: a loaded machine is slow, not wrong.
    proc = ServerProcess(Path(tmp_path_factory.mktemp("fuzz-server"))).start(timeout=300)
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def seeded(fuzz_server: ServerProcess, http: httpx.Client) -> ServerProcess:
    """Resources the edge-case identifiers name, so some requests reach deeper code."""
    for name in ("fuzz", "default"):
        response = call(
            fuzz_server.endpoint, "CreateCluster", {"clusterName": name}, region=REGION, client=http
        )
        assert response.status_code == 200, response.text
    # A log group and stream named like the edge-case identifier, so CloudWatch Logs
    # operations (signed for "logs") reach past their not-found checks.
    logs = _service("logs")
    assert isinstance(logs, JsonService)
    for operation, body in (
        ("CreateLogGroup", {"logGroupName": "fuzz"}),
        ("CreateLogStream", {"logGroupName": "fuzz", "logStreamName": "fuzz"}),
    ):
        response = call(
            fuzz_server.endpoint,
            operation,
            body,
            region=REGION,
            service=logs.signing_name,
            target_prefix=logs.target_prefix,
            client=http,
        )
        assert response.status_code == 200, response.text
    return fuzz_server


def test_every_implemented_operation_is_fuzzed() -> None:
    ecs = _service("ecs")
    assert {"CreateCluster", "DescribeClusters", "DeleteCluster"} <= set(ecs.operations)
    expected = {(s.model.service_name, op) for s in SERVICES for op in s.operations}
    assert set(OPERATIONS) == expected


def test_query_bodies_flatten_like_the_query_protocol() -> None:
    body = {"Names": ["a", "b"], "Matcher": {"HttpCode": "200"}, "Flag": True}
    assert form_fields(body) == [
        ("Names.member.1", "a"),
        ("Names.member.2", "b"),
        ("Matcher.HttpCode", "200"),
        ("Flag", "true"),
    ]
    assert encode_form("Describe", "2015-12-01", {"A": "x y"}) == (
        b"Action=Describe&Version=2015-12-01&A=x%20y"
    )


def test_deep_marks_expand_to_nested_json() -> None:
    assert encode({"a": [f"{_DEEP_MARK}3", 1]}) == b'{"a": [[[[]]], 1]}'


@pytest.mark.parametrize(("service_name", "operation_name"), OPERATIONS)
def test_signed_garbage_never_causes_a_server_error(
    seeded: ServerProcess, http: httpx.Client, service_name: str, operation_name: str
) -> None:
    service = _service(service_name)
    operation = service.model.operation_model(operation_name)
    codes = _error_codes(service)

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=not RANDOM,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.function_scoped_fixture,
        ],
    )
    @given(body=body_strategy(operation))
    def check(body: Any) -> None:
        if isinstance(service, JsonService):
            payload = encode(body)
            response = call(
                seeded.endpoint,
                operation_name,
                payload,
                region=REGION,
                service=service.signing_name,
                target_prefix=service.target_prefix,
                client=http,
            )
        else:
            payload = encode_form(operation_name, service.model.api_version, body)
            response = call_query(
                seeded.endpoint, payload, service=service.signing_name, region=REGION, client=http
            )
        status = response.status_code
        assert status == 200 or 400 <= status < 500, (
            f"{operation_name} answered {status}: {response.text[:500]}\nrequest: {payload[:500]!r}"
        )
        assert "Traceback" not in response.text
        if isinstance(service, JsonService):
            reply = response.json()
            assert isinstance(reply, dict)
            if status != 200:
                assert reply.get("__type") in codes, reply
                assert isinstance(reply.get("message"), str), reply
            return
        root = ET.fromstring(response.content)
        ns = root.tag.partition("}")[0] + "}" if root.tag.startswith("{") else ""
        if status == 200:
            assert root.tag == f"{ns}{operation_name}Response", response.text[:300]
        else:
            assert root.findtext(f"{ns}Error/{ns}Code") in codes, response.text[:500]
            assert root.findtext(f"{ns}Error/{ns}Message") is not None, response.text[:500]

    check()
