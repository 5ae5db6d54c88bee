"""The platform's topology: its parts, what each depends on, and which alerts belong to which part.

The receiver groups alerts into incidents along this graph (``RECEIVER_TOPOLOGY_FILE``; the
rules are in ``receiver/intake/correlation.py``, docs/alerting.md "Incidents")::

    correlation:                  # optional: which rules apply (all by default)
      same_part: true             # alerts on one part join one incident
      dependencies: true          # an alert on a part whose dependency has an open incident joins it
      late_upstream: true         # a dependency's alert arriving after its dependents' merges their incidents
    parts:
      - name: kafka
        match: ['alertname="ExporterKafkaDown"']
      - name: transaction-service
        depends_on: [kafka, postgresql]
        match: ['service="transaction-service"']

An alert belongs to the first part, in file order, one of whose selectors matches its labels
(list the specific parts before the general ones). A selector is a comma-separated list of
matchers that must all hold: ``label="value"``, ``label!="value"``, ``label=~"regex"``,
``label!~"regex"``; regular expressions are anchored at both ends, as in Prometheus and
Alertmanager, and a label the alert lacks has the value ``""``.

A bad file (an unknown key, a duplicate or unknown part, a dependency cycle, a bad matcher)
raises ``ConfigFileError`` naming the file, the line and the problem, so the receiver stops at
start-up. Typed data and validation only: the matching index and the rules live with intake.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitoring.config_files import PathKey, read_yaml

WHAT = "topology"
_LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
_MATCHER = re.compile(
    rf"\s*(?P<label>{_LABEL})\s*(?P<op>=~|!~|!=|=)\s*"
    r'(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<bare>[^\s,"{}]*))\s*(?P<end>,|$)'
)
OPERATORS = ("=", "!=", "=~", "!~")


class TopologyInvalid(ValueError):
    """A topology of the wrong shape; ``at`` is the path of the offending value in the file."""

    def __init__(self, at: PathKey, reason: str) -> None:
        super().__init__(reason)
        self.at = at
        self.reason = reason


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str  # = != =~ !~
    value: str
    pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.label, "")
        if self.pattern is not None:
            return (self.pattern.fullmatch(actual) is not None) == (self.op == "=~")
        return (actual == self.value) == (self.op == "=")

    def __str__(self) -> str:
        return f"{self.label}{self.op}{json.dumps(self.value)}"


@dataclass(frozen=True)
class Selector:
    """Matchers that must all hold."""

    matchers: tuple[Matcher, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)

    def __str__(self) -> str:
        return ", ".join(map(str, self.matchers))


def parse_selector(text: str) -> Selector:
    """``service="kafka", group=~"portfolio.*"`` (braces optional); ValueError says what is wrong."""
    body = text.strip()
    if body.startswith("{") and body.endswith("}"):
        body = body[1:-1].strip()
    if not body:
        raise ValueError("an empty selector matches every alert; give at least one matcher")
    matchers: list[Matcher] = []
    position = 0
    while position < len(body):
        match = _MATCHER.match(body, position)
        if match is None or match.end() == position:
            raise ValueError(f'cannot parse matcher at {body[position:]!r}; expected label="value" (or !=, =~, !~)')
        raw = match.group("quoted")
        value = match.group("bare") if raw is None else json.loads(f'"{raw}"')
        op = match.group("op")
        pattern = None
        if op in ("=~", "!~"):
            try:
                pattern = re.compile(value)
            except re.error as exc:
                raise ValueError(f"bad regular expression {value!r} for {match.group('label')}: {exc}") from None
        matchers.append(Matcher(match.group("label"), op, value, pattern))
        position = match.end()
        if match.group("end") == "," and position >= len(body):
            raise ValueError("a trailing comma: expected another matcher")
    return Selector(tuple(matchers))


@dataclass(frozen=True)
class Part:
    name: str
    depends_on: tuple[str, ...] = ()
    selectors: tuple[Selector, ...] = ()


@dataclass(frozen=True)
class CorrelationRules:
    same_part: bool = True
    dependencies: bool = True
    late_upstream: bool = True


@dataclass(frozen=True)
class Topology:
    """Parts in file order; ``component`` names each part's connected component (its first part
    in file order), the unit the store locks when it correlates alerts."""

    parts: tuple[Part, ...]
    rules: CorrelationRules = CorrelationRules()
    source: str = "<topology>"
    _by_name: dict[str, Part] = field(init=False, repr=False, compare=False)
    _component: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {p.name: p for p in self.parts})
        object.__setattr__(self, "_component", _components(self.parts))

    def part(self, name: str) -> Part:
        return self._by_name[name]

    def component(self, name: str) -> str:
        return self._component[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    @classmethod
    def from_file(cls, path: Path) -> Topology:
        """The topology in ``path``; every problem fails naming the file, the line and the reason."""
        document = read_yaml(path, WHAT)
        try:
            return cls.from_mapping(document.value if document.value is not None else {}, str(path))
        except TopologyInvalid as exc:
            raise document.error(exc.at, f"invalid {WHAT}: {exc.reason}") from None

    @classmethod
    def from_mapping(cls, document: object, source: str = "<topology>") -> Topology:
        """Raises ``TopologyInvalid`` naming where the problem is."""
        root = _mapping(document, (), "expected a mapping with parts (and optionally correlation)")
        _known_keys(root, (), ("parts", "correlation"))
        rules = _rules(root.get("correlation"))
        raw_parts = root.get("parts")
        if not isinstance(raw_parts, list) or not raw_parts:
            raise TopologyInvalid(("parts",), "parts: expected a non-empty list of {name, depends_on, match}")
        names: dict[str, int] = {}
        parts: list[Part] = []
        for index, raw in enumerate(raw_parts):
            at: PathKey = ("parts", index)
            spec = _mapping(raw, at, f"parts[{index}]: expected a mapping with name, depends_on, match")
            _known_keys(spec, at, ("name", "depends_on", "match"))
            name = spec.get("name")
            if not isinstance(name, str) or not name.strip() or name != name.strip():
                raise TopologyInvalid(
                    (*at, "name"), f"parts[{index}].name: expected a non-empty name without spaces around it"
                )
            if name in names:
                raise TopologyInvalid((*at, "name"), f"part {name!r} is defined twice (first as parts[{names[name]}])")
            names[name] = index
            parts.append(Part(name, _names(spec.get("depends_on"), (*at, "depends_on")), _selectors(spec, at)))
        for index, part in enumerate(parts):
            for k, dependency in enumerate(part.depends_on):
                if dependency not in names:
                    raise TopologyInvalid(
                        ("parts", index, "depends_on", k), f"part {part.name!r} depends on unknown part {dependency!r}"
                    )
        _check_acyclic(parts, names)
        return cls(tuple(parts), rules, source)


def _mapping(raw: object, at: PathKey, expected: str) -> dict[Any, Any]:
    if not isinstance(raw, dict):
        raise TopologyInvalid(at, f"{expected}, got {type(raw).__name__}")
    return raw


def _known_keys(spec: Mapping[Any, Any], at: PathKey, known: tuple[str, ...]) -> None:
    unknown = sorted(map(str, set(spec) - set(known)))
    if unknown:
        raise TopologyInvalid((*at, unknown[0]), f"unknown key {unknown[0]!r}; expected {', '.join(known)}")


def _rules(raw: object) -> CorrelationRules:
    if raw is None:
        return CorrelationRules()
    spec = _mapping(raw, ("correlation",), "correlation: expected a mapping of rule: true|false")
    _known_keys(spec, ("correlation",), ("same_part", "dependencies", "late_upstream"))
    for key, value in spec.items():
        if not isinstance(value, bool):
            raise TopologyInvalid(("correlation", key), f"correlation.{key}: expected true or false")
    return CorrelationRules(**spec)


def _names(raw: object, at: PathKey) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(n, str) and n for n in raw):
        raise TopologyInvalid(at, "depends_on: expected a list of part names")
    return tuple(raw)


def _selectors(spec: Mapping[str, Any], at: PathKey) -> tuple[Selector, ...]:
    raw = spec.get("match")
    if raw is None:
        return ()  # a part only others depend on (nothing alerts on it directly)
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        raise TopologyInvalid((*at, "match"), "match: expected a list of selectors such as 'service=\"kafka\"'")
    selectors = []
    for k, text in enumerate(raw):
        if not isinstance(text, str):
            raise TopologyInvalid(
                (*at, "match", k), f"match[{k}]: expected a selector string, got {type(text).__name__}"
            )
        try:
            selectors.append(parse_selector(text))
        except ValueError as exc:
            raise TopologyInvalid((*at, "match", k), f"bad matcher in {text!r}: {exc}") from None
    return tuple(selectors)


def _check_acyclic(parts: list[Part], names: Mapping[str, int]) -> None:
    """Depth-first, iteratively (thousands of parts); a back edge is a cycle, named in full."""
    WHITE, GREY, BLACK = 0, 1, 2  # noqa: N806 - the usual names of DFS colours
    colour = [WHITE] * len(parts)
    for start in range(len(parts)):
        if colour[start] != WHITE:
            continue
        stack: list[tuple[int, int]] = [(start, 0)]  # (part, next dependency to visit)
        colour[start] = GREY
        while stack:
            node, k = stack[-1]
            deps = parts[node].depends_on
            if k == len(deps):
                colour[node] = BLACK
                stack.pop()
                continue
            stack[-1] = (node, k + 1)
            child = names[deps[k]]
            if colour[child] == GREY:
                path = [i for i, _ in stack]
                cycle = [*path[path.index(child) :], child]
                text = " -> ".join(parts[i].name for i in cycle)
                raise TopologyInvalid(("parts", node, "depends_on", k), f"dependency cycle: {text}")
            if colour[child] == WHITE:
                colour[child] = GREY
                stack.append((child, 0))


def _components(parts: tuple[Part, ...]) -> dict[str, str]:
    """Part -> its weakly connected component, named by the component's first part in file order."""
    parent = {p.name: p.name for p in parts}

    def root(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    order = {p.name: i for i, p in enumerate(parts)}
    for part in parts:
        for dependency in part.depends_on:
            a, b = root(part.name), root(dependency)
            if a != b:
                first, second = (a, b) if order[a] < order[b] else (b, a)
                parent[second] = first
    return {p.name: root(p.name) for p in parts}
