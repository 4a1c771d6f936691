"""Turn Hydra composition errors into one clear line that names the bad value and lists the valid ones.

Hydra already lists the options of a config group it cannot find, but for an unknown key it only says
"Key 'x' is not in struct"; here every error names the key or option and what would be valid.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


class ConfigError(ValueError):
    """A command-line override that names no valid config key or group option."""


def group_options(group: str) -> list[str]:
    """The options of a config group (file names under conf/<group>/ without .yaml)."""
    folder = CONF_DIR / group
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def _valid_keys(cfg: DictConfig, dotted: str) -> tuple[str, list[str]]:
    parent, _, _ = dotted.rpartition(".")
    node = OmegaConf.select(cfg, parent) if parent else cfg
    keys = sorted(node.keys()) if isinstance(node, DictConfig) else []
    return parent or "<root>", [str(k) for k in keys]


def compose(overrides: Sequence[str], config_name: str = "config") -> DictConfig:
    """Compose the project config with `overrides`, raising `ConfigError` with a clear message on a bad one."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import ConfigCompositionException, MissingConfigException

    overrides = [o for o in overrides if not o.startswith("hydra/") and not o.startswith("hydra.")]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        try:
            return hydra_compose(config_name=config_name, overrides=list(overrides))
        except MissingConfigException as error:
            match = re.search(r"Could not find '([^/']+)/([^']+)'", str(error))
            if match:
                group, option = match.groups()
                raise ConfigError(
                    f"unknown {group} {option!r}; valid {group} choices: {group_options(group)}"
                ) from None
            raise ConfigError(str(error).splitlines()[0]) from None
        except ConfigCompositionException as error:
            text = str(error) + " " + str(error.__cause__ or "")
            match = re.search(r"Could not override '([^']+)'", text) or re.search(
                r"Key '([^']+)' is not in struct", text
            )
            if match:
                key = match.group(1)
                base = hydra_compose(config_name=config_name)
                parent, keys = _valid_keys(base, key)
                if parent == "<root>" or OmegaConf.select(base, parent) is not None:
                    raise ConfigError(f"unknown config key {key!r}; valid keys under {parent}: {keys}") from None
            raise ConfigError(text.strip().splitlines()[0]) from None
