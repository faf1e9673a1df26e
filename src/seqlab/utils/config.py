"""Frozen dataclass configs built from dicts, JSON/YAML files and ``--set key=value`` overrides.

References: Python's ``dataclasses`` and ``typing`` (PEP 586 ``Literal``, PEP 604 ``X | None``);
YAML 1.1 as parsed by PyYAML's safe loader. DESIGN.md, convention 2: one frozen typed dataclass per
concern, unknown keys fail and name the key.

A config is composed as layers of plain, partial dicts (defaults, a preset, a file, ``--set``
overrides parsed by :func:`parse_overrides`), merged in order by :func:`deep_merge`, and typed
once, at the end, by :func:`from_dict`; so overrides apply together before any dataclass
validates (``train.warmup_steps=2000 train.steps=5000`` works whatever the order).

Type coercion exists because values arrive as strings from the command line (``train.lr=3e-4``)
and because PyYAML reads ``3e-4`` (no dot) as a string, not a float. Accepted spellings:

- ``bool``: true/false, yes/no, on/off, 1/0 (any case);
- ``int``: ``12``, ``1_000``, and integral floats such as ``1e5``;
- ``float``: anything ``float()`` reads;
- ``X | None``: ``none`` or ``null`` (any case) gives ``None``;
- ``Literal[...]``: one of the listed values;
- ``tuple[...]`` / ``list[...]``: ``0.9,0.98``, ``(0.9, 0.98)`` or ``[0.9, 0.98]``;
- a nested dataclass: a mapping of its own keys.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import sys
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from seqlab.errors import SeqlabError

__all__ = [
    "ConfigError",
    "coerce_value",
    "deep_merge",
    "from_dict",
    "load_config_file",
    "parse_overrides",
    "to_dict",
]

T = TypeVar("T")

_NONE_WORDS = frozenset({"none", "null"})
_TRUE_WORDS = frozenset({"true", "yes", "on", "1"})
_FALSE_WORDS = frozenset({"false", "no", "off", "0"})
_LARGEST_FLOAT = int(sys.float_info.max)  # a larger int has no float: float() would overflow


class ConfigError(SeqlabError, ValueError):
    """A configuration problem; the message is one line that names the key and the fix.

    A SeqlabError, so the command line prints it as one line instead of a traceback.
    """

    def __init__(self, message: str) -> None:
        # One line, because the command line prints it after "error:" and logs grep for it.
        super().__init__(" ".join(str(message).split()))


# ----------------------------------------------------------------------------------------------
# Type coercion
# ----------------------------------------------------------------------------------------------


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "None"
    if isinstance(tp, type) and get_origin(tp) is None:
        return tp.__name__
    return str(tp).replace("typing.", "")


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def coerce_value(value: Any, tp: Any, *, key: str) -> Any:
    """Return ``value`` converted to type ``tp`` or raise :class:`ConfigError` naming ``key``."""
    if tp is Any:
        return value
    if _is_union(tp):
        return _coerce_union(value, get_args(tp), key=key)
    origin = get_origin(tp)
    if origin is Literal:
        return _coerce_literal(value, get_args(tp), key=key)
    if origin in (tuple, list):
        return _coerce_sequence(value, tp, key=key)
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        return _coerce_mapping(value, tp, key=key)
    if tp is type(None):
        if value is None or (isinstance(value, str) and value.strip().lower() in _NONE_WORDS):
            return None
        raise ConfigError(f"{key}: expected none, got {value!r}")
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if isinstance(value, Mapping):
            return from_dict(tp, value, _path=key)
        raise ConfigError(
            f"'{key}' is a section ({tp.__name__}), got {value!r}; set its keys one by one, "
            f"e.g. {key}.<name>=<value>, or give a mapping"
        )
    if tp is bool:
        return _coerce_bool(value, key=key)
    if tp is int:
        return _coerce_int(value, key=key)
    if tp is float:
        return _coerce_float(value, key=key)
    if tp is str:
        if isinstance(value, str):
            return _strip_quotes(value)
        raise ConfigError(f"{key}: expected a string, got {value!r}; quote it in the file")
    if tp is Path:
        if isinstance(value, str | os.PathLike):
            return Path(value)
        raise ConfigError(f"{key}: expected a path, got {value!r}")
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ConfigError(f"{key}: type {_type_name(tp)} is not supported by seqlab configs")


def _strip_quotes(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _coerce_union(value: Any, options: tuple[Any, ...], *, key: str) -> Any:
    if type(None) in options and (
        value is None or (isinstance(value, str) and value.strip().lower() in _NONE_WORDS)
    ):
        return None
    candidates = [option for option in options if option is not type(None)]
    # An exact type match wins so that int | float keeps 3 an int and float | int keeps 3.0.
    for option in candidates:
        if isinstance(option, type) and type(value) is option:
            return value
    errors: list[ConfigError] = []
    for option in candidates:
        try:
            return coerce_value(value, option, key=key)
        except ConfigError as err:
            errors.append(err)
    if len(errors) == 1:
        raise errors[0]  # X | None: the one real type's message is the most specific
    names = " or ".join(_type_name(option) for option in options)
    raise ConfigError(f"{key}: {value!r} is not {names}")


def _coerce_literal(value: Any, allowed: tuple[Any, ...], *, key: str) -> Any:
    for option in allowed:
        if value == option and type(value) is type(option):
            return option
        if isinstance(value, str) and not isinstance(option, str):
            try:
                if coerce_value(value, type(option), key=key) == option:
                    return option
            except ConfigError:
                continue
        if isinstance(value, str) and isinstance(option, str) and _strip_quotes(value) == option:
            return option
    listed = ", ".join(repr(option) for option in allowed)
    hint = _did_you_mean(str(value), [str(option) for option in allowed])
    raise ConfigError(f"{key}: {value!r} is not one of {listed}{hint}")


def _coerce_bool(value: Any, *, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
    raise ConfigError(f"{key}: {value!r} is not a bool; use true or false")


def _coerce_int(value: Any, *, key: str) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{key}: {value!r} is a bool, not an int; give a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if math.isfinite(number) and number.is_integer():
            return int(number)
    raise ConfigError(f"{key}: {value!r} is not an int; give a whole number such as 1000")


def _coerce_float(value: Any, *, key: str) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{key}: {value!r} is a bool, not a number")
    if isinstance(value, int) and abs(value) > _LARGEST_FLOAT:
        raise ConfigError(f"{key}: the integer given is over 1.8e308, too large for a float")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise ConfigError(f"{key}: {value!r} is not a number; give e.g. 0.001 or 1e-3")


def _split_sequence_text(text: str) -> list[str]:
    body = text.strip()
    if len(body) >= 2 and (body[0], body[-1]) in (("(", ")"), ("[", "]")):
        body = body[1:-1]
    if not body.strip():
        return []
    return [part.strip() for part in body.split(",")]


def _coerce_sequence(value: Any, tp: Any, *, key: str) -> Any:
    origin = get_origin(tp)
    args = get_args(tp)
    if isinstance(value, str):
        items: list[Any] = _split_sequence_text(value)
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise ConfigError(f"{key}: expected a list such as 1,2,3, got {value!r}")
    if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
        if len(items) != len(args):
            raise ConfigError(
                f"{key}: expected {len(args)} values ({', '.join(map(_type_name, args))}), "
                f"got {len(items)}: {value!r}"
            )
        converted = [
            coerce_value(item, arg, key=f"{key}[{index}]")
            for index, (item, arg) in enumerate(zip(items, args, strict=True))
        ]
    else:
        item_type = args[0] if args else Any
        converted = [
            coerce_value(item, item_type, key=f"{key}[{index}]") for index, item in enumerate(items)
        ]
    return tuple(converted) if origin is tuple else converted


def _coerce_mapping(value: Any, tp: Any, *, key: str) -> dict[Any, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as err:
            raise ConfigError(f'{key}: expected a JSON object such as {{"a": 1}}: {err}') from err
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key}: expected a mapping, got {value!r}")
    args = get_args(tp)
    key_type, value_type = args if len(args) == 2 else (Any, Any)
    return {
        coerce_value(name, key_type, key=key): coerce_value(item, value_type, key=f"{key}.{name}")
        for name, item in value.items()
    }


# ----------------------------------------------------------------------------------------------
# Dataclasses from dicts and back
# ----------------------------------------------------------------------------------------------


def _did_you_mean(word: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _init_fields(cls: type) -> dict[str, dataclasses.Field[Any]]:
    return {field.name: field for field in dataclasses.fields(cls) if field.init}


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _unknown_key(cls: type, path: str, name: str) -> ConfigError:
    valid = sorted(_init_fields(cls))
    where = f" under '{path}'" if path else ""
    return ConfigError(
        f"unknown config key '{_join(path, str(name))}'{_did_you_mean(str(name), valid)}; "
        f"valid keys{where}: {', '.join(valid)}"
    )


def _construct(cls: type[T], values: Mapping[str, Any], *, path: str) -> T:
    try:
        return cls(**values)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}" if path else str(err)) from err
    except (TypeError, ValueError) as err:
        prefix = f"{path}: " if path else ""
        raise ConfigError(f"{prefix}{cls.__name__}: {err}") from err


def from_dict(cls: type[T], data: Mapping[str, Any], *, _path: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; missing keys take their defaults.

    Raises ConfigError for an unknown key (naming it and listing the valid ones), a missing
    required key, or a value that cannot be converted to the field's type.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"from_dict needs a dataclass type, got {cls!r}")
    if not isinstance(data, Mapping):
        where = f"'{_path}'" if _path else cls.__name__
        raise ConfigError(f"{where} must be a mapping of keys to values, got {data!r}")
    fields = _init_fields(cls)
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for name, raw in data.items():
        if name not in fields:
            raise _unknown_key(cls, _path, name)
        values[name] = coerce_value(raw, hints[name], key=_join(_path, name))
    missing = [
        name
        for name, field in fields.items()
        if name not in values
        and field.default is dataclasses.MISSING
        and field.default_factory is dataclasses.MISSING
    ]
    if missing:
        keys = ", ".join(f"'{_join(_path, name)}'" for name in missing)
        raise ConfigError(f"missing required config key(s) {keys}")
    return _construct(cls, values, path=_path)


def to_dict(instance: Any) -> dict[str, Any]:
    """Plain JSON-ready dict of a dataclass: nested dataclasses become dicts, tuples lists."""
    if not dataclasses.is_dataclass(instance) or isinstance(instance, type):
        raise TypeError(f"to_dict needs a dataclass instance, got {instance!r}")
    return {
        field.name: _plain(getattr(instance, field.name)) for field in dataclasses.fields(instance)
    }


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_dict(value)
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


# ----------------------------------------------------------------------------------------------
# Files and overrides
# ----------------------------------------------------------------------------------------------


def _reject_duplicate_json_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key '{key}'")
        result[key] = value
    return result


def _yaml_loader() -> type:
    import yaml

    class _StrictSafeLoader(yaml.SafeLoader):
        """SafeLoader that rejects a key given twice (PyYAML silently keeps the last one)."""

        def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    mark = key_node.start_mark
                    raise ConfigError(
                        f"{mark.name}:{mark.line + 1}:{mark.column + 1}: duplicate key '{key}'; "
                        "remove one of them"
                    )
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return _StrictSafeLoader


def load_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a ``.json``, ``.yaml`` or ``.yml`` config file into a dict.

    Syntax errors become ConfigError with ``file:line:column``; the top level must be a mapping
    (an empty YAML file gives ``{}``).
    """
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix not in (".json", ".yaml", ".yml"):
        raise ConfigError(f"config file {file} must end in .json, .yaml or .yml, not '{suffix}'")
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise ConfigError(f"config file {file} does not exist; check the path") from err
    except OSError as err:
        raise ConfigError(f"cannot read config file {file}: {err}") from err
    if suffix == ".json":
        try:
            data = json.loads(text, object_pairs_hook=_reject_duplicate_json_keys)
        except json.JSONDecodeError as err:
            raise ConfigError(f"{file}:{err.lineno}:{err.colno}: invalid JSON: {err.msg}") from err
        except ValueError as err:
            raise ConfigError(f"{file}: invalid JSON: {err}") from err
    else:
        import yaml

        try:
            data = yaml.load(text, Loader=_yaml_loader())  # noqa: S506 - a SafeLoader subclass
        except ConfigError as err:
            raise ConfigError(str(err).replace("<unicode string>", str(file))) from err
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            problem = getattr(err, "problem", None) or str(err)
            where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(file)
            raise ConfigError(f"{where}: invalid YAML: {problem}") from err
        if data is None:
            data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {file} must hold a mapping (key: value) at the top level, "
            f"not a {type(data).__name__}"
        )
    return data


# ----------------------------------------------------------------------------------------------
# Layers: partial config dicts merged in order, and ``--set`` overrides parsed into one
# ----------------------------------------------------------------------------------------------


def deep_merge(base: Mapping[str, Any], layer: Mapping[str, Any]) -> dict[str, Any]:
    """A new dict: ``base`` with the partial config ``layer`` on top (``layer`` wins).

    Sections merge key by key, so ``{"train": {"lr": 1e-3}}`` changes only ``lr``; any other
    value replaces the one below it. Nested mappings are copied, so the result shares no dict
    with either input and changing it never changes a task's presets or defaults.
    """
    merged = {key: _copy_sections(value) for key, value in base.items()}
    for key, value in layer.items():
        below = merged.get(key)
        if isinstance(value, Mapping) and isinstance(below, Mapping):
            merged[key] = deep_merge(below, value)
        else:
            merged[key] = _copy_sections(value)
    return merged


def _copy_sections(value: Any) -> Any:
    return deep_merge({}, value) if isinstance(value, Mapping) else value


def parse_overrides(overrides: Sequence[str], *, sections: Sequence[str]) -> dict[str, Any]:
    """``["train.lr=3e-4"]`` -> ``{"train": {"lr": "3e-4"}}``: a layer for :func:`deep_merge`.

    Each override is ``section.key=value`` (deeper keys nest further), ``section`` one of
    ``sections``; a key given twice takes the later value. Values stay text: :func:`from_dict`
    types them against the field they land in (the spellings in the module docstring), so its
    errors name the key.
    """
    if isinstance(overrides, str):
        raise TypeError("overrides must be a list of 'key=value' strings, not one string")
    nested: dict[str, Any] = {}
    for override in overrides:
        key, sep, value = override.partition("=")
        parts = key.strip().split(".")
        if not sep or any(not part for part in parts) or len(parts) < 2:
            raise ConfigError(
                f"override '{override}' must look like section.key=value, e.g. train.lr=3e-4"
            )
        if parts[0] not in sections:
            raise ConfigError(
                f"override '{override}': unknown section '{parts[0]}'; use one of "
                f"{', '.join(sections)}"
            )
        section = nested
        for part in parts[:-1]:
            if not isinstance(section.get(part), dict):
                section[part] = {}  # a later, deeper key replaces a value set before
            section = section[part]
        section[parts[-1]] = value.strip()
    return nested
