"""launch/provenance.py and the lock file: run summaries record what produced them; `make` installs exact versions."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

from launch.provenance import git_commit, provenance

REPO = Path(__file__).resolve().parents[1]


def test_provenance_names_commit_versions_cpu_and_threads():
    info = provenance(3)
    assert info["threads"] == 3 and info["cpu_model"] and info["cpu_count"] >= 1
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?|unknown", info["commit"])
    assert info["versions"]["torch"] != "absent" and info["versions"]["transformers"] != "absent"


def test_git_commit_outside_a_checkout_is_unknown(tmp_path):
    assert git_commit(tmp_path) == "unknown"


def test_the_lock_pins_every_dependency_exactly():
    lock = (REPO / "requirements.lock").read_text().split("\n")
    pins = dict(line.split("==", 1) for line in lock if line.strip())
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", name) and version for name, version in pins.items())
    setup = configparser.ConfigParser()
    setup.read(REPO / "setup.cfg")
    wanted = setup["options"]["install_requires"].split() + setup["options.extras_require"]["dev"].split()
    names = {re.split(r"[<>=!~\[]", req)[0].lower().replace("_", "-") for req in wanted if req[0].isalpha()}
    locked = {name.lower().replace("_", "-") for name in pins}
    assert names - {"torch"} <= locked, names - locked  # torch comes from TORCH_SPEC (a CPU or CUDA build)
    assert not {n for n in locked if n == "torch" or n.startswith("nvidia-")}


def test_a_stage_summary_keeps_the_commit_it_was_built_at(tmp_path, monkeypatch):
    """A reused stage keeps its own commit: a run that resumes or shares it later does not relabel it."""
    from launch import stage_state

    monkeypatch.setattr(stage_state, "git_commit", lambda: "a" * 40)
    built = stage_state.run_stage("demo_stage", tmp_path / "s", "fp1", lambda out: {"n": 1})
    assert built["commit"] == "a" * 40 and built["n"] == 1
    monkeypatch.setattr(stage_state, "git_commit", lambda: "b" * 40)
    assert stage_state.run_stage("demo_stage", tmp_path / "s", "fp1", lambda out: {"n": 2})["commit"] == "a" * 40
