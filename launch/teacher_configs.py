"""Teacher configs by name: expand a multi teacher's entries that name a conf/teacher/ file into full configs.

conf/teacher/multi.yaml lists its teachers as a name (`hf`: conf/teacher/hf.yaml), a mapping with `base: <name>`
plus overrides, or a full inline config. Only launch/ knows where conf/ is, so the names are looked up here;
`sft.teachers.multi` takes the result, in which every entry is an inline config:

    teacher = build_teacher(resolve_teacher_config(teacher_cfg))

`resolve_teacher_config` leaves every other teacher config (and anything malformed, for the multi teacher's own
checks to name) as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from launch.config_check import CONF_DIR, group_options


def teacher_file(name: str) -> dict[str, Any]:
    """conf/teacher/<name>.yaml as a plain dict; ValueError naming the valid names for an unknown one (or multi)."""
    from omegaconf import OmegaConf

    path = CONF_DIR / "teacher" / f"{name}.yaml"
    if name == "multi" or not path.exists():
        valid = [o for o in group_options("teacher") if o != "multi"]
        raise ValueError(f"multi teacher: unknown teacher {name!r}; valid: {valid} or an inline config")
    return OmegaConf.to_container(OmegaConf.load(path), resolve=True)


def resolve_entry(entry: Any) -> Any:
    """One entry of a multi teacher's `teachers`: a name becomes that file's config, `{base: name, ...}` that
    file's config with the entry's other keys (`label` too) over it; an inline config (or anything else) is
    returned as it is."""
    if isinstance(entry, str):
        return teacher_file(entry)
    if isinstance(entry, Mapping) and entry.get("base"):
        overrides = {k: v for k, v in entry.items() if k != "base"}
        return {**teacher_file(str(entry["base"])), **overrides}
    if isinstance(entry, Mapping):
        return {k: v for k, v in entry.items() if k != "base"}  # `base: null`: an inline config
    return entry


def resolve_teacher_config(teacher_cfg: Mapping[str, Any]) -> Any:
    """A multi teacher config (plain dict or OmegaConf node) with every entry of `teachers` given by name or
    `base:` expanded into its full config from conf/teacher/ (a plain dict); any other teacher config unchanged."""
    from omegaconf import DictConfig, OmegaConf

    from sft.teachers.base import backend_name

    cfg = OmegaConf.to_container(teacher_cfg, resolve=True) if isinstance(teacher_cfg, DictConfig) else teacher_cfg
    if not isinstance(cfg, Mapping) or backend_name(cfg) != "multi":
        return teacher_cfg
    entries = cfg.get("teachers")  # not a list: left for the multi teacher to refuse with its own message
    if not isinstance(entries, (list, tuple)):
        return dict(cfg)
    return {**cfg, "teachers": [resolve_entry(entry) for entry in entries]}
