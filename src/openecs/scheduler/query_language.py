"""ECS's cluster query language: tokenizer, recursive-descent parser, compiler.

    expression  := or_expr
    or_expr     := and_expr (("or" | "||") and_expr)*
    and_expr    := not_expr (("and" | "&&") not_expr)*
    not_expr    := ("not" | "!") not_expr | "(" expression ")" | comparison
    comparison  := subject operator [argument]
    argument    := value | "[" [value ("," value)*] "]"
    value       := 'quoted' | "quoted" | bare word

Subjects: `agentConnected`, `agentVersion`, `attribute:<name>`,
`ec2InstanceId`, `registeredAt`, `runningTasksCount`, `task:group`.
Operators: `==`/`equals`, `!=`/`not_equals`, `>`/`greater_than`,
`>=`/`greater_than_equal`, `<`/`less_than`, `<=`/`less_than_equal`,
`exists`, `!exists`/`not_exists`, `in`, `!in`/`not_in`, `=~`/`matches`,
`!~`/`not_matches`.

Semantics, where the developer guide leaves room:

* A subject an instance does not have (a missing attribute, an unknown agent
  version, no task at all for `task:group`) satisfies only `!exists`. So
  `attribute:stack != prod` selects instances that *have* a `stack` other than
  prod, as the guide's example says, while `not(attribute:stack == prod)` also
  selects instances without one.
* `task:group` is the set of groups with a task on the instance: `==`, `in`
  and `=~` hold when one of them matches, `!=`, `not_in` and `!~` when the
  instance has tasks and none matches.
* `=~` must match the whole value (Java's `String.matches`).
* `registeredAt` against a date compares calendar days (UTC); against a time,
  whole seconds. Times without an offset are UTC.
* `agentVersion` compares version numbers (1.9.0 < 1.14.5), missing parts are 0.
* `runningTasksCount` counts the instance's tasks that are not stopped.

The lexer is modal, because values are bare words that may hold characters
the grammar uses elsewhere (`service:web`, `t2.*`, `2018-06-18T22:28:28+00:00`):
after an operator it reads a value, anywhere else a subject, operator or
keyword. A bare value ends at blank space, at `&&`/`||`, at an unbalanced `)`
or `]`, and, inside a list, at `,`; quote regular expressions that need blank
space or unbalanced brackets.

`compile_expression` parses once and returns an `Expression` whose `matches`
runs closures built from the tree; results are cached by text.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

from openecs.domain.container_instance import ContainerInstance
from openecs.domain.errors import InvalidParameterException
from openecs.scheduler.view import instance_attributes

__all__ = [
    "And",
    "Candidate",
    "Comparison",
    "Expression",
    "Node",
    "Not",
    "Or",
    "Token",
    "compile_expression",
    "compile_filter",
    "parse",
    "tokenize",
]

# The longest expression ECS accepts in a placement constraint.
MAX_EXPRESSION_LENGTH = 2000


class Candidate(Protocol):
    """What an expression reads about an instance (InstanceView is one)."""

    @property
    def instance(self) -> ContainerInstance: ...

    @property
    def groups(self) -> Mapping[str, int]: ...

    @property
    def task_count(self) -> int: ...

    @property
    def attributes(self) -> Mapping[str, str | None]: ...


Predicate = Callable[[Candidate], bool]


# --------------------------------------------------------------------------- tokens


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # ( ) [ ] , and or not subject op value eof
    text: str
    pos: int


_SYMBOL_OPERATORS = ("==", "!=", ">=", "<=", "=~", "!~", ">", "<")
# Every spelling of an operator → its canonical symbol.
_OPERATOR_NAMES = {
    name: symbol
    for symbol, names in (
        ("==", ("==", "equals")),
        ("!=", ("!=", "not_equals")),
        (">", (">", "greater_than")),
        (">=", (">=", "greater_than_equal")),
        ("<", ("<", "less_than")),
        ("<=", ("<=", "less_than_equal")),
        ("exists", ("exists",)),
        ("!exists", ("!exists", "not_exists")),
        ("in", ("in",)),
        ("!in", ("!in", "not_in")),
        ("=~", ("=~", "matches")),
        ("!~", ("!~", "not_matches")),
    )
    for name in names
}
_UNARY = frozenset({"exists", "!exists"})
_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./\\:@")


class _Syntax(Exception):
    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


class _Lexer:
    """Turns text into tokens; the expected kind of token drives how it reads."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.tokens: list[Token] = []

    def run(self) -> list[Token]:
        expect = "term"
        while True:
            self._skip_blank()
            if expect == "term":
                expect = self._term()
            elif expect == "operator":
                expect = self._operator()
            elif expect == "argument":
                expect = self._argument()
            else:
                if self.pos >= len(self.text):
                    self.tokens.append(Token("eof", "", self.pos))
                    return self.tokens
                expect = self._connector()

    def _skip_blank(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def _emit(self, kind: str, text: str, pos: int) -> None:
        self.tokens.append(Token(kind, text, pos))

    def _word(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in _WORD_CHARS:
            self.pos += 1
        return self.text[start : self.pos]

    def _term(self) -> str:
        start = self.pos
        if start >= len(self.text):
            raise _Syntax("the expression ends where a condition was expected", start)
        char = self.text[start]
        if char == "(":
            self.pos += 1
            self._emit("(", "(", start)
            return "term"
        if char == "!":
            self.pos += 1
            self._emit("not", "!", start)
            return "term"
        word = self._word()
        if not word:
            raise _Syntax(f"unexpected '{char}' where a subject was expected", start)
        if word.lower() == "not":
            self._emit("not", word, start)
            return "term"
        if word.lower() in ("and", "or"):
            raise _Syntax(f"'{word}' needs a condition before it", start)
        self._emit("subject", word, start)
        return "operator"

    def _operator(self) -> str:
        start = self.pos
        text = self.text
        if start >= len(text):
            raise _Syntax("the expression ends where an operator was expected", start)
        op: str | None = None
        for symbol in _SYMBOL_OPERATORS:
            if text.startswith(symbol, start):
                op = symbol
                self.pos += len(symbol)
                break
        if op is None:
            bang = text[start] == "!"
            if bang:
                self.pos += 1
            word = self._word()
            name = ("!" if bang else "") + word.lower()
            if not word or name not in _OPERATOR_NAMES:
                shown = text[start : self.pos] or text[start]
                raise _Syntax(f"'{shown}' is not an operator", start)
            op = _OPERATOR_NAMES[name]
        self._emit("op", op, start)
        return "connector" if op in _UNARY else "argument"

    def _argument(self) -> str:
        start = self.pos
        if start >= len(self.text):
            raise _Syntax("the expression ends where a value was expected", start)
        operator = self.tokens[-1].text
        if operator not in ("in", "!in"):
            # One value, even one that starts with '[' (a character class: `=~ [mt]5.*`).
            self._value(in_list=False)
            return "connector"
        if self.text[start] != "[":
            raise _Syntax(f"the operator '{operator}' takes a list such as [a, b]", start)
        self.pos += 1
        self._emit("[", "[", start)
        self._skip_blank()
        if self.text.startswith("]", self.pos):
            self._emit("]", "]", self.pos)
            self.pos += 1
            return "connector"
        while True:
            self._skip_blank()
            self._value(in_list=True)
            self._skip_blank()
            here = self.pos
            if here >= len(self.text):
                raise _Syntax("the list is not closed with ']'", start)
            if self.text[here] == ",":
                self.pos += 1
                self._emit(",", ",", here)
                continue
            if self.text[here] == "]":
                self.pos += 1
                self._emit("]", "]", here)
                return "connector"
            found = self.text[here:].split(None, 1)[0]
            raise _Syntax(f"expected ',' or ']' in a list but found '{found}'", here)

    def _value(self, *, in_list: bool) -> None:
        start = self.pos
        text = self.text
        if start >= len(text):
            raise _Syntax("the expression ends where a value was expected", start)
        quote = text[start]
        if quote in "'\"":
            end = text.find(quote, start + 1)
            if end < 0:
                raise _Syntax("a quoted value is not closed", start)
            self.pos = end + 1
            self._emit("value", text[start + 1 : end], start)
            return
        depth = 0
        pos = start
        while pos < len(text):
            char = text[pos]
            if char.isspace():
                break
            if depth == 0 and text.startswith(("&&", "||"), pos):
                break
            if char in "([":
                depth += 1
            elif char in ")]":
                if depth == 0:
                    break
                depth -= 1
            elif char == "," and in_list and depth == 0:
                break
            pos += 1
        if depth:
            raise _Syntax("a value has an unclosed bracket; quote it", start)
        if pos == start:
            raise _Syntax("a value is missing", start)
        self.pos = pos
        self._emit("value", text[start:pos], start)

    def _connector(self) -> str:
        start = self.pos
        text = self.text
        if text[start] == ")":
            self.pos += 1
            self._emit(")", ")", start)
            return "connector"
        for symbol, kind in (("&&", "and"), ("||", "or")):
            if text.startswith(symbol, start):
                self.pos += 2
                self._emit(kind, symbol, start)
                return "term"
        word = self._word()
        if word.lower() in ("and", "or"):
            self._emit(word.lower(), word, start)
            return "term"
        shown = word or text[start]
        raise _Syntax(f"expected 'and', 'or' or ')' but found '{shown}'", start)


def tokenize(text: str) -> list[Token]:
    """The tokens of an expression, ending with an `eof` token."""
    try:
        return _Lexer(text).run()
    except _Syntax as err:
        raise _invalid(text, err) from None


# --------------------------------------------------------------------------- syntax tree


@dataclass(frozen=True, slots=True)
class Comparison:
    subject: str  # agentConnected, agentVersion, attribute, ec2InstanceId, ...
    attribute: str | None  # the name after `attribute:`
    operator: str  # canonical: == != > >= < <= exists !exists in !in =~ !~
    arguments: tuple[str, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Node, ...]


Node = Comparison | Not | And | Or

_SUBJECTS = {
    "agentConnected": frozenset({"==", "!=", "in", "!in", "=~", "!~"}),
    "agentVersion": frozenset({"==", "!=", ">", ">=", "<", "<="}),
    "ec2InstanceId": frozenset({"==", "!=", "in", "!in", "=~", "!~"}),
    "registeredAt": frozenset({"==", "!=", ">", ">=", "<", "<="}),
    "runningTasksCount": frozenset({"==", "!=", ">", ">=", "<", "<="}),
    "task:group": frozenset({"==", "!=", "in", "!in", "=~", "!~", "exists", "!exists"}),
    "attribute": frozenset(_OPERATOR_NAMES.values()),
}
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9_./\\-]{1,128}")


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.at = 0

    def peek(self) -> Token:
        return self.tokens[self.at]

    def advance(self) -> Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def parse(self) -> Node:
        node = self.or_expr()
        token = self.peek()
        if token.kind != "eof":
            raise _Syntax(f"unexpected '{token.text}'", token.pos)
        return node

    def or_expr(self) -> Node:
        operands = [self.and_expr()]
        while self.peek().kind == "or":
            self.advance()
            operands.append(self.and_expr())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def and_expr(self) -> Node:
        operands = [self.not_expr()]
        while self.peek().kind == "and":
            self.advance()
            operands.append(self.not_expr())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def not_expr(self) -> Node:
        token = self.peek()
        if token.kind == "not":
            self.advance()
            return Not(self.not_expr())
        if token.kind == "(":
            self.advance()
            node = self.or_expr()
            closing = self.peek()
            if closing.kind != ")":
                raise _Syntax(f"'(' at character {token.pos + 1} is not closed", closing.pos)
            self.advance()
            return node
        return self.comparison()

    def comparison(self) -> Comparison:
        subject_token = self.advance()
        if subject_token.kind != "subject":
            raise _Syntax(f"unexpected '{subject_token.text}'", subject_token.pos)
        subject, attribute = _subject(subject_token)
        op_token = self.advance()
        operator = op_token.text
        if operator not in _SUBJECTS[subject]:
            shown = f"attribute:{attribute}" if attribute is not None else subject
            raise _Syntax(f"the operator '{operator}' does not apply to {shown}", op_token.pos)
        arguments: list[str] = []
        if operator in ("in", "!in"):
            self.advance()  # the lexer made sure a list follows: [ value (, value)* ]
            while self.peek().kind != "]":
                token = self.advance()
                if token.kind == "value":
                    arguments.append(token.text)
            self.advance()
        elif operator not in _UNARY:
            arguments.append(self.advance().text)
        return Comparison(subject, attribute, operator, tuple(arguments), subject_token.pos)


def _subject(token: Token) -> tuple[str, str | None]:
    text = token.text
    if text.startswith("attribute:"):
        name = text[len("attribute:") :]
        if not _ATTRIBUTE_NAME.fullmatch(name):
            raise _Syntax(f"'{name}' is not a valid attribute name", token.pos)
        return "attribute", name
    if text in _SUBJECTS and text != "attribute":
        return text, None
    raise _Syntax(
        f"unknown subject '{text}'; use agentConnected, agentVersion, attribute:<name>, "
        "ec2InstanceId, registeredAt, runningTasksCount or task:group",
        token.pos,
    )


def _invalid(text: str, err: _Syntax) -> InvalidParameterException:
    return InvalidParameterException(
        f"Invalid cluster query expression '{text}': {err.message} (at character {err.pos + 1})."
    )


def parse(text: str) -> Node:
    """The syntax tree of an expression; InvalidParameterException if it has none."""
    if not text or not text.strip():
        raise InvalidParameterException("The cluster query expression is empty.")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise InvalidParameterException(
            f"The cluster query expression is longer than {MAX_EXPRESSION_LENGTH} characters."
        )
    tokens = tokenize(text)
    try:
        node = _Parser(tokens).parse()
        _check_arguments(node)
    except _Syntax as err:
        raise _invalid(text, err) from None
    return node


# --------------------------------------------------------------------------- values

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})?")
_VERSION = re.compile(r"v?(\d+(?:\.\d+)*)")
_INTEGER = re.compile(r"[+-]?\d+")


def _version(text: str) -> tuple[int, ...] | None:
    match = _VERSION.match(text.strip())
    if match is None:
        return None
    parts = [int(p) for p in match.group(1).split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def _moment(text: str) -> date | int | None:
    """A date (day precision) or whole seconds since the epoch; None if not a date."""
    if _DATE.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            return None
    if _DATETIME.fullmatch(text):
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return int(moment.timestamp())
    return None


def _check_arguments(node: Node) -> None:
    """Reject values a subject cannot be compared with, at compile time."""
    if isinstance(node, Not):
        _check_arguments(node.operand)
        return
    if isinstance(node, And | Or):
        for operand in node.operands:
            _check_arguments(operand)
        return
    for value in node.arguments:
        if node.operator in ("=~", "!~"):
            try:
                re.compile(value)
            except re.error as err:
                raise _Syntax(
                    f"'{value}' is not a valid regular expression ({err})", node.pos
                ) from None
        elif node.subject == "runningTasksCount" and not _INTEGER.fullmatch(value):
            raise _Syntax(
                f"runningTasksCount compares with a whole number, not '{value}'", node.pos
            )
        elif node.subject == "registeredAt" and _moment(value) is None:
            raise _Syntax(
                f"'{value}' is not a date; use 2018-06-18T22:28:28+00:00, "
                "2018-06-18T22:28:28Z, 2018-06-18T22:28:28 or 2018-06-18",
                node.pos,
            )
        elif node.subject == "agentVersion" and _version(value) is None:
            raise _Syntax(f"'{value}' is not an agent version such as 1.14.5", node.pos)
        elif node.subject == "agentConnected" and value.lower() not in ("true", "false"):
            raise _Syntax(f"agentConnected is true or false, not '{value}'", node.pos)


# --------------------------------------------------------------------------- compiler


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _order(op: str) -> Callable[[Any, Any], bool]:
    return {
        ">": operator.gt,
        ">=": operator.ge,
        "<": operator.lt,
        "<=": operator.le,
        "==": operator.eq,
        "!=": operator.ne,
    }[op]


def _string_test(op: str, arguments: tuple[str, ...]) -> Callable[[str], bool]:
    """The positive form of a comparison on one string value (`!=` tests `==`)."""
    if op in ("==", "!="):
        wanted = arguments[0]
        return lambda v: v == wanted
    if op in ("in", "!in"):
        members = frozenset(arguments)
        return lambda v: v in members
    if op in ("=~", "!~"):
        pattern = re.compile(arguments[0])
        return lambda v: pattern.fullmatch(v) is not None
    # Ordering on attributes: numerically when both sides are numbers.
    compare = _order(op)
    raw = arguments[0]
    as_number = _number(raw)

    def ordered(v: str) -> bool:
        mine = _number(v)
        if as_number is not None and mine is not None:
            return compare(mine, as_number)
        return compare(v, raw)

    return ordered


_NEGATIVE = frozenset({"!=", "!in", "!~"})


def _compile_comparison(node: Comparison) -> Predicate:
    op = node.operator
    subject = node.subject
    if subject == "attribute":
        return _compile_attribute(node)
    if subject == "task:group":
        return _compile_group(node)
    if subject == "runningTasksCount":
        count = int(node.arguments[0])
        compare = _order(op)
        return lambda c: compare(c.task_count, count)
    if subject == "agentVersion":
        wanted = _version(node.arguments[0])
        compare = _order(op)

        def agent_version(c: Candidate) -> bool:
            raw = c.instance.version_info.get("agentVersion")
            have = _version(str(raw)) if raw else None
            return have is not None and compare(have, wanted)

        return agent_version
    if subject == "registeredAt":
        return _compile_registered_at(node)
    test = _string_test(op, node.arguments)
    negative = op in _NEGATIVE
    if subject == "agentConnected":
        lowered = _string_test(op, tuple(a.lower() for a in node.arguments))
        if op in ("=~", "!~"):
            lowered = test

        def connected(c: Candidate) -> bool:
            return lowered("true" if c.instance.agent_connected else "false") is not negative

        return connected

    def ec2_instance_id(c: Candidate) -> bool:
        value = c.instance.ec2_instance_id
        if not value:
            return False
        return test(value) is not negative

    return ec2_instance_id


def _compile_attribute(node: Comparison) -> Predicate:
    name = node.attribute or ""
    op = node.operator
    if op == "exists":
        return lambda c: name in c.attributes
    if op == "!exists":
        return lambda c: name not in c.attributes
    test = _string_test(op, node.arguments)
    negative = op in _NEGATIVE

    def attribute(c: Candidate) -> bool:
        value = c.attributes.get(name)
        if value is None:  # absent, or a name-only attribute with no value to match
            return negative and name in c.attributes
        return test(value) is not negative

    return attribute


def _compile_group(node: Comparison) -> Predicate:
    op = node.operator
    if op == "exists":
        return lambda c: any(n > 0 for n in c.groups.values())
    if op == "!exists":
        return lambda c: not any(n > 0 for n in c.groups.values())
    if op in ("==", "!="):
        wanted = node.arguments[0]
        if op == "==":
            return lambda c: c.groups.get(wanted, 0) > 0

        def not_hosting(c: Candidate) -> bool:
            return c.groups.get(wanted, 0) == 0 and any(n > 0 for n in c.groups.values())

        return not_hosting
    test = _string_test(op, node.arguments)
    negative = op in _NEGATIVE

    def group(c: Candidate) -> bool:
        present = [g for g, n in c.groups.items() if n > 0]
        if not present:
            return False
        return any(test(g) for g in present) is not negative

    return group


def _compile_registered_at(node: Comparison) -> Predicate:
    wanted = _moment(node.arguments[0])
    compare = _order(node.operator)
    if isinstance(wanted, date):
        day = wanted
        return lambda c: compare(datetime.fromtimestamp(c.instance.registered_at, UTC).date(), day)
    seconds = wanted
    return lambda c: compare(int(c.instance.registered_at), seconds)


def _compile(node: Node) -> Predicate:
    if isinstance(node, Comparison):
        return _compile_comparison(node)
    if isinstance(node, Not):
        inner = _compile(node.operand)
        return lambda c: not inner(c)
    parts = tuple(_compile(operand) for operand in node.operands)
    if isinstance(node, And):
        if len(parts) == 2:
            first, second = parts
            return lambda c: first(c) and second(c)
        return lambda c: all(p(c) for p in parts)
    if len(parts) == 2:
        first, second = parts
        return lambda c: first(c) or second(c)
    return lambda c: any(p(c) for p in parts)


def _reads_tasks(node: Node) -> bool:
    if isinstance(node, Comparison):
        return node.subject in ("task:group", "runningTasksCount")
    if isinstance(node, Not):
        return _reads_tasks(node.operand)
    return any(_reads_tasks(operand) for operand in node.operands)


@dataclass(frozen=True, slots=True)
class Expression:
    """A compiled expression: parse once, evaluate against many instances."""

    text: str
    tree: Node
    matches: Predicate
    # True when the result can change as tasks are placed (task:group,
    # runningTasksCount): the scheduler then re-evaluates after each placement.
    reads_tasks: bool


@functools.lru_cache(maxsize=1024)
def compile_expression(text: str) -> Expression:
    """Compile an expression; InvalidParameterException explains what is wrong."""
    tree = parse(text)
    return Expression(text, tree, _compile(tree), _reads_tasks(tree))


@dataclass(frozen=True, slots=True)
class _Facts:
    instance: ContainerInstance
    groups: Mapping[str, int]
    task_count: int
    attributes: Mapping[str, str | None]


def compile_filter(expr: str) -> Callable[[ContainerInstance, Mapping[str, int]], bool]:
    """ListContainerInstances' `filter`: `accept(instance, task_groups) -> bool`.

    `task_groups` maps each task group to the number of the instance's tasks
    (not stopped) in it; runningTasksCount is their sum, since every task has
    a group.
    """
    compiled = compile_expression(expr)

    def accept(instance: ContainerInstance, task_groups: Mapping[str, int]) -> bool:
        facts = _Facts(
            instance, task_groups, sum(task_groups.values()), instance_attributes(instance)
        )
        return compiled.matches(facts)

    return accept
