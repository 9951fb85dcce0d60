"""Configuration: packaged YAML defaults, merged with a user's YAML file and ``key=value`` overrides,
and the hash of everything that changes the labels (it names the store)."""
from __future__ import annotations

import copy
import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import yaml

SCHEMA_VERSION = 1


def deep_merge(base: dict, update: dict) -> dict:
    """A copy of ``base`` with ``update`` merged in, recursively for nested dicts.
    Unknown keys are an error so that a typo never passes silently."""
    merged = copy.deepcopy(base)
    for key, value in update.items():
        if key not in merged:
            raise KeyError(f"unknown configuration key {key!r}; known: {', '.join(sorted(merged))}")
        if isinstance(merged[key], dict) and isinstance(value, dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def parse_overrides(overrides: Iterable[str]) -> dict:
    """``["a.b=3", "c=[1, 2]"]`` -> ``{"a": {"b": 3}, "c": [1, 2]}`` (values parsed as YAML)."""
    nested: dict[str, Any] = {}
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not of the form key=value")
        key, raw = item.split("=", 1)
        node = nested
        *parents, leaf = key.strip().split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(raw)
    return nested


def load_config(package: str, user_file: str | Path | None = None, overrides: Iterable[str] = (), **explicit: Any) -> dict:
    """``package``'s ``default.yaml``, then the user's YAML, then ``key=value`` overrides, then
    ``explicit`` nested values (command-line options that are not ``None``)."""
    config = yaml.safe_load(resources.files(package).joinpath("default.yaml").read_text())
    if user_file is not None:
        config = deep_merge(config, yaml.safe_load(Path(user_file).read_text()) or {})
    config = deep_merge(config, parse_overrides(overrides))
    return deep_merge(config, {k: v for k, v in explicit.items() if v is not None})


def label_defining(config: dict, weights_sha256: str) -> dict:
    """The part of a labelling configuration that changes the labels, with the weights' checksum
    and the schema version: two runs with equal ``label_defining`` produce identical stores."""
    defining = {k: v for k, v in config.items() if k != "runtime"}
    if not defining.get("lightglue", {}).get("enabled"):
        defining.pop("lightglue", None)  # stores made without LightGlue keep the name they always had
    defining["weights_sha256"] = weights_sha256
    defining["schema_version"] = SCHEMA_VERSION
    return defining


def config_hash(defining: dict) -> str:
    """Ten hex digits of the sha256 of the canonical JSON of ``defining``."""
    canonical = json.dumps(defining, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:10]
