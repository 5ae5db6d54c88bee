"""An Alertmanager 0.25 configuration file as the routing tree, inhibit rules and receivers it defines.

Only what decides who is notified and when is read: ``route`` (``receiver``, ``matchers`` /
``match`` / ``match_re``, ``continue``, ``group_by`` with ``...``, ``group_wait``,
``group_interval``, ``repeat_interval``, children inheriting them), ``inhibit_rules`` and the
integrations of each receiver (with their ``send_resolved`` defaults). Time intervals
(``mute_time_intervals``, ``active_time_intervals``) are reported in ``warnings`` and not
applied. Matchers use Alertmanager's syntax (``name="value"``, ``=~``, ``!=``, ``!~``,
unquoted values, ``{a="b",c=~"d"}``); regular expressions are anchored as Alertmanager anchors them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from monitoring.config_files import YamlDocument, read_yaml
from ops.rules.durations import DurationInvalid, parse_duration

_MATCHER = re.compile(r"\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$", re.S)
# send_resolved when the integration does not say (Alertmanager 0.25's defaults)
_SEND_RESOLVED = {"email": False, "slack": False, "wechat": False, "telegram": True}
DEFAULT_GROUP_WAIT, DEFAULT_GROUP_INTERVAL, DEFAULT_REPEAT_INTERVAL = 30.0, 300.0, 14400.0


class AlertmanagerConfigInvalid(ValueError):
    """Raised with the file and line (via ``ConfigFileError``) by ``load_alertmanager_config``."""


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str  # = != =~ !~
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.name, "")
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        found = re.fullmatch(self.value, value, re.S) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        return f'{self.name}{self.op}"{self.value}"'


def matches_all(matchers: tuple[Matcher, ...], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


def parse_matchers(text: str) -> tuple[Matcher, ...]:
    """``a="b"``, ``{a="b", c=~"d|e"}`` or ``a=b`` as matchers (``AlertmanagerConfigInvalid`` if not)."""
    body = text.strip()
    if body.startswith("{") and body.endswith("}"):
        body = body[1:-1]
    parts: list[str] = []
    current, quoted, escaped = "", False, False
    for char in body:
        if escaped:
            current, escaped = current + char, False
            continue
        if char == "\\" and quoted:
            current, escaped = current + char, True
            continue
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append(current)
            current = ""
            continue
        current += char
    if quoted:
        raise AlertmanagerConfigInvalid(f"matcher {text!r}: unterminated quote")
    if current.strip() or not parts:
        parts.append(current)
    out = []
    for part in parts:
        match = _MATCHER.fullmatch(part)
        if match is None:
            raise AlertmanagerConfigInvalid(f'bad matcher {part.strip()!r}: expected name="value", =~, != or !~')
        name, op, value = match.groups()
        if value.startswith('"'):
            if len(value) < 2 or not value.endswith('"'):
                raise AlertmanagerConfigInvalid(f"matcher {part.strip()!r}: unterminated quote")
            value = re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), value[1:-1])
        if op in ("=~", "!~"):
            try:
                re.compile(value)
            except re.error as exc:
                raise AlertmanagerConfigInvalid(f"matcher {part.strip()!r}: bad regular expression: {exc}") from None
        out.append(Matcher(name, op, value))
    return tuple(out)


@dataclass(frozen=True)
class Route:
    path: str  # "0.2.1": the position in the tree, Alertmanager's route key in short
    receiver: str
    matchers: tuple[Matcher, ...]
    group_by: tuple[str, ...] | None  # None: `...`, every label
    group_wait: float
    group_interval: float
    repeat_interval: float
    continue_: bool
    routes: tuple[Route, ...]

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        """The routes an alert goes to (Alertmanager's ``Route.Match``: depth first, ``continue``)."""
        if not matches_all(self.matchers, labels):
            return []
        found: list[Route] = []
        for child in self.routes:
            matched = child.match(labels)
            found += matched
            if matched and not child.continue_:
                break
        return found or [self]

    def group_labels(self, labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
        if self.group_by is None:
            return tuple(sorted(labels.items()))
        return tuple(sorted((name, labels[name]) for name in self.group_by if labels.get(name)))


@dataclass(frozen=True)
class InhibitRule:
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]


@dataclass(frozen=True)
class Integration:
    kind: str  # webhook, pagerduty, email, slack ...
    send_resolved: bool


@dataclass(frozen=True)
class AlertmanagerConfig:
    route: Route
    inhibit_rules: tuple[InhibitRule, ...]
    receivers: Mapping[str, tuple[Integration, ...]]
    warnings: tuple[str, ...]


def load_alertmanager_config(path: Path) -> AlertmanagerConfig:
    """``path`` parsed; every problem is a ``ConfigFileError`` naming the file and line."""
    document = read_yaml(path, "Alertmanager configuration")
    try:
        return _config(document)
    except _Invalid as exc:
        raise document.error(exc.at, f"invalid Alertmanager configuration: {exc}") from None


class _Invalid(AlertmanagerConfigInvalid):
    def __init__(self, at: tuple[str | int, ...], reason: str) -> None:
        super().__init__(reason)
        self.at = at


def _config(document: YamlDocument) -> AlertmanagerConfig:
    root = document.value
    if not isinstance(root, dict) or not isinstance(root.get("route"), dict):
        raise _Invalid((), "expected a mapping with a `route`")
    receivers: dict[str, tuple[Integration, ...]] = {}
    for index, receiver in enumerate(root.get("receivers") or []):
        if not isinstance(receiver, dict) or not isinstance(receiver.get("name"), str):
            raise _Invalid(("receivers", index), "a receiver needs a `name`")
        integrations = []
        for key, configs in receiver.items():
            if key.endswith("_configs") and isinstance(configs, list):
                kind = key.removesuffix("_configs")
                for config in configs:
                    default = _SEND_RESOLVED.get(kind, True)
                    send = config.get("send_resolved", default) if isinstance(config, dict) else default
                    integrations.append(Integration(kind, bool(send)))
        receivers[receiver["name"]] = tuple(integrations)
    warnings: list[str] = []
    route = _route(root["route"], ("route",), None, "0", receivers, warnings)
    if route.matchers:
        raise _Invalid(("route",), "the root route must not have matchers")
    inhibit = []
    for index, rule in enumerate(root.get("inhibit_rules") or []):
        at: tuple[str | int, ...] = ("inhibit_rules", index)
        if not isinstance(rule, dict):
            raise _Invalid(at, "an inhibit rule is a mapping")
        equal = rule.get("equal") or []
        if not isinstance(equal, list):
            raise _Invalid((*at, "equal"), "`equal` is a list of label names")
        inhibit.append(
            InhibitRule(
                _all_matchers(rule, at, "source_"), _all_matchers(rule, at, "target_"), tuple(str(e) for e in equal)
            )
        )
    return AlertmanagerConfig(route, tuple(inhibit), receivers, tuple(warnings))


def _all_matchers(raw: Mapping[str, object], at: tuple[str | int, ...], prefix: str) -> tuple[Matcher, ...]:
    out: list[Matcher] = []
    try:
        for name, value in _mapping(raw.get(f"{prefix}match"), (*at, f"{prefix}match")).items():
            out.append(Matcher(name, "=", value))
        for name, value in _mapping(raw.get(f"{prefix}match_re"), (*at, f"{prefix}match_re")).items():
            re.compile(value)
            out.append(Matcher(name, "=~", value))
        items = raw.get(f"{prefix}matchers") or []
        if not isinstance(items, list):
            raise _Invalid((*at, f"{prefix}matchers"), f"`{prefix}matchers` is a list")
        for item in items:
            out.extend(parse_matchers(str(item)))
    except re.error as exc:
        raise _Invalid((*at, f"{prefix}match_re"), f"bad regular expression: {exc}") from None
    except AlertmanagerConfigInvalid as exc:
        if isinstance(exc, _Invalid):
            raise
        raise _Invalid((*at, f"{prefix}matchers"), str(exc)) from None
    return tuple(out)


def _mapping(raw: object, at: tuple[str | int, ...]) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _Invalid(at, "expected a mapping of label: value")
    return {str(k): str(v) for k, v in raw.items()}


def _route(
    raw: object,
    at: tuple[str | int, ...],
    parent: Route | None,
    path: str,
    receivers: Mapping[str, object],
    warnings: list[str],
) -> Route:
    if not isinstance(raw, dict):
        raise _Invalid(at, "a route is a mapping")
    receiver = raw.get("receiver", parent.receiver if parent else None)
    if not isinstance(receiver, str):
        raise _Invalid(at, "the root route needs a `receiver`")
    if receiver not in receivers:
        raise _Invalid((*at, "receiver"), f"undefined receiver {receiver!r}")
    timings = {}
    defaults = {
        "group_wait": parent.group_wait if parent else DEFAULT_GROUP_WAIT,
        "group_interval": parent.group_interval if parent else DEFAULT_GROUP_INTERVAL,
        "repeat_interval": parent.repeat_interval if parent else DEFAULT_REPEAT_INTERVAL,
    }
    for key, default in defaults.items():
        try:
            timings[key] = parse_duration(raw[key]) if raw.get(key) is not None else default
        except DurationInvalid as exc:
            raise _Invalid((*at, key), f"{key}: {exc}") from None
    if timings["group_interval"] <= 0 or timings["repeat_interval"] <= 0:
        raise _Invalid(at, "group_interval and repeat_interval must be positive")
    group_by: tuple[str, ...] | None
    if "group_by" in raw:
        names = [str(n) for n in raw.get("group_by") or []]
        group_by = None if "..." in names else tuple(names)
        if group_by is None and len(names) > 1:
            raise _Invalid((*at, "group_by"), "`...` must be the only group_by entry")
    else:
        group_by = parent.group_by if parent else ()
    for key in ("mute_time_intervals", "active_time_intervals"):
        if raw.get(key):
            warnings.append(f"route {path} ({receiver}): {key} are not simulated; the route is taken as always active")
    matchers = _all_matchers(raw, at, "")
    children_raw = raw.get("routes") or []
    if not isinstance(children_raw, list):
        raise _Invalid((*at, "routes"), "`routes` is a list")
    node = Route(
        path,
        receiver,
        matchers,
        group_by,
        timings["group_wait"],
        timings["group_interval"],
        timings["repeat_interval"],
        bool(raw.get("continue", False)),
        (),
    )
    children = tuple(
        _route(child, (*at, "routes", i), node, f"{path}.{i}", receivers, warnings)
        for i, child in enumerate(children_raw)
    )
    return Route(**{**node.__dict__, "routes": children})
