"""Recording rules inlined into the expressions that read them, so an edit to one shows its effect.

Prometheus stores what a recording rule computed at each evaluation; a backtest of *edited*
files cannot read those samples, so every selector of a series recorded by the given files is
replaced (through the PromQL AST of ``promql_parser``, a port of Prometheus's own parser) by
the rule's expression, recursively, until only stored series remain:

- ``rec{m}`` becomes the rule's expression with the rule's ``__name__`` and ``labels:`` set
  (``label_replace``), filtered by the selector's matchers ``m`` (a ``label_replace`` that
  marks matching series and an ``and on(mark)`` that keeps them: exact for ``=``, ``!=``,
  ``=~`` and ``!~``, anchored as Prometheus anchors them);
- ``rec{m}[5m]`` (and ``offset``/``@``) becomes the subquery ``(…)[5m:I]`` with ``I`` the
  recording rule's group interval: the samples Prometheus would have recorded;
- ``rec offset 1w`` becomes ``last_over_time((…)[I-1ms:I] offset 1w)``: the last recorded
  sample before that time;
- ``absent(rec{a="b"})`` keeps the labels Prometheus derives from the equality matchers.

Limits (each refused with ``ExpansionUnsupported`` naming the selector, never guessed): a
selector that may match a recorded series without naming it (``{__name__=~"…"}``,
``{job="x"}``). Subquery steps are aligned to multiples of ``I`` since the epoch, Prometheus's
own evaluations to the group's phase: a derived value can be up to one interval older or
newer than the one Prometheus recorded. Series recorded by rules *not* in the given files are
read as Prometheus stored them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import timedelta

import promql_parser as promql

from ops.rules.durations import format_duration
from ops.rules.rule_files import RecordingRule

_KEEP = "__backtest_keep"
_DROP = "__backtest_drop"
_ABSENT = ("absent", "absent_over_time")
_SCALAR_FUNCTIONS = {"scalar", "time", "pi", "minute", "hour", "day_of_month", "day_of_week", "days_in_month"}


class ExpansionUnsupported(ValueError):
    """An expression the backtest cannot rewrite exactly; the message names the selector."""


def _string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def quote_meta(text: str) -> str:
    """Go's ``regexp.QuoteMeta``: ``text`` as a regular expression matching it literally."""
    return re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", text)


def _set_label(expr: str, name: str, value: str) -> str:
    return f'label_replace({expr}, {_string(name)}, {_string(value.replace("$", "$$"))}, "", "")'


def _filter(expr: str, matcher: promql.Matcher) -> str:
    """``expr`` restricted to the series ``matcher`` selects (the value of a missing label is "")."""
    op = matcher.op
    regex = matcher.value if op in (promql.MatchOp.Re, promql.MatchOp.NotRe) else quote_meta(matcher.value)
    mark = _KEEP if op in (promql.MatchOp.Equal, promql.MatchOp.Re) else _DROP
    marked = f'label_replace({expr}, {_string(mark)}, "1", {_string(matcher.name)}, {_string(regex)})'
    keyword = "and" if mark == _KEEP else "unless"
    one = _set_label("vector(1)", mark, "1")
    return _set_label(f"({marked} {keyword} on ({mark}) {one})", mark, "")


def _duration(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    return ("-" if seconds < 0 else "") + format_duration(abs(seconds))


def _modifiers(offset: timedelta | None, at: promql.AtModifier | None) -> str:
    out = ""
    if offset is not None and offset.total_seconds() != 0:
        out += f" offset {_duration(offset)}"
    if at is not None:
        if at.type == promql.AtModifierType.Start:
            out += " @ start()"
        elif at.type == promql.AtModifierType.End:
            out += " @ end()"
        else:
            assert at.at is not None
            out += f" @ {at.at.timestamp():.3f}"
    return out


def _is_scalar(node: object) -> bool:
    if isinstance(node, promql.NumberLiteral):
        return True
    if isinstance(node, promql.ParenExpr | promql.UnaryExpr):
        return _is_scalar(node.expr)
    if isinstance(node, promql.BinaryExpr):
        return _is_scalar(node.lhs) and _is_scalar(node.rhs)
    return isinstance(node, promql.Call) and node.func.name in _SCALAR_FUNCTIONS


class RecordingRules:
    """The recording rules of the given files, ready to inline into any expression."""

    def __init__(self, rules: Sequence[RecordingRule]) -> None:
        self._rules: dict[str, list[RecordingRule]] = {}
        for rule in rules:
            self._rules.setdefault(rule.record, []).append(rule)
        self._expanded: dict[str, str] = {}

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._rules)

    def expand(self, expr: str) -> str:
        """``expr`` with every series recorded by these rules computed from stored series."""
        return self._expand(expr, ())

    def reads(self, expr: str) -> frozenset[str]:
        """The recorded names ``expr`` reads, directly or through other recording rules."""
        found: set[str] = set()

        def visit(node: object) -> None:
            selector = node.vector_selector if isinstance(node, promql.MatrixSelector) else node
            if isinstance(selector, promql.VectorSelector):
                name = self._name(selector)
                if name is not None and name not in found:
                    found.add(name)
                    for rule in self._rules[name]:
                        promql.walk(promql.parse(rule.expr), visit)

        promql.walk(promql.parse(expr), visit)
        return frozenset(found)

    def _name(self, selector: promql.VectorSelector) -> str | None:
        """The recorded name ``selector`` reads, None when it reads only stored series."""
        name = selector.name
        matchers = selector.matchers.matchers
        if name is None:
            name = next((m.value for m in matchers if m.name == "__name__" and m.op == promql.MatchOp.Equal), None)
        if name is not None:
            return name if name in self._rules else None
        if not self._rules:
            return None
        could = sorted(r for r in self._rules if all(_matches(m, r) for m in matchers if m.name == "__name__"))
        if could:
            raise ExpansionUnsupported(
                f"the selector {selector} may select series recorded by the given files ({', '.join(could[:3])}); "
                "name the metric so the backtest can compute it"
            )
        return None

    def _expand(self, expr: str, stack: tuple[str, ...]) -> str:
        tree = promql.parse(expr)
        if not self._rules:
            return expr

        def replace(node: object) -> promql.Expr | None:
            if isinstance(node, promql.Call) and node.func.name in _ABSENT and node.args:
                argument = node.args[0]
                inner = argument.vector_selector if isinstance(argument, promql.MatrixSelector) else argument
                if isinstance(inner, promql.VectorSelector) and self._name(inner) is not None:
                    text = f"{node.func.name}({self._selector(argument, stack)})"
                    equal = [
                        m for m in inner.matchers.matchers if m.op == promql.MatchOp.Equal and m.name != "__name__"
                    ]
                    names = [m.name for m in equal]
                    for matcher in equal:
                        if names.count(matcher.name) == 1:
                            text = _set_label(text, matcher.name, matcher.value)
                    return promql.parse(text)
            if isinstance(node, promql.MatrixSelector | promql.VectorSelector):
                inner = node.vector_selector if isinstance(node, promql.MatrixSelector) else node
                if self._name(inner) is not None:
                    return promql.parse(self._selector(node, stack))
            return None

        return str(promql.transform(tree, pre_visit=replace).prettify())

    def _selector(self, node: promql.MatrixSelector | promql.VectorSelector, stack: tuple[str, ...]) -> str:
        selector = node.vector_selector if isinstance(node, promql.MatrixSelector) else node
        name = self._name(selector)
        assert name is not None
        rules = self._rules[name]
        series = " or ".join(f"({self._recorded(rule, stack)})" for rule in rules)
        for matcher in selector.matchers.matchers:
            if matcher.name != "__name__":
                series = _filter(series, matcher)
        interval = min(rule.interval for rule in rules)
        modifiers = _modifiers(selector.offset, selector.at)
        if isinstance(node, promql.MatrixSelector):
            return f"({series})[{_duration(node.range)}:{format_duration(interval)}]{modifiers}"
        if modifiers:
            last = f"[{format_duration(interval - 0.001)}:{format_duration(interval)}]"
            return f"last_over_time(({series}){last}{modifiers})"
        return series

    def _recorded(self, rule: RecordingRule, stack: tuple[str, ...]) -> str:
        """What ``rule`` records at each evaluation: its expression, named and labelled."""
        if rule.record in stack:
            cycle = " -> ".join((*stack, rule.record))
            raise ExpansionUnsupported(f"recording rules read each other in a cycle: {cycle}")
        key = f"{rule.record}\0{rule.expr}\0{sorted(rule.labels.items())}"
        if key not in self._expanded:
            text = self._expand(rule.expr, (*stack, rule.record))
            if _is_scalar(promql.parse(rule.expr)):
                text = f"vector({text})"
            text = _set_label(text, "__name__", rule.record)
            for label, value in sorted(rule.labels.items()):
                text = _set_label(text, label, value)
            self._expanded[key] = text
        return self._expanded[key]


def _matches(matcher: promql.Matcher, value: str) -> bool:
    op = matcher.op
    if op == promql.MatchOp.Equal:
        return value == matcher.value
    if op == promql.MatchOp.NotEqual:
        return value != matcher.value
    full = re.fullmatch(matcher.value, value) is not None
    return full if op == promql.MatchOp.Re else not full
