"""Typed configuration. A dataclass schema holds every default; a user's YAML file, ``key=value``
overrides (``--set``) and command-line options are merged onto it in that order by OmegaConf
(structured configs: unknown keys and values of the wrong type are refused, naming the key), and
the result is an instance of the schema, whose ``__post_init__`` checks the values. Every problem
surfaces as one :class:`ConfigError`. Shared by ``labels`` and ``distill``."""
from __future__ import annotations

import dataclasses
import enum
from pathlib import Path
from typing import Any, Iterable, TypeVar

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value or file that cannot be used; the message names the key (or file)."""


def _describe(error: OmegaConfBaseException, source: str, merged: DictConfig) -> str:
    """``source: key: what is wrong`` from an OmegaConf error (its message without the trailer)."""
    message = str(error).split("\n")[0].strip()
    key = getattr(error, "full_key", None)
    if isinstance(error, ConfigKeyError) and key:
        parent, _, leaf = str(key).rpartition(".")
        node = OmegaConf.select(merged, parent) if parent else merged
        known = ", ".join(sorted(node.keys())) if isinstance(node, DictConfig) else ""
        return f"{source}: unknown configuration key {key!r}" + (f"; known keys{' of ' + parent if parent else ''}: {known}" if known else "")
    return f"{source}: {key}: {message}" if key else f"{source}: {message}"


def _read_yaml(path: Path) -> DictConfig:
    if not path.is_file():
        raise ConfigError(f"--config {path}: no such file")
    try:
        data = yaml.safe_load(path.read_text())
    except UnicodeDecodeError:
        raise ConfigError(f"--config {path}: not valid YAML (not a text file)") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"--config {path}: not valid YAML ({str(error).splitlines()[0]})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path}: expected a mapping of keys to values, got a YAML {type(data).__name__}")
    return OmegaConf.create(data)


def _dotlist(overrides: Iterable[str]) -> DictConfig:
    items = list(overrides)
    for item in items:
        if "=" not in item or not item.split("=", 1)[0].strip():
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. lr=0.001 or adaptation.num_homographies=20")
    try:
        return OmegaConf.from_dotlist(items)
    except OmegaConfBaseException as error:
        raise ConfigError(f"--set: {str(error).splitlines()[0]}") from None


def load_config(schema: type[T], user_file: str | Path | None = None, overrides: Iterable[str] = (),
                explicit: dict | None = None, base: tuple[str, dict] | None = None) -> T:
    """An instance of ``schema``: its defaults, then ``base`` (``(name, values)``, a named preset such as an
    evaluation protocol), then ``user_file`` (YAML), then ``overrides`` (``["a.b=3", "crop=[64, 96]"]``), then
    ``explicit`` (nested command-line values; ``None`` values, options not given, are left out). Raises
    :class:`ConfigError` naming the key and the problem."""
    overrides = list(overrides)
    given = _without_none(explicit or {})
    twice = sorted({item.split("=", 1)[0].strip() for item in overrides} & set(_flat_keys(given)))
    if twice:
        raise ConfigError(f"{', '.join(twice)} given twice, by a command-line option and by --set: give "
                          f"{'it' if len(twice) == 1 else 'each'} once")
    layers = [] if base is None else [(base[0], OmegaConf.create(base[1]))]
    if user_file is not None:
        layers.append((f"--config {user_file}", _read_yaml(Path(user_file))))
    layers.append(("--set", _dotlist(overrides)))
    if given:
        layers.append(("option", OmegaConf.create(given)))
    return _merge(schema, layers)


def from_dict(schema: type[T], values: dict, source: str) -> T:
    """An instance of ``schema`` from a plain dict that gives (some of) its keys, e.g. a saved
    configuration (``None`` is a value here)."""
    return _merge(schema, [(source, OmegaConf.create(values))])


def _merge(schema: type[T], layers: list[tuple[str, DictConfig]]) -> T:
    merged = OmegaConf.structured(schema)
    for source, layer in layers:
        try:
            merged = OmegaConf.merge(merged, layer)
        except OmegaConfBaseException as error:
            raise ConfigError(_describe(error, source, merged)) from None
    try:
        return OmegaConf.to_object(merged)
    except OmegaConfBaseException as error:
        raise ConfigError(_describe(error, "configuration", merged)) from None
    except ValueError as error:  # a schema's __post_init__ check; its message names the key
        raise ConfigError(str(error)) from None


def _without_none(values: dict) -> dict:
    """``values`` without the ``None`` leaves and the groups left empty (options not given)."""
    kept = {k: _without_none(v) if isinstance(v, dict) else v for k, v in values.items() if v is not None}
    return {k: v for k, v in kept.items() if v != {}}


def _flat_keys(values: dict, prefix: str = "") -> list[str]:
    return [key for k, v in values.items() for key in (_flat_keys(v, f"{prefix}{k}.") if isinstance(v, dict) else [f"{prefix}{k}"])]


def plain(config: Any) -> Any:
    """A dataclass configuration as plain YAML/JSON types: dicts, lists, str, int, float, bool, None."""
    if dataclasses.is_dataclass(config):
        return {f.name: plain(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, dict):
        return {k: plain(v) for k, v in config.items()}
    if isinstance(config, (list, tuple)):
        return [plain(v) for v in config]
    if isinstance(config, enum.Enum):
        return config.value
    return config


def to_yaml(config: Any) -> str:
    return yaml.safe_dump(plain(config), sort_keys=False)
