"""The labels and annotations of an alert, rendered as Prometheus renders them (Go text/template).

Prometheus expands every label and annotation of an alerting rule at each evaluation with
``$labels``, ``$value``, ``$externalLabels`` and ``$externalURL`` (and their ``.Labels`` …
spellings). This module runs the part of Go's template language rules use: actions made of
pipelines of those variables, literals, and the functions below (Prometheus's humanizers,
``printf``, ``toUpper``, ``reReplaceAll`` …). Control structures (``if``, ``range``, ``with``)
and ``query`` are refused with ``TemplateUnsupported``, so a backtest never shows a label it
cannot compute exactly. A template is parsed once (``Template.parse``) and rendered per alert.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)
_TOKEN = re.compile(r'\s*(?:("(?:[^"\\]|\\.)*")|(`[^`]*`)|(\|)|([$.]?[A-Za-z_][\w.]*|\$|\.)|([-+]?[\d.][\w.+-]*)|(\S))')
_CONTROL = {"if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"}


class TemplateInvalid(ValueError):
    """A template that does not parse."""


class TemplateUnsupported(ValueError):
    """A template construct the backtest cannot render exactly (control structures, ``query``)."""


@dataclass(frozen=True)
class TemplateData:
    labels: Mapping[str, str]
    value: float
    external_labels: Mapping[str, str]
    external_url: str = ""


Value = str | float | Mapping[str, str]
Operand = Callable[[TemplateData], Value]


def _go_float(value: float) -> str:
    """Go's ``%v`` of a float64: shortest digits, exponent form below 1e-4 and from 1e21."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1, value) < 0 else "0"
    decimal = Decimal(repr(value))
    exponent = decimal.adjusted()
    if -4 <= exponent < 21:
        text = format(decimal, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    sign, digits, _ = decimal.as_tuple()
    mantissa = "".join(map(str, digits)).rstrip("0") or "0"
    body = mantissa[0] + ("." + mantissa[1:] if len(mantissa) > 1 else "")
    return f"{'-' if sign else ''}{body}e{'+' if exponent >= 0 else '-'}{abs(exponent):02d}"


def _g4(value: float) -> str:
    """Go's ``%.4g``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return "%.4g" % value  # noqa: UP031 - C-style %g is exactly Go's %g here


def _float(value: Value) -> float:
    if isinstance(value, float | int):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise TemplateInvalid(f"{value!r} is not a number") from None
    raise TemplateInvalid("a map is not a number")


def humanize(value: Value) -> str:
    v = _float(value)
    if v == 0 or math.isnan(v) or math.isinf(v):
        return _g4(v)
    prefix = ""
    if abs(v) >= 1:
        for p in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(v) < 1000:
                break
            prefix, v = p, v / 1000
        return f"{_g4(v)}{prefix}"
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix, v = p, v * 1000
    return f"{_g4(v)}{prefix}"


def humanize_1024(value: Value) -> str:
    v = _float(value)
    if abs(v) <= 1 or math.isnan(v) or math.isinf(v):
        return _g4(v)
    prefix = ""
    for p in ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"):
        if abs(v) < 1024:
            break
        prefix, v = p, v / 1024
    return f"{_g4(v)}{prefix}"


def humanize_duration(value: Value) -> str:
    v = _float(value)
    if math.isnan(v) or math.isinf(v):
        return _g4(v)
    if v == 0:
        return f"{_g4(v)}s"
    if abs(v) >= 1:
        sign = "-" if v < 0 else ""
        v = abs(v)
        whole = int(v)
        seconds, minutes, hours, days = whole % 60, (whole // 60) % 60, (whole // 3600) % 24, whole // 86400
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{_g4(v)}s"
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix, v = p, v * 1000
    return f"{_g4(v)}{prefix}s"


def humanize_percentage(value: Value) -> str:
    return f"{_g4(_float(value) * 100)}%"


def humanize_timestamp(value: Value) -> str:
    v = _float(value)
    if math.isnan(v) or math.isinf(v):
        return _g4(v)
    return datetime.fromtimestamp(v, UTC).strftime("%Y-%m-%d %H:%M:%S.%f").rstrip("0").rstrip(".") + " +0000 UTC"


def _printf(fmt: Value, *args: Value) -> str:
    converted = re.sub(r"%v", "%s", str(fmt))
    try:
        return converted % tuple(_go_float(a) if isinstance(a, float) and "%s" in converted else a for a in args)
    except (TypeError, ValueError) as exc:
        raise TemplateInvalid(f"printf {fmt!r}: {exc}") from None


def _re_replace_all(pattern: Value, replacement: Value, text: Value) -> str:
    go_replacement = re.sub(r"\$\{?(\w+)\}?", r"\\g<\1>", str(replacement))
    return re.sub(str(pattern), go_replacement, str(text))


def _title(value: Value) -> str:
    return re.sub(r"(^|\s)(\S)", lambda m: m.group(1) + m.group(2).upper(), str(value))


def _strip_port(value: Value) -> str:
    text = str(value)
    if text.startswith("["):
        return text[1 : text.index("]")] if "]" in text else text
    return text.rsplit(":", 1)[0] if text.count(":") == 1 else text


FUNCTIONS: dict[str, Callable[..., str]] = {
    "humanize": humanize,
    "humanize1024": humanize_1024,
    "humanizeDuration": humanize_duration,
    "humanizePercentage": humanize_percentage,
    "humanizeTimestamp": humanize_timestamp,
    "toUpper": lambda v: str(v).upper(),
    "toLower": lambda v: str(v).lower(),
    "title": _title,
    "printf": _printf,
    "reReplaceAll": _re_replace_all,
    "stripPort": _strip_port,
    "safeHtml": str,
    "index": lambda mapping, key: "" if not isinstance(mapping, Mapping) else str(mapping.get(str(key), "")),
}


def _variable(name: str) -> Operand:
    """``$labels.x``, ``.Value``, ``$externalLabels`` … as a function of the data."""
    head, _, field = name.lstrip("$.").partition(".")
    roots: dict[str, Callable[[TemplateData], Value]] = {
        "labels": lambda d: d.labels,
        "Labels": lambda d: d.labels,
        "value": lambda d: d.value,
        "Value": lambda d: d.value,
        "externalLabels": lambda d: d.external_labels,
        "ExternalLabels": lambda d: d.external_labels,
        "externalURL": lambda d: d.external_url,
        "ExternalURL": lambda d: d.external_url,
    }
    variable = name.startswith("$")
    if head not in roots or variable != head[0].islower():
        raise TemplateUnsupported(f"unknown variable {name}")
    root = roots[head]
    if not field:
        return root
    if "." in field:
        raise TemplateUnsupported(f"nested field {name}")

    def get(data: TemplateData) -> Value:
        mapping = root(data)
        if not isinstance(mapping, Mapping):
            raise TemplateInvalid(f"{name}: {head} has no fields")
        return mapping.get(field, "<no value>")

    return get


def _literal(token: re.Match[str]) -> Operand | None:
    quoted, raw, _, _, number, _ = token.groups()
    if quoted is not None:
        text = bytes(quoted[1:-1], "utf-8").decode("unicode_escape")
        return lambda _: text
    if raw is not None:
        return lambda _: raw[1:-1]
    if number is not None:
        try:
            value = float(int(number, 0)) if re.fullmatch(r"[-+]?(0x[\da-fA-F]+|\d+)", number) else float(number)
        except ValueError:
            raise TemplateInvalid(f"bad number {number!r}") from None
        return lambda _: value
    return None


@dataclass(frozen=True)
class _Command:
    function: str | None  # None: a single operand
    args: tuple[Operand, ...]


def _parse_pipeline(source: str) -> tuple[_Command, ...]:
    commands: list[_Command] = []
    words: list[re.Match[str]] = []

    def close() -> None:
        if not words:
            raise TemplateInvalid(f"empty command in {{{{{source}}}}}")
        first = words[0]
        name = first.group(4)
        if name is not None and not name.startswith(("$", ".")):
            if name in _CONTROL or name == "query":
                raise TemplateUnsupported(f"{{{{ {name} }}}} is not supported by the backtest")
            if name not in FUNCTIONS:
                raise TemplateInvalid(f'function "{name}" not defined')
            commands.append(_Command(name, tuple(_operand(w) for w in words[1:])))
        elif len(words) == 1:
            commands.append(_Command(None, (_operand(first),)))
        else:
            raise TemplateInvalid(f"can't give arguments to non-function {first.group(0).strip()}")
        words.clear()

    position = 0
    stripped = source.strip()
    while position < len(stripped):
        token = _TOKEN.match(stripped, position)
        if token is None or token.end() == position:
            break
        position = token.end()
        if token.group(3):
            close()
        elif token.group(6):
            raise TemplateUnsupported(f"unexpected {token.group(6)!r} in {{{{{source}}}}}")
        else:
            words.append(token)
    close()
    return tuple(commands)


def _operand(token: re.Match[str]) -> Operand:
    literal = _literal(token)
    if literal is not None:
        return literal
    name = token.group(4)
    if name in (None, "$", "."):
        raise TemplateUnsupported(f"{token.group(0).strip()!r} (the whole data) is not supported")
    if (
        name.startswith("$")
        and "." not in name
        and name[1:] not in ("value", "labels", "externalLabels", "externalURL")
    ):
        raise TemplateUnsupported(f"variable {name} is not defined in alert templates")
    if not name.startswith(("$", ".")):
        raise TemplateInvalid(f"{name} is not an operand")
    return _variable(name)


def _text(value: Value) -> str:
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{k}:{v}" for k, v in sorted(value.items())) + "]"
    return value


@dataclass(frozen=True)
class Template:
    """A parsed template: literal text and actions, rendered by ``render``."""

    parts: tuple[str | tuple[_Command, ...], ...]

    @classmethod
    def parse(cls, source: str) -> Template:
        if "{{" not in source:
            return cls((source,))
        parts: list[str | tuple[_Command, ...]] = []
        position = 0
        for action in _ACTION.finditer(source):
            text = source[position : action.start()]
            if action.group(1):
                text = text.rstrip()
            parts.append(text)
            body = action.group(2)
            if body.strip().startswith("/*"):
                pass  # a comment
            else:
                parts.append(_parse_pipeline(body))
            position = action.end()
            if action.group(3):
                rest = source[position:]
                position += len(rest) - len(rest.lstrip())
        tail = source[position:]
        if "{{" in tail or "}}" in tail:
            raise TemplateInvalid("unclosed action")
        parts.append(tail)
        return cls(tuple(p for p in parts if p != ""))

    @property
    def is_static(self) -> bool:
        return all(isinstance(p, str) for p in self.parts)

    def render(self, data: TemplateData) -> str:
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value: Value | None = None
            for command in part:
                args = [arg(data) for arg in command.args]
                if value is not None:
                    args.append(value)
                if command.function is None:
                    value = args[0] if len(args) == 1 else None
                    if value is None:
                        raise TemplateInvalid("a pipeline into an operand")
                else:
                    value = FUNCTIONS[command.function](*args)
            assert value is not None
            out.append(_text(value))
        return "".join(out)
