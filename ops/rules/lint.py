"""`monitoring rules lint`: the house rules every shipped alert follows, for anyone's rule files.

Each alerting rule must have:

- a ``priority`` label, one of critical, high, medium, low (what Alertmanager and the
  receiver route on);
- ``summary`` and ``description`` annotations (the page's title and body);
- a ``runbook_url`` annotation that is an absolute http(s) URL (a link works from a phone), as
  Prometheus renders it: with the ``external_labels`` of its configuration, since the shipped
  rules say ``{{ $externalLabels.runbook_base }}/runbooks/<alert>`` (``--prometheus-config``,
  default the ``prometheus.yml`` beside the rules' folder);
- a ``promtool test rules`` case expecting it to fire with its priority: an
  ``alert_rule_test`` with its ``alertname`` and an expected alert of that ``priority``, in a
  test file whose ``rule_files`` include the rule's file. Test files are the ``--tests``
  given, else every ``*.test.yml``/``*.test.yaml`` beside the rule file and in ``../tests/``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from ops.rules.rule_files import AlertingRule, load_rule_files
from ops.rules.templating import TemplateData, TemplateInvalid, TemplateUnsupported

PRIORITIES = ("critical", "high", "medium", "low")


@dataclass(frozen=True)
class Finding:
    file: Path
    group: str
    alert: str
    priority: str
    message: str

    def __str__(self) -> str:
        priority = self.priority or "no priority"
        return f"{self.file}: group {self.group!r}, alert {self.alert!r} ({priority}): {self.message}"


def test_files_for(rule_files: Sequence[Path]) -> list[Path]:
    found: set[Path] = set()
    for path in rule_files:
        for folder in (path.parent, path.parent.parent / "tests"):
            for pattern in ("*.test.yml", "*.test.yaml"):
                found.update(folder.glob(pattern))
    return sorted(found)


def tested_alerts(test_files: Sequence[Path]) -> set[tuple[Path, str, str]]:
    """(rule file, alertname, priority) of every alert a promtool test expects to fire."""
    out: set[tuple[Path, str, str]] = set()
    for test_file in test_files:
        try:
            document = yaml.safe_load(test_file.read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue  # not a test file we can read: it covers nothing
        if not isinstance(document, dict):
            continue
        rule_files = [(test_file.parent / str(f)).resolve() for f in document.get("rule_files") or []]
        for case in document.get("tests") or []:
            for check in (case or {}).get("alert_rule_test") or []:
                name = str((check or {}).get("alertname", ""))
                for expected in (check or {}).get("exp_alerts") or []:
                    priority = str(((expected or {}).get("exp_labels") or {}).get("priority", ""))
                    out.update((rule_file, name, priority) for rule_file in rule_files)
    return out


def _absolute_url(text: str) -> bool:
    parts = urlsplit(text)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def external_labels_of(prometheus_config: Path | None) -> dict[str, str]:
    """The ``global.external_labels`` of a Prometheus configuration file (none without one)."""
    if prometheus_config is None:
        return {}
    document = yaml.safe_load(prometheus_config.read_text(encoding="utf-8")) or {}
    labels = (document.get("global") or {}).get("external_labels") or {}
    return {str(k): str(v) for k, v in labels.items()}


def default_prometheus_config(rule_files: Sequence[Path]) -> Path | None:
    """``prometheus.yml`` beside the first rule file's folder (prometheus/rules/ -> prometheus/), if any."""
    for path in rule_files:
        candidate = path.resolve().parent.parent / "prometheus.yml"
        if candidate.is_file():
            return candidate
    return None


def rendered_runbook(rule: AlertingRule, external_labels: Mapping[str, str]) -> str:
    """The rule's runbook_url as Prometheus renders it (the raw text where rendering is not possible)."""
    raw = rule.annotations.get("runbook_url", "").strip()
    template = rule.annotation_templates.get("runbook_url")
    if template is None:
        return raw
    try:
        return template.render(TemplateData(labels=rule.labels, value=0.0, external_labels=external_labels)).strip()
    except (TemplateInvalid, TemplateUnsupported, KeyError, ValueError):
        return raw


def check(
    rule: AlertingRule, tested: set[tuple[Path, str, str]], external_labels: Mapping[str, str] | None = None
) -> list[str]:
    problems = []
    priority = rule.labels.get("priority", "")
    if priority not in PRIORITIES:
        got = f"{priority!r}" if priority else "none"
        problems.append(f"label priority must be one of {', '.join(PRIORITIES)} (got {got})")
    for name in ("summary", "description"):
        if not rule.annotations.get(name, "").strip():
            problems.append(f"annotation {name} is missing")
    runbook = rendered_runbook(rule, external_labels or {})
    if not runbook:
        problems.append("annotation runbook_url is missing")
    elif not _absolute_url(runbook):
        problems.append(f"annotation runbook_url must be an absolute http(s) URL (got {runbook!r})")
    if (rule.file.resolve(), rule.alert, priority) not in tested:
        problems.append(f"no promtool test expects {rule.alert} to fire with priority {priority or '(none)'}")
    return problems


def lint(
    rule_files: Sequence[Path], test_files: Sequence[Path] | None = None, prometheus_config: Path | None = None
) -> list[Finding]:
    """Every house-rule violation in ``rule_files`` (raises ``ConfigError`` for a file that does not parse).
    ``prometheus_config`` gives the external labels the annotations are rendered with (default: found
    beside the rules)."""
    rules = load_rule_files(rule_files)
    tested = tested_alerts(test_files if test_files is not None else test_files_for(rule_files))
    labels = external_labels_of(prometheus_config or default_prometheus_config(rule_files))
    return [
        Finding(rule.file, rule.group, rule.alert, rule.labels.get("priority", ""), message)
        for rule in rules.alerting
        for message in check(rule, tested, labels)
    ]
