"""Filter patterns: what each kind of pattern matches and what it rejects as malformed."""

from __future__ import annotations

import time

import pytest

from openecs.domain.errors import InvalidParameterException
from openecs.domain.log_filter_pattern import parse_filter_pattern

ACCESS = "127.0.0.1 GET /index.html 200 1534"
FAILURE = "[ERROR] Internal Server Error while handling request 42"
WARNING = "WARN disk almost full"
JSON_ERROR = (
    '{"level": "error", "latency": 250, "user": {"id": 7, "name": "ana"}, "tags": ["a", "b"]}'
)
JSON_INFO = '{"level": "info", "latency": 80, "ok": true, "gone": null, "ip": "10.0.3.4"}'


@pytest.mark.parametrize(
    ("pattern", "message", "expected"),
    [
        # the empty pattern
        ("", ACCESS, True),
        ("   ", FAILURE, True),
        # terms: case-sensitive substrings, all required
        ("ERROR", FAILURE, True),
        ("error", FAILURE, False),
        ("ERR", FAILURE, True),
        ("ERROR request", FAILURE, True),
        ("ERROR missing", FAILURE, False),
        ("GET 200", ACCESS, True),
        # quoted phrases
        ('"Internal Server Error"', FAILURE, True),
        ('"Server Internal"', FAILURE, False),
        ('"[ERROR]"', FAILURE, True),
        ('"say \\"hi\\""', 'they say "hi"', True),
        # ?alternatives: at least one
        ("?ERROR ?WARN", WARNING, True),
        ("?ERROR ?WARN", FAILURE, True),
        ("?ERROR ?WARN", ACCESS, False),
        ("disk ?ERROR ?WARN", WARNING, True),
        ("request ?ERROR ?WARN", WARNING, False),
        # -exclusions
        ("ERROR -request", FAILURE, False),
        ("ERROR -timeout", FAILURE, True),
        ('-"Server Error"', FAILURE, False),
        ("-ERROR", ACCESS, True),
        # regular expressions
        ("%[0-9]{3} [0-9]+$%", ACCESS, True),
        ("%^WARN%", WARNING, True),
        ("%^WARN%", FAILURE, False),
        ("-%^WARN%", ACCESS, True),
        # JSON: string equality and wildcards
        ('{ $.level = "error" }', JSON_ERROR, True),
        ('{ $.level = "error" }', JSON_INFO, False),
        ("{ $.level = error }", JSON_ERROR, True),
        ('{ $.level != "error" }', JSON_INFO, True),
        ('{ $.level != "error" }', JSON_ERROR, False),
        ('{ $.level = "err*" }', JSON_ERROR, True),
        ("{ $.ip = 10.0.* }", JSON_INFO, True),
        ("{ $.ip = 10.1.* }", JSON_INFO, False),
        ('{ $.user.name = "ana" }', JSON_ERROR, True),
        ('{ $.tags[1] = "b" }', JSON_ERROR, True),
        ('{ $.tags[2] = "b" }', JSON_ERROR, False),
        ("{ $.level = %^er+or$% }", JSON_ERROR, True),
        # JSON: numbers
        ("{ $.latency > 100 }", JSON_ERROR, True),
        ("{ $.latency > 100 }", JSON_INFO, False),
        ("{ $.latency >= 80 }", JSON_INFO, True),
        ("{ $.latency < 80 }", JSON_INFO, False),
        ("{ $.latency <= 80 }", JSON_INFO, True),
        ("{ $.latency = 80 }", JSON_INFO, True),
        ("{ $.latency != 80 }", JSON_INFO, False),
        ("{ $.user.id = 7 }", JSON_ERROR, True),
        ("{ $.latency = 8e1 }", JSON_INFO, True),
        ("{ $.level > 1 }", JSON_ERROR, False),
        # JSON: && || and parentheses
        ('{ $.level = "error" && $.latency > 100 }', JSON_ERROR, True),
        ('{ $.level = "error" && $.latency > 300 }', JSON_ERROR, False),
        ('{ $.level = "error" || $.latency > 50 }', JSON_INFO, True),
        ('{ $.level = "debug" || $.latency > 500 }', JSON_INFO, False),
        ('{ ($.level = "debug" || $.latency > 50) && $.ok IS TRUE }', JSON_INFO, True),
        ('{ $.level = "debug" || $.latency > 50 && $.ok IS FALSE }', JSON_INFO, False),
        # JSON: NULL, TRUE, FALSE, NOT EXISTS
        ("{ $.gone IS NULL }", JSON_INFO, True),
        ("{ $.level IS NULL }", JSON_INFO, False),
        ("{ $.ok IS TRUE }", JSON_INFO, True),
        ("{ $.ok IS FALSE }", JSON_INFO, False),
        ("{ $.nothing NOT EXISTS }", JSON_INFO, True),
        ("{ $.gone NOT EXISTS }", JSON_INFO, False),
        # JSON patterns never match what is not a JSON object; comparisons on a missing
        # field are false, != included
        ('{ $.level = "error" }', FAILURE, False),
        ('{ $.level = "error" }', '["level", "error"]', False),
        ('{ $.missing != "x" }', JSON_INFO, False),
        ('{ $.level = "error" }', '{"level": "error"', False),
    ],
)
def test_pattern_matches_as_aws_documents(pattern: str, message: str, expected: bool) -> None:
    assert parse_filter_pattern(pattern).matches(message) is expected


@pytest.mark.parametrize(
    "pattern",
    [
        '"unterminated',
        "{ $.level = ",
        "{ $.level = error",
        "{ level = error }",
        "{ $.latency > abc }",
        "{ $.x IS MAYBE }",
        "{ $.x NOT THERE }",
        "{ ($.a = 1 }",
        "{ $.a = 1 } trailing",
        "{ $. = 1 }",
        "{ $.a = 1 &&  }",
        "%[unclosed%",
        "%%",
        "[ip, user, status]",
        'ERR"OR',
    ],
)
def test_malformed_patterns_are_invalid_parameters(pattern: str) -> None:
    with pytest.raises(InvalidParameterException, match="Invalid filter pattern"):
        parse_filter_pattern(pattern)


def test_none_matches_everything() -> None:
    assert parse_filter_pattern(None).matches("anything at all")


def test_a_catastrophic_regex_gives_up_instead_of_hanging() -> None:
    pattern = parse_filter_pattern("%(x+x+)+y%")
    started = time.monotonic()
    assert pattern.matches("x" * 5000) is False
    assert time.monotonic() - started < 2.0
