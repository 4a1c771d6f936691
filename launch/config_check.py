"""Compose the project config and refuse a bad one with one clear line that names the bad key or value and lists
the valid ones, before anything runs.

Hydra already lists the options of a config group it cannot find, but for an unknown key it only says
"Key 'x' is not in struct"; here every error names the key or option and what would be valid (read from the
exceptions' own attributes: Hydra's `MissingConfigException.options`, OmegaConf's `full_key`). The composed
pipeline config is then checked against the typed schema of every group (`validate_config`,
launch/config_schema.py): types, ranges, choices, unknown keys.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


class ConfigError(ValueError):
    """A config the project refuses: an override naming no valid key or group option, or a value of the wrong type,
    out of range or not among the choices (the message is one line naming it and what is valid)."""


def group_options(group: str) -> list[str]:
    """The options of a config group (file names under conf/<group>/ without .yaml)."""
    folder = CONF_DIR / group
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def _valid_keys(cfg: DictConfig, dotted: str) -> tuple[str, list[str]]:
    parent, _, _ = dotted.rpartition(".")
    node = OmegaConf.select(cfg, parent) if parent else cfg
    keys = sorted(node.keys()) if isinstance(node, DictConfig) else []
    return parent or "<root>", [str(k) for k in keys]


def validate_config(cfg: DictConfig) -> None:
    """Check a composed pipeline config (conf/config.yaml) against the schema of every group without changing it;
    `ConfigError` with one line (`sft.max_steps=-5: must be an integer >= 1`) on the first bad value."""
    from launch.config_schema import validate_config as validate

    validate(cfg)


def _unknown_key(error: BaseException, overrides: Sequence[str], config_name: str) -> str | None:
    """`unknown config key ...; valid keys under ...` for an override of a key the config does not have."""
    from hydra import compose as hydra_compose
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError

    cause = error.__cause__
    key = getattr(cause, "full_key", None)
    if not isinstance(cause, (ConfigAttributeError, ConfigKeyError)) or not key:
        return None
    groups = [o for o in overrides if "=" in o and "." not in o.split("=", 1)[0]]  # group choices: sft=lora
    try:
        base = hydra_compose(config_name=config_name, overrides=groups)
    except Exception:  # a bad group choice as well: the plain defaults then
        base = hydra_compose(config_name=config_name)
    parent, keys = _valid_keys(base, key)
    if parent != "<root>" and not isinstance(OmegaConf.select(base, parent), DictConfig):
        return None
    message = f"unknown config key {key!r}; valid keys under {parent}: {keys}"
    dotted = re.sub(r"\[(\d+)\]", r".\1", key)
    for override in overrides:  # a key the preset does not set (but the schema knows) is added with `+`
        name = override.split("=", 1)[0]
        if "=" in override and name[:1] not in "+~" and (name == dotted or name.startswith(dotted + ".")):
            return f"{message} (to add a key the preset does not set: +{override})"
    return message


def compose(overrides: Sequence[str], config_name: str = "config", validate: bool = True) -> DictConfig:
    """Compose the project config with `overrides`, raising `ConfigError` with a clear message on a bad one.
    The pipeline config (`config_name="config"`) is also checked against the schema (`validate_config`) unless
    `validate` is False."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import (
        ConfigCompositionException,
        HydraException,
        MissingConfigException,
        OverrideParseException,
    )

    overrides = [o for o in overrides if not o.startswith("hydra/") and not o.startswith("hydra.")]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        try:
            cfg = hydra_compose(config_name=config_name, overrides=list(overrides))
        except MissingConfigException as error:
            group, _, option = str(error.missing_cfg_file or "").rpartition("/")
            if group and option:
                options = sorted(error.options) if error.options is not None else group_options(group)
                raise ConfigError(f"unknown {group} {option!r}; valid {group} choices: {options}") from None
            raise ConfigError(str(error).strip().splitlines()[0]) from None
        except ConfigCompositionException as error:
            message = _unknown_key(error, overrides, config_name)
            if message:
                raise ConfigError(message) from None
            text = str(error).strip().splitlines()[0]
            cause = str(error.__cause__ or "").strip().splitlines()
            raise ConfigError(f"{text} {cause[0]}" if cause else text) from None
        except OverrideParseException as error:  # an override the grammar cannot parse
            reason = str(error).strip().splitlines()[0]
            raise ConfigError(f"cannot parse override {error.override!r}: {reason}") from None
        except HydraException as error:
            raise ConfigError(str(error).strip().splitlines()[0]) from None
    if validate and config_name == "config":
        validate_config(cfg)
    return cfg
