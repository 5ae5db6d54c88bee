"""Prometheus rule files as typed rules: groups, recording and alerting rules, parsed expressions.

Every problem names the file, the line, the group and the rule: a YAML error, an unknown key,
a PromQL expression that does not parse (an unknown function included), a bad duration, label
name or template. ``promtool check rules`` accepts what this accepts, and the other way round
for everything the shipped rules use.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import promql_parser

from monitoring.config_files import ConfigFileError, YamlDocument, read_yaml
from monitoring.settings import ConfigError
from ops.rules.durations import DurationInvalid, parse_duration
from ops.rules.templating import Template, TemplateInvalid, TemplateUnsupported

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_GROUP_KEYS = {"name", "interval", "rules", "limit"}  # Prometheus 2.42's rule group fields
_RULE_KEYS = {"record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations"}


class RuleFileInvalid(ConfigError):
    """A rule file that Prometheus would refuse (or the backtest cannot evaluate exactly)."""


@dataclass(frozen=True)
class RecordingRule:
    record: str
    expr: str
    labels: Mapping[str, str]
    group: str
    interval: float
    file: Path
    position: int  # its place among all rules of its group: Prometheus evaluates them in this order


@dataclass(frozen=True)
class AlertingRule:
    alert: str
    expr: str
    for_seconds: float
    keep_firing_for: float
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    group: str
    interval: float
    file: Path
    position: int  # its place among all rules of its group: Prometheus evaluates them in this order
    label_templates: Mapping[str, Template] = field(compare=False, repr=False, default_factory=dict)
    annotation_templates: Mapping[str, Template] = field(compare=False, repr=False, default_factory=dict)

    @property
    def key(self) -> str:
        """How a person tells the rule apart: its name and the static labels that distinguish it."""
        static = {k: v for k, v in self.labels.items() if self.label_templates[k].is_static and k == "priority"}
        return self.alert + "".join(f"{{{k}={v}}}" for k, v in sorted(static.items()))

    @property
    def where(self) -> str:
        return f"{self.file}: group {self.group!r}, alert {self.alert!r}"


@dataclass(frozen=True)
class RuleGroup:
    name: str
    file: Path
    interval: float
    recording: tuple[RecordingRule, ...]
    alerting: tuple[AlertingRule, ...]


@dataclass(frozen=True)
class RuleSet:
    groups: tuple[RuleGroup, ...]

    @property
    def alerting(self) -> tuple[AlertingRule, ...]:
        return tuple(rule for group in self.groups for rule in group.alerting)

    @property
    def recording(self) -> tuple[RecordingRule, ...]:
        return tuple(rule for group in self.groups for rule in group.recording)


def load_rule_files(paths: Sequence[Path], default_interval: float = 60.0) -> RuleSet:
    """Every group of ``paths``; groups without ``interval`` use ``default_interval`` (Prometheus's
    ``evaluation_interval``, 1m when unset)."""
    groups: list[RuleGroup] = []
    seen: set[tuple[Path, str]] = set()
    for path in paths:
        document = read_yaml(path, "rule file")
        for group in _groups(document, default_interval):
            if (path, group.name) in seen:
                raise RuleFileInvalid(f"{path}: group {group.name!r} is defined more than once")
            seen.add((path, group.name))
            groups.append(group)
    return RuleSet(tuple(groups))


def rule_set_from_mapping(files: Mapping[str, Sequence[Mapping[str, object]]], default_interval: float) -> RuleSet:
    """Rule groups in a rule file's shape, per file name (e.g. what ``/api/v1/rules`` reports)."""
    groups: list[RuleGroup] = []
    for source, file_groups in files.items():
        document = YamlDocument(Path(source), {"groups": list(file_groups)}, {})
        groups += _groups(document, default_interval)
    return RuleSet(tuple(groups))


def _groups(document: YamlDocument, default_interval: float) -> list[RuleGroup]:
    path = document.path
    root = document.value
    if root is None:
        return []
    if not isinstance(root, dict) or set(root) - {"groups"}:
        raise document.error((), "invalid rule file: expected a mapping with the single key `groups`")
    raw_groups = root.get("groups") or []
    if not isinstance(raw_groups, list):
        raise document.error(("groups",), "invalid rule file: `groups` must be a list")
    out = []
    names: set[str] = set()
    for g, raw in enumerate(raw_groups):
        at: tuple[str | int, ...] = ("groups", g)
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"]:
            raise document.error(at, "invalid rule group: expected a mapping with a `name`")
        name = raw["name"]
        if name in names:
            raise document.error((*at, "name"), f"group {name!r}: defined more than once in this file")
        names.add(name)
        unknown = set(raw) - _GROUP_KEYS
        if unknown:
            raise document.error((*at, sorted(unknown)[0]), f"group {name!r}: unknown keys {sorted(unknown)}")
        interval = default_interval
        if raw.get("interval") is not None:
            try:
                interval = parse_duration(raw["interval"])
            except DurationInvalid as exc:
                raise document.error((*at, "interval"), f"group {name!r}: interval: {exc}") from None
            if interval <= 0:
                raise document.error((*at, "interval"), f"group {name!r}: interval must be positive")
        rules = raw.get("rules") or []
        if not isinstance(rules, list):
            raise document.error((*at, "rules"), f"group {name!r}: `rules` must be a list")
        recording: list[RecordingRule] = []
        alerting: list[AlertingRule] = []
        for r, rule in enumerate(rules):
            parsed = _rule(document, (*at, "rules", r), name, interval, rule, r)
            if isinstance(parsed, RecordingRule):
                recording.append(parsed)
            else:
                alerting.append(parsed)
        out.append(RuleGroup(name, path, interval, tuple(recording), tuple(alerting)))
    return out


def _rule(
    document: YamlDocument, at: tuple[str | int, ...], group: str, interval: float, raw: object, position: int
) -> RecordingRule | AlertingRule:
    if not isinstance(raw, dict):
        raise document.error(at, f"group {group!r}, rule {at[-1]}: expected a mapping")
    is_alert = "alert" in raw
    name = raw.get("alert" if is_alert else "record")
    kind = "alert" if is_alert else "record"
    where = f"group {group!r}, {kind} {name!r}"

    def fail(key: str | None, reason: str) -> ConfigFileError:
        return document.error((*at, key) if key else at, f"{where}: {reason}")

    if is_alert == ("record" in raw):
        raise fail(None, "a rule needs exactly one of `alert` and `record`")
    if not isinstance(name, str) or not name:
        raise fail(kind, f"`{kind}` must be a non-empty string")
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise fail(sorted(unknown)[0], f"unknown keys {sorted(unknown)}")
    if not is_alert and not _METRIC_NAME.fullmatch(name):
        raise fail("record", f"invalid metric name {name!r}")
    expr = raw.get("expr")
    if not isinstance(expr, str | int | float) or isinstance(expr, bool) or str(expr).strip() == "":
        raise fail("expr", "`expr` must be a PromQL expression")
    expr = str(expr)
    try:
        parsed = promql_parser.parse(expr)
    except ValueError as exc:
        raise fail("expr", f"PromQL: {exc}") from None
    if isinstance(parsed, promql_parser.MatrixSelector | promql_parser.SubqueryExpr | promql_parser.StringLiteral):
        raise fail("expr", "PromQL: a rule's expression must be an instant vector or a scalar")
    labels = _string_map(raw.get("labels"), fail, "labels")
    for label in labels:
        if not _LABEL_NAME.fullmatch(label) or label.startswith("__"):
            raise fail("labels", f"invalid label name {label!r}")
    if not is_alert:
        for key in ("for", "keep_firing_for", "annotations"):
            if key in raw:
                raise fail(key, f"`{key}` is only for alerting rules")
        return RecordingRule(name, expr, labels, group, interval, document.path, position)
    if "alertname" in labels:
        raise fail("labels", "`alertname` cannot be set by labels")
    durations = {}
    for key in ("for", "keep_firing_for"):
        try:
            durations[key] = parse_duration(raw[key]) if raw.get(key) is not None else 0.0
        except DurationInvalid as exc:
            raise fail(key, f"{key}: {exc}") from None
    annotations = _string_map(raw.get("annotations"), fail, "annotations")
    templates: dict[str, dict[str, Template]] = {"labels": {}, "annotations": {}}
    for section, values in (("labels", labels), ("annotations", annotations)):
        for key, text in values.items():
            try:
                templates[section][key] = Template.parse(text)
            except TemplateUnsupported as exc:
                if section == "labels":  # a label the backtest cannot compute would change the alert's identity
                    raise fail(section, f"template of label {key!r}: {exc}") from None
                templates[section][key] = Template((text,))  # shown as written
            except TemplateInvalid as exc:
                raise fail(section, f"template of {section[:-1]} {key!r}: {exc}") from None
    return AlertingRule(
        alert=name,
        expr=expr,
        for_seconds=durations["for"],
        keep_firing_for=durations["keep_firing_for"],
        labels=labels,
        annotations=annotations,
        group=group,
        interval=interval,
        file=document.path,
        position=position,
        label_templates=templates["labels"],
        annotation_templates=templates["annotations"],
    )


def _string_map(raw: object, fail: Callable[[str | None, str], ConfigFileError], key: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise fail(key, f"`{key}` must be a mapping of strings")
    return {str(k): "" if v is None else str(v) for k, v in raw.items()}
