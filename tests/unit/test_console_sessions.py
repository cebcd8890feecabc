"""Console sessions and HTML escaping, on a fake clock: what a cookie proves, and
that user data never becomes markup."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from openecs.console.html import Html, fmt, join, json_for_script
from openecs.console.sessions import SESSION_SECONDS, SessionKeeper
from openecs.platform.clock import FakeClock


@dataclass(frozen=True)
class Pair:
    access_key_id: str
    secret_access_key: str
    account_id: str


PAIR = Pair("AKIACONSOLE000000001", "console-secret", "111122223333")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def keeper(clock: FakeClock) -> SessionKeeper:
    return SessionKeeper([PAIR], clock)


def test_the_right_key_pair_signs_in_to_its_account_and_region(keeper: SessionKeeper) -> None:
    cookie = keeper.sign_in(PAIR.access_key_id, PAIR.secret_access_key, "eu-west-1")

    session = keeper.session(cookie)

    assert session is not None
    assert (session.scope.account_id, session.scope.region) == ("111122223333", "eu-west-1")


@pytest.mark.parametrize(
    ("key", "secret"),
    [(PAIR.access_key_id, "wrong"), ("AKIAOTHER", PAIR.secret_access_key), ("", "")],
)
def test_wrong_keys_get_no_session(keeper: SessionKeeper, key: str, secret: str) -> None:
    assert keeper.sign_in(key, secret, "us-east-1") is None


def test_a_cookie_with_a_changed_payload_is_refused(keeper: SessionKeeper) -> None:
    cookie = keeper.sign_in(PAIR.access_key_id, PAIR.secret_access_key, "us-east-1")
    assert cookie is not None
    body, signature = cookie.split(".")

    tampered = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + signature

    assert keeper.session(tampered) is None
    assert keeper.session("garbage") is None
    assert keeper.session(None) is None


def test_a_cookie_signed_under_another_secret_is_refused(clock: FakeClock) -> None:
    other = SessionKeeper([Pair(PAIR.access_key_id, "rotated", PAIR.account_id)], clock)
    cookie = other.sign_in(PAIR.access_key_id, "rotated", "us-east-1")

    assert SessionKeeper([PAIR], clock).session(cookie) is None


def test_a_session_expires(keeper: SessionKeeper, clock: FakeClock) -> None:
    cookie = keeper.sign_in(PAIR.access_key_id, PAIR.secret_access_key, "us-east-1")

    clock.advance(SESSION_SECONDS - 1)
    assert keeper.session(cookie) is not None
    clock.advance(2)
    assert keeper.session(cookie) is None


def test_signing_out_revokes_the_cookie(keeper: SessionKeeper) -> None:
    cookie = keeper.sign_in(PAIR.access_key_id, PAIR.secret_access_key, "us-east-1")
    session = keeper.session(cookie)
    assert session is not None

    keeper.sign_out(session)

    assert keeper.session(cookie) is None


def test_csrf_tokens_belong_to_one_session(keeper: SessionKeeper) -> None:
    first = keeper.session(keeper.sign_in(PAIR.access_key_id, PAIR.secret_access_key, "us-east-1"))
    second = keeper.session(keeper.sign_in(PAIR.access_key_id, PAIR.secret_access_key, "us-east-1"))
    assert first is not None and second is not None

    assert keeper.check_csrf(first, first.csrf_token)
    assert not keeper.check_csrf(first, second.csrf_token)
    assert not keeper.check_csrf(first, "")
    assert not keeper.check_csrf(first, None)


def test_fmt_escapes_its_arguments_but_not_html_or_numbers() -> None:
    out = fmt(
        "<p title='{}'>{} {:.1f} {}</p>", "a'b", "<script>x</script>", 2.25, Html("<b>ok</b>")
    )

    assert out == "<p title='a&#x27;b'>&lt;script&gt;x&lt;/script&gt; 2.2 <b>ok</b></p>"


def test_join_escapes_each_part() -> None:
    assert join(["<i>", Html("<br>")], "|") == "&lt;i&gt;|<br>"


def test_json_for_script_cannot_close_its_script_tag() -> None:
    text = json_for_script({"message": "</script><script>alert(1)</script>"})

    assert "</script>" not in text
    assert "<" not in text
