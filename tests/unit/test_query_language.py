"""The cluster query language: every construct, every example of the developer
guide's "Cluster query language" page, and the expressions it must refuse.

Instances are built from a few facts (attributes, groups, agent state); each
table row names an expression and the instances it must select.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from openecs.domain.container_instance import ContainerInstance
from openecs.domain.errors import InvalidParameterException
from openecs.domain.resources import Capacity
from openecs.scheduler.query_language import (
    MAX_EXPRESSION_LENGTH,
    And,
    Comparison,
    Not,
    Or,
    compile_expression,
    compile_filter,
    parse,
    tokenize,
)
from openecs.scheduler.view import InstanceView


def at(text: str) -> float:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def instance(
    name: str,
    *,
    attributes: dict[str, str | None] | None = None,
    groups: dict[str, int] | None = None,
    connected: bool = True,
    agent: str | None = "1.20.0",
    registered: str = "2018-06-18T22:28:28",
    ec2: str | None = None,
    zone: str | None = None,
    instance_type: str | None = None,
) -> InstanceView:
    attrs: list[dict[str, Any]] = [
        {"name": k} if v is None else {"name": k, "value": v} for k, v in (attributes or {}).items()
    ]
    ci = ContainerInstance(
        instance_id=name,
        arn=f"arn:aws:ecs:us-east-1:123456789012:container-instance/c/{name}",
        account_id="123456789012",
        region="us-east-1",
        cluster="c",
        ec2_instance_id=ec2 if ec2 is not None else f"i-{name}",
        capacity=Capacity(1024, 2048),
        registered_at=at(registered),
        agent_connected=connected,
        attributes=attrs,
        version_info={"agentVersion": agent} if agent else {},
        availability_zone=zone,
        instance_type=instance_type,
    )
    counted = Counter(groups or {})
    return InstanceView(ci, ci.capacity, counted, sum(counted.values()))


T2_SMALL_1A = instance(
    "t2small-1a",
    attributes={"ecs.instance-type": "t2.small", "ecs.availability-zone": "us-east-1a"},
)
T2_MEDIUM_1B = instance(
    "t2medium-1b",
    attributes={"ecs.instance-type": "t2.medium", "ecs.availability-zone": "us-east-1b"},
    groups={"service:production": 1},
)
G2_1C = instance(
    "g2-1c",
    attributes={"ecs.instance-type": "g2.2xlarge", "ecs.availability-zone": "us-east-1c"},
    groups={"database": 2},
)
G2_1D = instance(
    "g2-1d",
    attributes={"ecs.instance-type": "g2.8xlarge", "ecs.availability-zone": "us-east-1d"},
    groups={"service:production": 1, "database": 1},
)
OLD_AGENT = instance(
    "old-agent",
    attributes={"stack": "prod"},
    agent="1.14.4",
    registered="2018-02-12T23:59:59",
    ec2="i-abcd1234",
)
DISCONNECTED = instance(
    "disconnected",
    attributes={"stack": "test", "ecs.capability.task-eni": None},
    connected=False,
    agent=None,
    registered="2018-02-13T00:00:00Z",
    ec2="i-wxyx7890",
)
ALL = (T2_SMALL_1A, T2_MEDIUM_1B, G2_1C, G2_1D, OLD_AGENT, DISCONNECTED)


def selected(expression: str) -> set[str]:
    compiled = compile_expression(expression)
    return {view.instance_id for view in ALL if compiled.matches(view)}


# Every example of the developer guide's "Cluster query language" page.
AWS_EXAMPLES = [
    ("attribute:ecs.instance-type == t2.small", {"t2small-1a"}),
    (
        "attribute:ecs.availability-zone in [us-east-1a, us-east-1b]",
        {"t2small-1a", "t2medium-1b"},
    ),
    (
        "attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d",
        {"g2-1c"},
    ),
    ("task:group == service:production", {"t2medium-1b", "g2-1d"}),
    (
        "not(task:group == database)",
        {"t2small-1a", "t2medium-1b", "old-agent", "disconnected"},
    ),
    ("runningTasksCount == 1", {"t2medium-1b"}),
    ("agentVersion < 1.14.5", {"old-agent"}),
    ("registeredAt < 2018-02-13", {"old-agent"}),
    ("ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']", {"old-agent", "disconnected"}),
]

# The examples of "Filtering by attribute" and "Example constraints" on the
# placement constraints page.
AWS_FILTER_EXAMPLES = [
    ("attribute:ecs.instance-type == g2.2xlarge", {"g2-1c"}),
    ("attribute:stack == prod", {"old-agent"}),
    ("attribute:stack != prod", {"disconnected"}),
    ("attribute:ecs.instance-type in [t2.small, t2.medium]", {"t2small-1a", "t2medium-1b"}),
    (
        "attribute:ecs.instance-type =~ t2.* and attribute:ecs.availability-zone == us-east-1a",
        {"t2small-1a"},
    ),
    ("attribute:ecs.instance-type =~ t2.*", {"t2small-1a", "t2medium-1b"}),
    ("task:group == databases", set()),
]


@pytest.mark.parametrize(("expression", "expected"), AWS_EXAMPLES + AWS_FILTER_EXAMPLES)
def test_the_developer_guide_examples_select_what_the_guide_says(
    expression: str, expected: set[str]
) -> None:
    assert selected(expression) == expected


CONSTRUCTS = [
    # attributes: every operator, symbols and words
    ("attribute:stack equals prod", {"old-agent"}),
    ("attribute:stack not_equals prod", {"disconnected"}),
    ("attribute:stack exists", {"old-agent", "disconnected"}),
    ("attribute:ecs.capability.task-eni exists", {"disconnected"}),
    (
        "attribute:stack !exists",
        {"t2small-1a", "t2medium-1b", "g2-1c", "g2-1d"},
    ),
    (
        "attribute:stack not_exists",
        {"t2small-1a", "t2medium-1b", "g2-1c", "g2-1d"},
    ),
    ("attribute:stack not_in [prod]", {"disconnected"}),
    ("attribute:stack !in [prod, staging]", {"disconnected"}),
    ("attribute:ecs.instance-type matches g2\\..*", {"g2-1c", "g2-1d"}),
    ("attribute:ecs.instance-type not_matches g2.*", {"t2small-1a", "t2medium-1b"}),
    ("attribute:ecs.instance-type !~ g2.*", {"t2small-1a", "t2medium-1b"}),
    ("attribute:ecs.instance-type =~ [tg]2.small", {"t2small-1a"}),
    ("attribute:ecs.instance-type =~ (t2|g2).2xlarge", {"g2-1c"}),
    ("attribute:ecs.instance-type =~ 'g2.(2|8)xlarge'", {"g2-1c", "g2-1d"}),
    ("attribute:ecs.instance-type =~ t2", set()),  # the whole value must match
    # a name-only attribute exists but has no value to compare
    ("attribute:ecs.capability.task-eni == ''", set()),
    ("attribute:ecs.capability.task-eni != x", {"disconnected"}),
    # ordering on attributes: numbers as numbers, else text
    ("attribute:stack > p", {"old-agent", "disconnected"}),
    ("attribute:stack >= test", {"disconnected"}),
    # ec2InstanceId
    ("ec2InstanceId == i-abcd1234", {"old-agent"}),
    ("ec2InstanceId != i-abcd1234", {v.instance_id for v in ALL} - {"old-agent"}),
    ("ec2InstanceId =~ i-(abcd|wxyx).*", {"old-agent", "disconnected"}),
    (
        "ec2InstanceId not_in [i-abcd1234, i-wxyx7890]",
        {"t2small-1a", "t2medium-1b"} | {"g2-1c", "g2-1d"},
    ),
    # agentConnected
    ("agentConnected == false", {"disconnected"}),
    ("agentConnected != true", {"disconnected"}),
    ("agentConnected == TRUE and attribute:stack exists", {"old-agent"}),
    ("agentConnected in [false]", {"disconnected"}),
    ("agentConnected =~ f.*", {"disconnected"}),
    # agentVersion: numeric, not textual (1.9 < 1.14); unknown versions never match
    ("agentVersion >= 1.14.5", {v.instance_id for v in ALL} - {"old-agent", "disconnected"}),
    ("agentVersion > 1.9", {v.instance_id for v in ALL} - {"disconnected"}),
    ("agentVersion == 1.14.4", {"old-agent"}),
    ("agentVersion == 1.20", {"t2small-1a", "t2medium-1b", "g2-1c", "g2-1d"}),
    ("agentVersion != 1.20.0", {"old-agent"}),
    ("agentVersion <= 1.14.4", {"old-agent"}),
    # registeredAt: days for dates, seconds for times, UTC unless an offset says otherwise
    ("registeredAt <= 2018-02-13", {"old-agent", "disconnected"}),
    ("registeredAt == 2018-02-13", {"disconnected"}),
    ("registeredAt != 2018-06-18", {"old-agent", "disconnected"}),
    ("registeredAt >= 2018-02-13T00:00:00Z", {v.instance_id for v in ALL} - {"old-agent"}),
    ("registeredAt < 2018-02-13T00:00:00", {"old-agent"}),
    ("registeredAt < 2018-02-13T01:00:00+01:00", {"old-agent"}),
    ("registeredAt > 2018-06-18T22:28:27+00:00", {"t2small-1a", "t2medium-1b", "g2-1c", "g2-1d"}),
    # runningTasksCount
    ("runningTasksCount > 1", {"g2-1c", "g2-1d"}),
    ("runningTasksCount >= 1", {"t2medium-1b", "g2-1c", "g2-1d"}),
    ("runningTasksCount < 1", {"t2small-1a", "old-agent", "disconnected"}),
    ("runningTasksCount <= 0", {"t2small-1a", "old-agent", "disconnected"}),
    ("runningTasksCount != 2", {v.instance_id for v in ALL} - {"g2-1c", "g2-1d"}),
    # task:group is the set of groups on the instance
    ("task:group in [database, web]", {"g2-1c", "g2-1d"}),
    ("task:group != database", {"t2medium-1b"}),
    ("task:group not_in [database]", {"t2medium-1b"}),
    ("task:group =~ service:.*", {"t2medium-1b", "g2-1d"}),
    ("task:group !~ service:.*", {"g2-1c"}),
    ("task:group exists", {"t2medium-1b", "g2-1c", "g2-1d"}),
    ("task:group !exists", {"t2small-1a", "old-agent", "disconnected"}),
    # boolean operators, both spellings, precedence and parentheses
    ("attribute:stack == prod or attribute:stack == test", {"old-agent", "disconnected"}),
    ("attribute:stack == prod || attribute:stack == test", {"old-agent", "disconnected"}),
    ("attribute:stack exists && agentConnected == true", {"old-agent"}),
    ("attribute:stack exists AND agentConnected == true", {"old-agent"}),
    ("!(attribute:stack exists)", {"t2small-1a", "t2medium-1b", "g2-1c", "g2-1d"}),
    ("not attribute:stack exists", {"t2small-1a", "t2medium-1b", "g2-1c", "g2-1d"}),
    ("not not attribute:stack exists", {"old-agent", "disconnected"}),
    (
        "task:group == database or task:group == service:production and runningTasksCount == 1",
        {"g2-1c", "g2-1d", "t2medium-1b"},
    ),
    (
        "(task:group == database or task:group == service:production) and runningTasksCount == 2",
        {"g2-1c", "g2-1d"},
    ),
    (
        "attribute:stack == prod or attribute:stack == test or task:group == database",
        {"old-agent", "disconnected", "g2-1c", "g2-1d"},
    ),
    (
        "agentConnected == true and attribute:stack exists and agentVersion < 2",
        {"old-agent"},
    ),
    ("not(task:group == database)&&runningTasksCount>0", {"t2medium-1b"}),
    ("((attribute:stack==prod))", {"old-agent"}),
]


@pytest.mark.parametrize(("expression", "expected"), CONSTRUCTS)
def test_each_construct_selects_its_instances(expression: str, expected: set[str]) -> None:
    assert selected(expression) == expected


def test_a_missing_subject_satisfies_only_not_exists() -> None:
    # `!=` keeps instances that have the attribute; `not(==)` keeps the others too.
    assert selected("attribute:stack != test") == {"old-agent"}
    assert selected("not(attribute:stack == test)") == {v.instance_id for v in ALL} - {
        "disconnected"
    }


def test_built_in_attributes_come_from_the_instance_when_the_agent_sent_none() -> None:
    view = instance("plain", zone="eu-west-1b", instance_type="m5.large")
    assert compile_expression("attribute:ecs.availability-zone == eu-west-1b").matches(view)
    assert compile_expression("attribute:ecs.instance-type =~ m5.*").matches(view)


def test_the_syntax_tree_follows_precedence_not_over_and_over_or() -> None:
    tree = parse("not attribute:a exists and attribute:b exists or attribute:c exists")
    assert isinstance(tree, Or)
    first, third = tree.operands
    assert isinstance(first, And)
    assert isinstance(first.operands[0], Not)
    assert isinstance(third, Comparison) and third.attribute == "c"


def test_the_tokenizer_reads_values_after_operators_and_subjects_elsewhere() -> None:
    tokens = tokenize("task:group == service:web&&ec2InstanceId in ['i-1', i-2]")
    assert [(t.kind, t.text) for t in tokens] == [
        ("subject", "task:group"),
        ("op", "=="),
        ("value", "service:web"),
        ("and", "&&"),
        ("subject", "ec2InstanceId"),
        ("op", "in"),
        ("[", "["),
        ("value", "i-1"),
        (",", ","),
        ("value", "i-2"),
        ("]", "]"),
        ("eof", ""),
    ]


def test_operator_words_map_onto_their_symbols() -> None:
    for word, symbol in [
        ("equals", "=="),
        ("not_equals", "!="),
        ("greater_than", ">"),
        ("greater_than_equal", ">="),
        ("less_than", "<"),
        ("less_than_equal", "<="),
        ("matches", "=~"),
        ("not_matches", "!~"),
    ]:
        tree = parse(f"attribute:x {word} 1")
        assert isinstance(tree, Comparison) and tree.operator == symbol


def test_expressions_that_read_tasks_are_flagged_for_re_evaluation() -> None:
    assert compile_expression("not(task:group == web)").reads_tasks
    assert compile_expression("attribute:a exists or runningTasksCount < 3").reads_tasks
    assert not compile_expression("attribute:a exists and agentConnected == true").reads_tasks


def test_compile_expression_compiles_each_text_once() -> None:
    assert compile_expression("attribute:once exists") is compile_expression(
        "attribute:once exists"
    )


def test_compile_filter_serves_list_container_instances() -> None:
    accept = compile_filter("task:group == service:web and runningTasksCount == 3")
    ci = T2_SMALL_1A.instance
    assert accept(ci, {"service:web": 1, "family:batch": 2})
    assert not accept(ci, {"service:web": 1})
    assert not accept(ci, {"family:batch": 3})
    by_type = compile_filter("attribute:ecs.instance-type == t2.small")
    assert by_type(ci, {})
    assert not by_type(G2_1C.instance, {})


INVALID = [
    ("", "empty"),
    ("   ", "empty"),
    ("attribute:stack", "operator was expected"),
    ("attribute:stack ==", "value was expected"),
    ("attribute:stack == prod and", "condition was expected"),
    ("and attribute:stack == prod", "needs a condition before it"),
    ("attribute:stack == prod attribute:x == y", "expected 'and', 'or' or ')'"),
    ("(attribute:stack == prod", "is not closed"),
    ("attribute:stack == prod)", "unexpected ')'"),
    ("()", "unexpected ')'"),
    ("instanceType == t2.small", "unknown subject 'instanceType'"),
    ("attribute: == x", "not a valid attribute name"),
    ("attribute:a:b == x", "not a valid attribute name"),
    ("attribute:stack === prod", "expected 'and', 'or' or ')'"),
    ("attribute:stack like prod", "'like' is not an operator"),
    ("attribute:stack !like prod", "'!like' is not an operator"),
    ("attribute:stack in prod", "takes a list"),
    ("attribute:stack in [prod", "not closed with ']'"),
    ("attribute:stack in [prod staging]", "expected ',' or ']' in a list but found 'staging]'"),
    ("attribute:stack == 'prod", "quoted value is not closed"),
    ("attribute:stack =~ (prod", "unclosed bracket"),
    ("attribute:stack =~ '(prod'", "not a valid regular expression"),
    ("runningTasksCount > many", "whole number"),
    ("runningTasksCount exists", "'exists' does not apply to runningTasksCount"),
    ("registeredAt < last-week", "is not a date"),
    ("registeredAt < 2018-02-30", "is not a date"),
    ("registeredAt < 2018-02-13T25:00:00", "is not a date"),
    ("registeredAt in [2018-02-13]", "'in' does not apply to registeredAt"),
    ("agentVersion < latest", "not an agent version"),
    ("agentVersion =~ 1.*", "'=~' does not apply to agentVersion"),
    ("agentConnected == maybe", "true or false"),
    ("agentConnected > false", "'>' does not apply to agentConnected"),
    ("ec2InstanceId < i-1", "'<' does not apply to ec2InstanceId"),
    ("task:group >= a", "'>=' does not apply to task:group"),
    ("attribute:stack == prod &", "expected 'and', 'or' or ')'"),
    ("attribute:x == a" + " or attribute:x == a" * 200, "longer than 2000"),
]


@pytest.mark.parametrize(("expression", "complaint"), INVALID)
def test_invalid_expressions_are_refused_with_the_reason(expression: str, complaint: str) -> None:
    with pytest.raises(InvalidParameterException) as raised:
        compile_expression(expression)
    assert complaint in raised.value.message


def test_syntax_errors_quote_the_expression_and_point_at_the_character() -> None:
    with pytest.raises(InvalidParameterException) as raised:
        parse("attribute:stack == prod or")
    assert raised.value.message == (
        "Invalid cluster query expression 'attribute:stack == prod or': "
        "the expression ends where a condition was expected (at character 27)."
    )


def test_the_longest_expression_allowed_still_compiles() -> None:
    unit = "attribute:x == a or "
    text = unit * ((MAX_EXPRESSION_LENGTH - 16) // len(unit)) + "attribute:x == a"
    assert len(text) <= MAX_EXPRESSION_LENGTH
    assert compile_expression(text).matches(instance("x", attributes={"x": "a"}))
