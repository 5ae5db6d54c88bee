"""YAML configuration files that remember where each value came from.

The loaders of rules, routing, expectations, queries and health checks read their file with
``read_yaml``; a problem found later (a msgspec validation error names a path such as
``$.queries[2].interval``, a loader's own check names an index) is reported with
``ConfigFileError`` as ``<file>:<line>: <reason>`` at start-up, as ``monitoring.settings``
does for the main configuration file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import yaml

from monitoring.settings import ConfigError

PathKey = tuple[str | int, ...]
_PATH_PART = re.compile(r"\.([^.\[`]+)|\[(\d+)\]")
_AT = re.compile(r" - at `(\$[^`]*)`$")
_UNKNOWN = re.compile(r"unknown field `([^`]*)`")


class ConfigFileError(ConfigError):
    """A configuration file is unusable; the message is ``<file>:<line>: <what>: <reason>``."""

    def __init__(self, path: Path, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class YamlDocument:
    """A parsed YAML document and the line (1-based) of every mapping value and list item."""

    path: Path
    value: Any
    lines: dict[PathKey, int]

    def line(self, at: PathKey) -> int:
        """The line of ``at`` or of its closest ancestor present in the file (1 for the document)."""
        for end in range(len(at), -1, -1):
            line = self.lines.get(at[:end])
            if line is not None:
                return line
        return 1

    def error(self, at: PathKey, reason: str) -> ConfigFileError:
        return ConfigFileError(self.path, self.line(at), reason)

    def validation_error(self, exc: msgspec.ValidationError, what: str) -> ConfigFileError:
        """A msgspec error (``... - at `$.a[0].b```) as ``<file>:<line of $.a[0].b>: <what>: ...``."""
        message = str(exc)
        match = _AT.search(message)
        at = parse_path(match.group(1)) if match else ()
        unknown = _UNKNOWN.search(message)
        if unknown:  # the unknown key's own line, not its mapping's
            at = (*at, unknown.group(1))
        return self.error(at, f"invalid {what}: {message}")


def parse_path(text: str) -> PathKey:
    """``$.queries[2].interval`` -> ("queries", 2, "interval")."""
    return tuple(int(index) if index else name for name, index in _PATH_PART.findall(text))


def read_yaml(path: Path, what: str) -> YamlDocument:
    """Parse ``path``; unreadable files and YAML syntax errors fail naming the file, line and reason."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc.strerror or type(exc).__name__}") from exc
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise ConfigFileError(path, line, f"invalid {what}: the file is not UTF-8") from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        value = None if node is None else loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise ConfigFileError(path, line, f"invalid {what}: invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigFileError(path, 1, f"invalid {what}: invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    lines: dict[PathKey, int] = {}
    if node is not None:
        _index(node, (), lines)
    return YamlDocument(path, value, lines)


def _index(node: yaml.Node, at: PathKey, lines: dict[PathKey, int]) -> None:
    lines[at] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                _index(value_node, (*at, str(key_node.value)), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index(item, (*at, index), lines)
