"""How every command reads its configuration: a dataclass schema (with help text), YAML
files merged over it in order, a caller's changes (a nested dict: a demo's per-pair
settings, a run's recorded config), then ``key=value`` overrides. A problem is a
:class:`ConfigError` that names the file or the override it came from and the key.

Each command keeps its own schema and its own checks of the values (``check``); this
module only owns the reading, so a misspelt key or a wrong type reads the same everywhere.
"""

from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence, Type, TypeVar

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file, override or value that cannot be used. ``source``: the file or
    override it came from (empty: the merged config); ``key``: the dotted key, if known."""

    def __init__(self, message: str, source: str = "", key: str = ""):
        self.source, self.key = str(source), key
        super().__init__(f"{source}: {message}" if source else message)


def _error(error: OmegaConfBaseException, source: str, prefix: str = "") -> ConfigError:
    # OmegaConf appends full_key/object_type lines; the first line is the reason
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    key = ".".join(k for k in (prefix, getattr(error, "full_key", "") or "") if k)
    if isinstance(error, ConfigKeyError) and key:
        return ConfigError(f"unknown option {key}", source, key)
    return ConfigError(f"{key}: {reason}" if key and key not in reason else reason, source, key)


def merge(schema: type, paths: Sequence = (), overrides: Sequence[str] = (), what: str = "config",
          changes: Optional[Dict[str, Any]] = None) -> DictConfig:
    """The schema's defaults, each of ``paths``, a caller's ``changes`` (a nested dict) and
    each override, merged one at a time so an error names the layer that caused it. Not
    yet converted or checked."""
    merged = OmegaConf.structured(schema)
    layers = []
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"{what} file does not exist", path)
        try:
            layers.append((str(path), OmegaConf.load(path)))
        except (yaml.YAMLError, OmegaConfBaseException) as error:
            raise ConfigError(f"not valid YAML: {str(error).splitlines()[0]}", path) from None
    if changes:
        layers.append(("changes " + ", ".join(changes), OmegaConf.create(changes)))
    for override in overrides:
        if "=" not in override:
            raise ConfigError("expected key=value", f"override {override!r}")
        try:
            layers.append((f"override {override!r}", OmegaConf.from_dotlist([override])))
        except OmegaConfBaseException as error:
            raise _error(error, f"override {override!r}") from None
    for source, layer in layers:
        try:
            merged = OmegaConf.merge(merged, layer)
        except OmegaConfBaseException as error:
            raise _error(error, source) from None
    return merged


def to_object(merged: DictConfig, sources: str = "", check: Optional[Callable] = None):
    """The dataclass instance of a merged config (a mandatory key left unset is an error
    naming it), then ``check(cfg)`` (the command's own rules)."""
    try:
        cfg = OmegaConf.to_object(merged)
    except OmegaConfBaseException as error:
        raise _error(error, sources) from None
    if check is not None:
        check(cfg)
    return cfg


def load(schema: Type[T], paths: Sequence = (), overrides: Sequence[str] = (), what: str = "config",
         check: Optional[Callable[[T], None]] = None, changes: Optional[Dict[str, Any]] = None) -> T:
    """``schema`` read from ``paths``, ``changes`` then ``overrides``, converted and checked."""
    sources = " + ".join(
        [str(p) for p in paths] + (["changes " + ", ".join(changes)] if changes else []) + [f"override {o!r}" for o in overrides]
    )
    return to_object(merge(schema, paths, overrides, what, changes), sources, check)


def convert(schema: Type[T], value: Any, source: str = "", prefix: str = "") -> T:
    """One nested mapping as ``schema`` (OmegaConf 2.3 leaves dataclasses inside a dict of
    dicts as plain dicts); errors name the key below ``prefix``."""
    if not isinstance(value, dict):
        raise ConfigError(f"{prefix}: expected a mapping, got {value!r}", source, prefix)
    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), OmegaConf.create(value)))
    except OmegaConfBaseException as error:
        raise _error(error, source, prefix) from None
