"""The labels an alert leaves Prometheus with: external labels added, ``alert_relabel_configs`` applied.

Prometheus's notifier adds each external label the alert does not have, then relabels. The
actions ``replace``, ``keep``, ``drop``, ``labeldrop``, ``labelkeep``, ``labelmap``,
``lowercase`` and ``uppercase`` are applied as Prometheus 2.42 applies them (regular
expressions anchored); any other action is refused with ``RelabelUnsupported``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ops.rules.evaluation import Labels


class RelabelUnsupported(ValueError):
    """A relabel action the backtest does not apply."""


@dataclass(frozen=True)
class RelabelConfig:
    action: str
    source_labels: tuple[str, ...]
    separator: str
    regex: re.Pattern[str]
    target_label: str
    replacement: str

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> RelabelConfig:
        action = str(raw.get("action", "replace")).lower()
        if action not in {"replace", "keep", "drop", "labeldrop", "labelkeep", "labelmap", "lowercase", "uppercase"}:
            raise RelabelUnsupported(f"alert_relabel_configs action {action!r} is not simulated")
        try:
            regex = re.compile(f"^(?:{raw.get('regex', '(.*)')})$", re.S)
        except re.error as exc:
            raise RelabelUnsupported(f"alert_relabel_configs regex {raw.get('regex')!r}: {exc}") from None
        return cls(
            action=action,
            source_labels=tuple(str(s) for s in raw.get("source_labels") or ()),
            separator=str(raw.get("separator", ";")),
            regex=regex,
            target_label=str(raw.get("target_label", "")),
            replacement=str(raw.get("replacement", "$1")),
        )


def _expand(template: str, match: re.Match[str]) -> str:
    def group(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        try:
            return match.group(int(name) if name.isdigit() else name) or ""
        except IndexError:
            return ""

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", group, template)


def relabel(labels: dict[str, str], configs: Sequence[RelabelConfig]) -> dict[str, str] | None:
    """``labels`` relabelled; None when a ``keep``/``drop`` drops the alert."""
    for config in configs:
        value = config.separator.join(labels.get(name, "") for name in config.source_labels)
        if config.action == "keep" and not config.regex.match(value):
            return None
        if config.action == "drop" and config.regex.match(value):
            return None
        if config.action == "replace":
            match = config.regex.match(value)
            if match:
                target = _expand(config.target_label, match)
                result = _expand(config.replacement, match)
                if re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", target):
                    if result:
                        labels[target] = result
                    else:
                        labels.pop(target, None)
        elif config.action in ("lowercase", "uppercase"):
            labels[config.target_label] = value.lower() if config.action == "lowercase" else value.upper()
        elif config.action == "labeldrop":
            labels = {k: v for k, v in labels.items() if not config.regex.match(k)}
        elif config.action == "labelkeep":
            labels = {k: v for k, v in labels.items() if config.regex.match(k)}
        elif config.action == "labelmap":
            for name, label_value in list(labels.items()):
                match = config.regex.match(name)
                if match:
                    labels[_expand(config.replacement, match)] = label_value
    return labels


@dataclass(frozen=True)
class AlertLabeller:
    """External labels and alert relabelling of one Prometheus."""

    external_labels: Mapping[str, str]
    configs: tuple[RelabelConfig, ...]

    @classmethod
    def from_setup(cls, external_labels: Mapping[str, str], configs: Sequence[Mapping[str, Any]]) -> AlertLabeller:
        return cls(dict(external_labels), tuple(RelabelConfig.from_mapping(c) for c in configs))

    def __call__(self, labels: Labels) -> Labels | None:
        out = dict(labels)
        for name, value in self.external_labels.items():
            out.setdefault(name, value)
        relabelled = relabel(out, self.configs)
        return None if relabelled is None else tuple(sorted((k, v) for k, v in relabelled.items() if v))
