"""Recording rules inlined into the expressions that read them, at the instants Prometheus recorded them.

Prometheus stores what a recording rule computed at each evaluation of its group, at the
group's own times (``schedule``). A backtest of *edited* files cannot read those samples, so
every selector of a series recorded by the given files is replaced (through the PromQL AST
of ``promql_parser``, a port of Prometheus's own parser) by the rule's expression, evaluated
where Prometheus evaluated it:

- An expression is written in a *frame*: evaluated at time ``τ`` it stands for the instant
  ``τ + d``. The alerting rule's own query is in frame 0 (its ``query_range`` steps are its
  group's instants). A recording rule's expression is in the frame of its group's offset
  ``q``: every selector in it reads ``d`` later (``offset o - d``, a negative offset where
  needed), ``time()`` is ``time() + d``.
- ``rec[R] offset o`` becomes the subquery ``(…)[R:I] offset o+q-d``: its steps fall on the
  multiples of the interval ``I`` since the epoch, which in the frame of ``q`` are exactly
  the instants Prometheus recorded ``rec`` at within ``(T-o-R, T-o]``.
- ``rec offset o`` becomes ``last_over_time((…)[W:I] offset o+q-d)``, ``W`` the smaller of
  ``I`` and the lookback (5m): the last recording at or before ``T-o``, absent where the
  rule returned nothing then (Prometheus wrote a stale marker).
- A rule that reads a series recorded *later in its own group* sees the previous evaluation
  (Prometheus evaluates a group's rules in order): its window ends 1 ms earlier.
- ``rec{m}`` keeps the series the matchers ``m`` select (a ``label_replace`` that marks
  matching series and an ``and on(mark)`` that keeps them: exact for ``=``, ``!=``, ``=~``
  and ``!~``, anchored as Prometheus anchors them); ``absent(rec{a="b"})`` keeps the labels
  Prometheus derives from the equality matchers.
- A subquery written in a rule is evaluated, like Prometheus does, at multiples of its step
  since the epoch: its expression is in frame 0 and its offset becomes ``o - d``.

A rule Prometheus runs exactly as written (same file name, group, interval, expression and
labels in ``/api/v1/rules``), reading only rules it also runs as written, is read where
Prometheus recorded it, at the same instant, and computed where it recorded nothing: what it
recorded is what that rule computed, including what each evaluation saw of scrapes still
being written, which history cannot show. An edited rule, and every rule that reads it, is
always computed.

Refused with ``ExpansionUnsupported`` naming the selector, never guessed: a selector that may
match a recorded series without naming it (``{__name__=~"…"}``), a range over a name
recorded by rules of different groups, a negative offset written in a rule (it read samples
that did not exist yet when Prometheus evaluated it), ``@ start()``/``@ end()`` (an instant
query's time, which a range query does not have). Series recorded by rules *not* in the given
files are read as Prometheus stored them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import promql_parser as promql

from ops.rules.durations import format_duration
from ops.rules.rule_files import AlertingRule, RecordingRule

_KEEP = "__backtest_keep"
_DROP = "__backtest_drop"
_HOLE = "__backtest_hole_"
_ABSENT = ("absent", "absent_over_time")
_SCALAR_FUNCTIONS = {"scalar", "time", "pi", "minute", "hour", "day_of_month", "day_of_week", "days_in_month"}
_CLOCK_FUNCTIONS = {"minute", "hour", "month", "year", "day_of_month", "day_of_week", "day_of_year", "days_in_month"}
_OPERATORS = (
    (promql.MatchOp.Equal, "="),
    (promql.MatchOp.NotEqual, "!="),
    (promql.MatchOp.Re, "=~"),
    (promql.MatchOp.NotRe, "!~"),
)  # MatchOp is not hashable
DEFAULT_LOOKBACK_MS = 300_000

Rule = AlertingRule | RecordingRule
OffsetOf = Callable[[Path, str, float], int]  # (file, group, interval) -> offset in ms (schedule.Schedule.offset_ms)
RunningKey = tuple[str, str, int, str, str, tuple[tuple[str, str], ...]]  # file name, group, interval, rule


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


def _ms(delta: timedelta | None) -> int:
    return 0 if delta is None else round(delta.total_seconds() * 1000)


def _duration(ms: int) -> str:
    return ("-" if ms < 0 else "") + format_duration(abs(ms) / 1000)


def _offset(ms: int) -> str:
    return f" offset {_duration(ms)}" if ms else ""


def _is_scalar(node: object) -> bool:
    if isinstance(node, promql.NumberLiteral):
        return True
    if isinstance(node, promql.ParenExpr | promql.UnaryExpr):
        return _is_scalar(node.expr)
    if isinstance(node, promql.BinaryExpr):
        return _is_scalar(node.lhs) and _is_scalar(node.rhs)
    return isinstance(node, promql.Call) and node.func.name in _SCALAR_FUNCTIONS


def _inner(node: promql.MatrixSelector | promql.VectorSelector) -> promql.VectorSelector:
    return node.vector_selector if isinstance(node, promql.MatrixSelector) else node


def _operator(op: promql.MatchOp) -> str:
    return next(text for known, text in _OPERATORS if op == known)


def _series_text(selector: promql.VectorSelector) -> str:
    """``name{matchers}`` of ``selector``, without its modifiers."""
    if selector.matchers.or_matchers:
        raise ExpansionUnsupported(f"the selector {selector.prettify()}: `or` in a selector is not in Prometheus 2.42")
    matchers = ",".join(f"{m.name}{_operator(m.op)}{_string(m.value)}" for m in selector.matchers.matchers)
    return f"{selector.name or ''}{{{matchers}}}" if matchers or not selector.name else selector.name


def _at(selector: promql.VectorSelector) -> str | None:
    """`` @ <time>`` of ``selector`` (None without ``@``)."""
    at = selector.at
    if at is None:
        return None
    if at.type != promql.AtModifierType.At or at.at is None:
        raise ExpansionUnsupported(
            f"the selector {selector.prettify()}: `@ start()` and `@ end()` mean the evaluation time of an instant "
            "query, which the backtest's range queries do not have; write the selector without them"
        )
    return f" @ {at.at.timestamp():.3f}"


def _written_offset(node: promql.VectorSelector | promql.SubqueryExpr, text: str) -> int:
    offset = _ms(node.offset)
    if offset < 0:
        raise ExpansionUnsupported(
            f"{text}: a negative offset read samples that did not exist yet when Prometheus evaluated the rule"
        )
    return offset


def running_key(
    file: Path | str, group: str, interval: float, record: str, expr: str, labels: Mapping[str, str]
) -> RunningKey:
    """What identifies a recording rule as Prometheus runs it: its file's name, group, interval and text."""
    canonical = str(promql.parse(expr).prettify())
    return (Path(str(file)).name, group, round(interval * 1000), record, canonical, tuple(sorted(labels.items())))


def running_recordings(groups: Sequence[Mapping[str, Any]], default_interval: float) -> frozenset[RunningKey]:
    """The recording rules Prometheus runs, from its ``/api/v1/rules`` groups."""
    keys = set()
    for group in groups:
        interval = float(group.get("interval") or default_interval)
        for rule in group.get("rules") or []:
            if rule.get("type") == "recording":
                labels = {str(k): str(v) for k, v in (rule.get("labels") or {}).items()}
                keys.add(
                    running_key(
                        str(group.get("file", "")), str(group["name"]), interval, rule["name"], rule["query"], labels
                    )
                )
    return frozenset(keys)


class RecordingRules:
    """The recording rules of the given files, ready to inline into any expression.

    ``offset_of`` places each rule's group in its interval (``schedule.Schedule.offset_ms``);
    ``lookback_ms`` is Prometheus's ``--query.lookback-delta``. ``running`` are the recording
    rules Prometheus runs (``running_recordings``): a given rule that Prometheus runs as it is
    written, and that reads only such rules, is read from what Prometheus recorded wherever it
    recorded it, and computed elsewhere (see ``_recorded``).
    """

    def __init__(
        self,
        rules: Sequence[RecordingRule],
        offset_of: OffsetOf = lambda file, group, interval: 0,
        lookback_ms: int = DEFAULT_LOOKBACK_MS,
        running: frozenset[RunningKey] = frozenset(),
    ) -> None:
        self._rules: dict[str, list[RecordingRule]] = {}
        for rule in rules:
            self._rules.setdefault(rule.record, []).append(rule)
        self._offset_of = offset_of
        self._lookback_ms = lookback_ms
        self._running = running
        self._as_running: dict[RunningKey, bool] = {}
        self._recorded_text: dict[tuple[object, ...], str] = {}

    def expand(self, rule: AlertingRule) -> str:
        """The alerting rule's expression at its group's instants, reading no series recorded by a given rule
        except where Prometheus recorded it with the rule as written."""
        return self._render(promql.parse(rule.expr), 0, rule, ())

    def _phase(self, rule: RecordingRule) -> int:
        return self._offset_of(rule.file, rule.group, rule.interval) % round(rule.interval * 1000)

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
                f"the selector {selector.prettify()} may select series recorded by the given files "
                f"({', '.join(could[:3])}); name the metric so the backtest can compute it"
            )
        return None

    def _render(self, tree: promql.Expr, frame: int, reader: Rule, stack: tuple[str, ...]) -> str:
        """``tree`` as text in ``frame`` (ms): selectors shifted, recorded series computed, exact durations."""
        holes: list[str] = []

        def hole(text: str) -> promql.Expr:
            holes.append(text)
            return promql.parse(f"{_HOLE}{len(holes) - 1}")

        def replace(node: object) -> promql.Expr | None:
            if isinstance(node, promql.VectorSelector) and (node.name or "").startswith(_HOLE):
                return None
            if isinstance(node, promql.Call):
                return self._call(node, frame, reader, stack, hole)
            if isinstance(node, promql.SubqueryExpr):
                return hole(self._subquery(node, frame, reader, stack))
            if isinstance(node, promql.MatrixSelector | promql.VectorSelector):
                selector = _inner(node)
                if self._name(selector) is not None:
                    return hole(self._recorded_selector(node, frame, reader, stack))
                return hole(self._stored_selector(node, frame))
            return None

        text = str(promql.transform(tree, pre_visit=replace).prettify())
        return re.sub(rf"{_HOLE}(\d+)", lambda match: holes[int(match.group(1))], text)

    def _call(
        self,
        node: promql.Call,
        frame: int,
        reader: Rule,
        stack: tuple[str, ...],
        hole: Callable[[str], promql.Expr],
    ) -> promql.Expr | None:
        name = node.func.name
        if name in _ABSENT and node.args:
            argument = node.args[0]
            if isinstance(argument, promql.MatrixSelector | promql.VectorSelector):
                inner = _inner(argument)
                if self._name(inner) is not None:
                    text = f"{name}({self._recorded_selector(argument, frame, reader, stack)})"
                    equal = [m for m in inner.matchers.matchers if m.op == promql.MatchOp.Equal]
                    names = [m.name for m in equal]
                    for matcher in equal:
                        if matcher.name != "__name__" and names.count(matcher.name) == 1:
                            text = _set_label(text, matcher.name, matcher.value)
                    return hole(text)
        if name == "timestamp" and node.args:
            argument = node.args[0]
            if isinstance(argument, promql.VectorSelector) and self._name(argument) is not None:
                raise ExpansionUnsupported(
                    f"{node.prettify()}: the timestamps of a recorded series are when Prometheus recorded it, "
                    "which the backtest computes but does not store"
                )
        if not frame:
            return None
        shifted = f"time() + {frame / 1000:.3f}"
        if name == "time":
            return hole(f"({shifted})")
        if name in _CLOCK_FUNCTIONS and not node.args:
            return hole(f"{name}(vector({shifted}))")
        if name == "timestamp" and node.args and not isinstance(node.args[0], promql.VectorSelector):
            # the timestamp of a computed sample is the evaluation time, which this frame shifts
            return hole(f"(timestamp({self._render(node.args[0], frame, reader, stack)}) + {frame / 1000:.3f})")
        return None

    def _subquery(self, node: promql.SubqueryExpr, frame: int, reader: Rule, stack: tuple[str, ...]) -> str:
        """A subquery written in a rule: steps on multiples of its step, as Prometheus takes them."""
        inner = self._render(node.expr, 0, reader, stack)
        step = _duration(_ms(node.step)) if node.step else ""
        window = f"({inner})[{_duration(_ms(node.range))}:{step}]"
        written = _written_offset(node, window)
        if node.at is not None:
            if node.at.type != promql.AtModifierType.At or node.at.at is None:
                raise ExpansionUnsupported(f"the subquery {window}: `@ start()` and `@ end()` are not replayed")
            return f"{window} @ {node.at.at.timestamp():.3f}{_offset(written)}"
        return f"{window}{_offset(written - frame)}"

    def _stored_selector(self, node: promql.MatrixSelector | promql.VectorSelector, frame: int) -> str:
        """A selector of stored series, reading what it read at the instant ``frame`` stands for."""
        selector = _inner(node)
        text = _series_text(selector)
        if isinstance(node, promql.MatrixSelector):
            text += f"[{_duration(_ms(node.range))}]"
        written = _written_offset(selector, text)
        at = _at(selector)
        if at is not None:
            return f"{text}{at}{_offset(written)}"
        return f"{text}{_offset(written - frame)}"

    def _recorded_selector(
        self, node: promql.MatrixSelector | promql.VectorSelector, frame: int, reader: Rule, stack: tuple[str, ...]
    ) -> str:
        """The samples Prometheus recorded for ``node``'s series, computed at its group's instants."""
        selector = _inner(node)
        name = self._name(selector)
        assert name is not None
        rules = self._rules[name]
        written = _written_offset(selector, selector.prettify())
        at = _at(selector)

        def recorded(rule: RecordingRule) -> str:
            series = self._recorded(rule, stack)
            for matcher in selector.matchers.matchers:
                if matcher.name != "__name__":
                    series = _filter(series, matcher)
            return series

        def placement(rule: RecordingRule) -> tuple[int, int]:
            """(the subquery's offset, ms cut from the window's end): its steps, in ``rule``'s frame,
            are the instants Prometheus recorded at within the selector's window."""
            if at is not None:
                return written + self._phase(rule), 0
            # Prometheus evaluates a group's rules in order: at the same instant, the output of a
            # later rule is not there yet and the reader sees its previous evaluation.
            later = (rule.file, rule.group) == (reader.file, reader.group) and rule.position > reader.position
            cut = 1 if later and not written else 0
            return written + self._phase(rule) - frame + cut, cut

        if isinstance(node, promql.MatrixSelector):
            if len({(rule.file, rule.group) for rule in rules}) > 1:
                raise ExpansionUnsupported(
                    f"the range {node.prettify()} reads {name}, recorded by rules of different groups "
                    "(evaluated at different instants): the backtest cannot take them as one series"
                )
            offset, cut = placement(rules[0])
            series = " or ".join(f"({recorded(rule)})" for rule in rules) if len(rules) > 1 else recorded(rules[0])
            window = f"[{_duration(_ms(node.range) - cut)}:{_duration(round(rules[0].interval * 1000))}]"
            return f"({series}){window}{at or ''}{_offset(offset)}"
        pieces = []
        for rule in rules:
            offset, _ = placement(rule)
            interval = round(rule.interval * 1000)
            window = f"[{_duration(min(interval, self._lookback_ms))}:{_duration(interval)}]"
            pieces.append(f"last_over_time(({recorded(rule)}){window}{at or ''}{_offset(offset)})")
        return pieces[0] if len(pieces) == 1 else "(" + " or ".join(pieces) + ")"

    def _runs_as_written(self, rule: RecordingRule, seen: frozenset[str] = frozenset()) -> bool:
        """Prometheus runs ``rule`` as written, and every recording it reads likewise."""
        key = running_key(rule.file, rule.group, rule.interval, rule.record, rule.expr, rule.labels)
        if key not in self._as_running:
            reads: set[str] = set()

            def visit(node: object) -> None:
                if isinstance(node, promql.VectorSelector) and (name := self._name(node)) is not None:
                    reads.add(name)

            promql.walk(promql.parse(rule.expr), visit)
            self._as_running[key] = (
                key in self._running
                and not reads & (seen | {rule.record})
                and all(self._runs_as_written(r, seen | {rule.record}) for name in reads for r in self._rules[name])
            )
        return self._as_running[key]

    def _recorded(self, rule: RecordingRule, stack: tuple[str, ...]) -> str:
        """What ``rule`` records at each evaluation, in the frame of its group: its expression, named and labelled.

        A rule Prometheus runs as written (``_runs_as_written``) is read where Prometheus recorded
        it, at the same instant: that is what the rule computed then, including what it saw of
        scrapes still being written. Computed where Prometheus recorded nothing of it then.
        """
        if rule.record in stack:
            cycle = " -> ".join((*stack, rule.record))
            raise ExpansionUnsupported(f"recording rules read each other in a cycle: {cycle}")
        key = (rule.file, rule.group, rule.position, rule.record, rule.expr, tuple(sorted(rule.labels.items())))
        if key not in self._recorded_text:
            tree = promql.parse(rule.expr)
            phase = self._phase(rule)
            text = self._render(tree, phase, rule, (*stack, rule.record))
            if _is_scalar(tree):
                text = f"vector({text})"
            text = _set_label(text, "__name__", rule.record)
            for label, value in sorted(rule.labels.items()):
                text = _set_label(text, label, value)
            if self._runs_as_written(rule):
                matchers = ",".join(f"{name}={_string(value)}" for name, value in sorted(rule.labels.items()))
                stored = f"last_over_time({rule.record}{{{matchers}}}[1ms]{_offset(-phase)})"
                text = f"{stored} or ({text} unless on () {stored})"
            self._recorded_text[key] = text
        return self._recorded_text[key]


def _matches(matcher: promql.Matcher, value: str) -> bool:
    op = matcher.op
    if op == promql.MatchOp.Equal:
        return value == matcher.value
    if op == promql.MatchOp.NotEqual:
        return value != matcher.value
    full = re.fullmatch(matcher.value, value) is not None
    return full if op == promql.MatchOp.Re else not full
