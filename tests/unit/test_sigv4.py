"""SigV4 verification against requests signed by botocore's own signer."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from openecs.api.auth import Authenticator
from openecs.api.sigv4 import Credentials, SignedRequest, _parse_amz_date, verify
from openecs.domain.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)
from openecs.domain.scope import Scope
from openecs.platform.clock import FakeClock

KEY = "AKIAUNITTEST00000001"
SECRET = "unit-test-secret-0000000000000000000000"
ACCOUNT = "123456789012"
NOW = datetime(2025, 11, 26, 12, 0, 0, tzinfo=UTC)
SKEW = 300
CREDS = Credentials(KEY, SECRET, ACCOUNT)
LOOKUP = {KEY: CREDS}
BODY = b'{"clusterName": "unit"}'
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)


@dataclass
class Signed:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def verify(self, **overrides: Any) -> tuple[SignedRequest, Credentials]:
        args: dict[str, Any] = {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body": self.body,
            "lookup": LOOKUP,
            "now": NOW.timestamp(),
            "skew_seconds": SKEW,
        }
        args.update(overrides)
        return verify(**args)


def signed(
    body: bytes = BODY,
    *,
    key: str = KEY,
    secret: str = SECRET,
    region: str = "us-east-1",
    service: str = "ecs",
    at: datetime = NOW,
    query: str = "",
    extra: dict[str, str] | None = None,
) -> Signed:
    url = "http://127.0.0.1:4580/" + (f"?{query}" if query else "")
    request = AWSRequest(
        method="POST",
        url=url,
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "AmazonEC2ContainerServiceV20141113.CreateCluster",
            **(extra or {}),
        },
    )
    when = at.astimezone(UTC).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        SigV4Auth(BotoCredentials(key, secret), service, region).add_auth(request)
    headers = {k.lower(): v for k, v in request.headers.items()}
    headers["host"] = "127.0.0.1:4580"
    return Signed("POST", "/", query, headers, body)


def amz(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def test_a_request_signed_by_botocore_verifies_and_names_its_scope() -> None:
    who, creds = signed(region="eu-west-1").verify()
    assert who == SignedRequest(KEY, "eu-west-1", "ecs")
    assert creds == CREDS


def test_a_request_with_a_query_string_verifies() -> None:
    signed(query="b=2&a=1&empty=").verify()


def test_headers_botocore_leaves_unsigned_may_change() -> None:
    request = signed(extra={"User-Agent": "aws-cli/1"})
    request.headers["user-agent"] = "something-else/2"
    request.verify()


def test_missing_authorization_is_a_missing_authentication_token() -> None:
    request = signed()
    del request.headers["authorization"]
    with pytest.raises(MissingAuthenticationTokenException) as err:
        request.verify()
    assert err.value.message == "Missing Authentication Token"
    assert err.value.status == 403


def test_another_authorization_scheme_is_an_incomplete_signature() -> None:
    request = signed()
    request.headers["authorization"] = "Basic dXNlcjpwYXNz"
    with pytest.raises(IncompleteSignatureException) as err:
        request.verify()
    assert err.value.message.startswith("Authorization header requires 'AWS4-HMAC-SHA256' signing.")


@pytest.mark.parametrize("part", ["Credential", "SignedHeaders", "Signature"])
def test_an_authorization_header_without_a_part_names_the_part(part: str) -> None:
    request = signed()
    fields = request.headers["authorization"].removeprefix("AWS4-HMAC-SHA256 ").split(", ")
    kept = ", ".join(f for f in fields if not f.startswith(part + "="))
    request.headers["authorization"] = "AWS4-HMAC-SHA256 " + kept
    with pytest.raises(IncompleteSignatureException) as err:
        request.verify()
    assert f"Authorization header requires '{part}' parameter." in err.value.message


def test_a_credential_without_a_full_scope_is_an_incomplete_signature() -> None:
    request = signed()
    auth = request.headers["authorization"]
    request.headers["authorization"] = auth.replace("/ecs/aws4_request", "/ecs")
    with pytest.raises(IncompleteSignatureException) as err:
        request.verify()
    assert err.value.message.startswith("Credential should be scoped to a valid region")


@pytest.mark.parametrize("region", ["US-EAST-1", "us east 1", "a" * 33, "eu-west-1/x"])
def test_a_region_that_is_not_a_region_name_is_refused(region: str) -> None:
    request = signed(region=region)
    with pytest.raises(IncompleteSignatureException) as err:
        request.verify()
    assert err.value.message.startswith("Credential should be scoped to a valid region")


def test_an_unknown_access_key_is_an_unrecognized_client() -> None:
    with pytest.raises(UnrecognizedClientException) as err:
        signed(key="AKIANOBODYKNOWSTHIS1").verify()
    assert err.value.message == "The security token included in the request is invalid."


def test_the_wrong_secret_is_an_invalid_signature() -> None:
    with pytest.raises(InvalidSignatureException) as err:
        signed(secret="not-the-secret").verify()
    assert err.value.message == MISMATCH


def test_a_request_dated_ten_minutes_ago_has_an_expired_signature() -> None:
    at = NOW - timedelta(minutes=10)
    with pytest.raises(InvalidSignatureException) as err:
        signed(at=at).verify()
    assert err.value.message == (
        f"Signature expired: {amz(at)} is now earlier than "
        f"{amz(NOW - timedelta(seconds=SKEW))} ({amz(NOW)} - 5 min.)"
    )


def test_a_request_dated_ten_minutes_ahead_is_not_yet_current() -> None:
    at = NOW + timedelta(minutes=10)
    with pytest.raises(InvalidSignatureException) as err:
        signed(at=at).verify()
    assert err.value.message == (
        f"Signature not yet current: {amz(at)} is still later than "
        f"{amz(NOW + timedelta(seconds=SKEW))} ({amz(NOW)} + 5 min.)"
    )


@pytest.mark.parametrize("offset", [-SKEW, -SKEW + 1, 0, SKEW - 1, SKEW])
def test_clock_skew_inside_the_window_is_accepted(offset: int) -> None:
    signed(at=NOW + timedelta(seconds=offset)).verify()


def test_a_request_without_a_date_is_an_incomplete_signature() -> None:
    request = signed()
    del request.headers["x-amz-date"]
    with pytest.raises(IncompleteSignatureException) as err:
        request.verify()
    assert "'X-Amz-Date'" in err.value.message


def test_a_date_not_in_iso8601_basic_format_is_an_incomplete_signature() -> None:
    request = signed()
    request.headers["x-amz-date"] = "2025-11-26T12:00:00Z"
    with pytest.raises(IncompleteSignatureException) as err:
        request.verify()
    assert err.value.message == (
        "Date must be in ISO-8601 'basic format'. Got '2025-11-26T12:00:00Z'."
    )


def test_a_scope_date_that_differs_from_the_request_date_is_refused() -> None:
    request = signed()
    request.headers["authorization"] = request.headers["authorization"].replace(
        "/20251126/", "/20251125/"
    )
    with pytest.raises(InvalidSignatureException) as err:
        request.verify()
    assert err.value.message.startswith("Date in Credential scope does not match")


def test_a_body_changed_after_signing_is_an_invalid_signature() -> None:
    request = signed()
    request.body = b'{"clusterName": "evil"}'
    with pytest.raises(InvalidSignatureException) as err:
        request.verify()
    assert err.value.message == MISMATCH


def test_a_declared_payload_hash_does_not_let_the_body_be_swapped() -> None:
    # botocore signs X-Amz-Content-SHA256 as the payload hash when the header is present;
    # the server must still hash the body it received.
    request = signed(extra={"X-Amz-Content-SHA256": hashlib.sha256(BODY).hexdigest()})
    request.verify()
    request.body = b'{"clusterName": "evil"}'
    with pytest.raises(InvalidSignatureException) as err:
        request.verify()
    assert err.value.message == MISMATCH


def test_a_declared_payload_hash_that_is_not_the_body_hash_is_refused() -> None:
    with pytest.raises(InvalidSignatureException):
        signed(extra={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}).verify()


def test_a_signed_header_changed_after_signing_is_an_invalid_signature() -> None:
    request = signed()
    request.headers["x-amz-target"] = "AmazonEC2ContainerServiceV20141113.DeleteCluster"
    with pytest.raises(InvalidSignatureException) as err:
        request.verify()
    assert err.value.message == MISMATCH


def test_host_must_be_a_signed_header() -> None:
    request = signed()
    auth = request.headers["authorization"]
    request.headers["authorization"] = auth.replace(";host;", ";")
    with pytest.raises(InvalidSignatureException) as err:
        request.verify()
    assert err.value.message == "'Host' must be a signed header."


def test_a_signature_for_another_service_still_verifies_and_reports_that_service() -> None:
    # Rejecting the wrong service is the gateway's job (it knows which service was called).
    who, _ = signed(service="s3").verify()
    assert who.service == "s3"


def test_the_authenticator_scopes_the_caller_to_the_signed_region_and_account() -> None:
    clock = FakeClock(NOW.timestamp())
    auth = Authenticator([CREDS], clock, skew_seconds=SKEW)
    request = signed(region="ap-southeast-2")
    scope, service = auth.authenticate(
        request.method, request.path, request.query, request.headers, request.body
    )
    assert scope == Scope(ACCOUNT, "ap-southeast-2", f"arn:aws:iam::{ACCOUNT}:root")
    assert service == "ecs"


def test_the_authenticator_uses_its_clock_for_the_skew_window() -> None:
    clock = FakeClock(NOW.timestamp())
    auth = Authenticator([CREDS], clock, skew_seconds=SKEW)
    request = signed()
    clock.advance(SKEW + 1)
    with pytest.raises(InvalidSignatureException) as err:
        auth.authenticate(request.method, request.path, request.query, request.headers, BODY)
    assert err.value.message.startswith("Signature expired:")


@pytest.mark.parametrize(
    "text", ["20261126T093001Z", "20240229T235959Z", "19700101T000000Z", "20991231T120000Z"]
)
def test_an_amz_date_is_read_as_the_utc_moment_it_names(text: str) -> None:
    expected = datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
    assert _parse_amz_date(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2026-11-26T09:30:01Z",
        "20261126T093001",
        "20261126 093001Z",
        "20261326T093001Z",
        "20261126T253001Z",
        "2026112xT093001Z",
        "20261126T09300\uff11Z",  # a full-width digit: a digit, but not ASCII
        "20261126T093001Z0",
    ],
)
def test_a_date_not_in_basic_format_is_an_incomplete_signature(text: str) -> None:
    with pytest.raises(IncompleteSignatureException) as err:
        _parse_amz_date(text)
    assert err.value.message == f"Date must be in ISO-8601 'basic format'. Got '{text}'."
