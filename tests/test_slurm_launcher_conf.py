"""conf/hydra/launcher/slurm{,_gpu}.yaml: what hydra-submitit-launcher would hand to sbatch for one sweep job, sized
by the `cluster` group's `run` block (checked without a cluster: composed, mapped as the launcher maps it, and
rendered by submitit; tests/test_slurm_local.py submits for real)."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from omegaconf import OmegaConf

from launch.config_check import CONF_DIR, compose


def cluster_override(option: str) -> str:
    """`cluster=<option>` once conf/config.yaml lists a cluster default, `+cluster=<option>` before."""
    return f"cluster={option}" if "cluster" in compose([]) else f"+cluster={option}"


def launcher_sbatch(launcher: str, *overrides: str) -> tuple[Any, str]:
    """The composed config and the sbatch script submitit would write for one job of a sweep with `launcher`."""
    import submitit
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from submitit.slurm.slurm import SlurmExecutor, _make_sbatch_string

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = hydra_compose("config", overrides=[f"hydra/launcher={launcher}", *overrides], return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    params = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert params.pop("_target_") == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    # as hydra_submitit_launcher's BaseSubmititLauncher.launch() maps its params onto the executor
    folder = params.pop("submitit_folder")
    # submitit refuses to build a Slurm executor where `srun` is not on PATH; rendering sbatch needs no cluster
    with mock.patch.object(SlurmExecutor, "affinity", classmethod(lambda cls: 1)):
        executor = submitit.AutoExecutor(
            folder=folder, cluster="slurm", slurm_max_num_timeout=params.pop("max_num_timeout")
        )
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(**{k if k in base else f"slurm_{k}": v for k, v in params.items()})
    return cfg, _make_sbatch_string(
        command="python -m submitit.core._submit", folder=folder, **executor._executor.parameters
    )


@pytest.mark.parametrize("launcher, cluster", [("slurm", "local"), ("slurm", "gpu_node"), ("slurm_gpu", "gpu_node")])
def test_one_job_per_run_sized_by_the_cluster_run_block(launcher: str, cluster: str) -> None:
    cfg, script = launcher_sbatch(launcher, cluster_override(cluster), "output_root=/scratch/o")
    run = cfg.cluster.run
    lines = set(script.splitlines())
    expected = {
        f"#SBATCH --partition={cfg.cluster.partition}",
        f"#SBATCH --time={run.time_min}",
        f"#SBATCH --cpus-per-task={run.cpus}",
        f"#SBATCH --mem={run.mem_gb}GB",
        "#SBATCH --nodes=1",
        "#SBATCH --ntasks-per-node=1",
    }
    assert expected <= lines, script
    assert "/scratch/o/default/multirun/.submitit/%j/" in script  # job logs under the sweep folder
    if launcher == "slurm_gpu":
        assert f"#SBATCH --gpus-per-node={run.gpus}" in lines
    else:
        assert "gpus" not in script  # CPU jobs ask for no GPU at all
    assert "--account" not in script  # cluster.account: null


def test_account_setup_and_extra_flags_reach_sbatch() -> None:
    _, script = launcher_sbatch(
        "slurm",
        cluster_override("gpu_node"),
        "cluster.account=proj42",
        'cluster.setup=["module load cuda/12.4","source /shared/venv/bin/activate"]',
        "+hydra.launcher.additional_parameters.qos=high",
    )
    lines = script.splitlines()
    assert "#SBATCH --account=proj42" in lines and "#SBATCH --qos=high" in lines
    setup = lines.index("# setup")
    assert lines[setup + 1 : setup + 3] == ["module load cuda/12.4", "source /shared/venv/bin/activate"]
