"""launch.slurm_recipes: the sbatch scripts it writes for 2 nodes x 8 GPUs are valid bash, their #SBATCH resource
lines are the config's, their node logic runs the right commands on the right nodes (checked with stand-in
scontrol/srun/python), and bad settings fail with messages naming the value and the valid ones."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from launch.slurm_recipes import RecipeError, build_script
from launch.slurm_submit import log_summary

ROOT = Path(__file__).resolve().parents[1]
TWO_BY_EIGHT = [
    "cluster=gpu_node",
    "cluster.nodes=2",
    "cluster.gpus_per_node=8",
    "cluster.time_min=90",
    "cluster.partition=h100",
    "cluster.cpus_per_task=64",
    "cluster.mem_gb=800",
    "cluster.account=proj42",
]


def sbatch_options(script: str) -> dict[str, str]:
    """The `#SBATCH --key=value` lines of a script as {key: value}."""
    return dict(re.findall(r"^#SBATCH --([\w-]+)=(\S+)$", script, flags=re.M))


def bash_syntax_ok(script: str, tmp_path: Path) -> None:
    path = tmp_path / "job.sbatch"
    path.write_text(script)
    done = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("recipe, nodes", [("sft_multinode", 2), ("grpo_vllm_server", 3), ("pipeline_multinode", 2)])
def test_resource_lines_are_the_config(recipe: str, nodes: int, tmp_path: Path) -> None:
    cfg, script = build_script([f"recipe={recipe}", *TWO_BY_EIGHT])
    bash_syntax_ok(script, tmp_path)
    assert script.startswith("#!/bin/bash\n")
    options = sbatch_options(script)
    assert options == {
        "job-name": recipe,
        "partition": "h100",
        "account": "proj42",
        "nodes": str(nodes),
        "ntasks-per-node": "1",
        "gpus-per-node": "8",
        "cpus-per-task": "64",
        "mem": "800G",
        "time": "90",
        "output": str(ROOT / "outputs/default/slurm/logs/%x-%j.out"),
    }
    # every #SBATCH line precedes the first command (sbatch stops reading them there)
    first_command = script.index("set -euo pipefail")
    assert all(m.start() < first_command for m in re.finditer("^#SBATCH", script, flags=re.M))
    # the cost line: nodes x 8 GPUs x 1.5 h at the gpu_node price
    price = float(cfg.cluster.price_per_gpu_hour)
    assert f"= {nodes * 8 * 1.5:g} GPU-hours, at most {nodes * 8 * 1.5 * price:.2f}" in script


def test_cpu_cluster_has_no_gpu_line_and_no_account(tmp_path: Path) -> None:
    _, script = build_script(["recipe=sft_multinode", "cluster=local", "recipe.model=/models/m"])
    bash_syntax_ok(script, tmp_path)
    options = sbatch_options(script)
    assert "gpus-per-node" not in options and "account" not in options
    assert options["partition"] == "debug" and options["nodes"] == "1" and options["time"] == "30"
    assert "--nproc-per-node 1 " in script  # no GPUs: one CPU process per node


def test_sft_script_rendezvous_and_entry_point(tmp_path: Path) -> None:
    _, script = build_script(["recipe=sft_multinode", *TWO_BY_EIGHT, "recipe.rdzv_port=29911"], ["sft.max_steps=7"])
    assert 'mapfile -t NODES < <(scontrol show hostnames "$SLURM_JOB_NODELIST")' in script
    assert "HEAD=${NODES[0]}" in script
    torchrun = next(line for line in script.splitlines() if "torch.distributed.run" in line)
    assert '--nnodes "$SLURM_NNODES" --nproc-per-node 8 ' in torchrun
    assert '--rdzv-backend c10d --rdzv-endpoint "$HEAD:29911"' in torchrun
    entry = next(line for line in script.splitlines() if "-m launch.ds_sft_entry" in line)
    # ds_sft_entry's CLI: model from conf/model/qwen3_1p7b, DeepSpeed ZeRO-3, dtype of the model, extra overrides last
    assert "--model Qwen/Qwen3-1.7B " in entry and '--rows "$ROWS" --out "$OUT"' in entry
    assert "--deepspeed zero3 --sft full --dtype bfloat16 --threads 8" in entry  # 64 cores / 8 processes
    assert entry.endswith("sft.max_steps=7")
    # rows are exported on the head node before training
    assert script.index("-m launch.export_sft_rows") < script.index("-m launch.ds_sft_entry")


def _fake_cluster(tmp_path: Path, nodes: list[str], vllm_dies: bool = False) -> dict[str, str]:
    """Stand-ins for scontrol, srun and the job's python that record each srun call to calls.log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.log"
    (bin_dir / "scontrol").write_text(
        "#!/bin/bash\n[[ $1 == show && $2 == hostnames ]] && printf '%s\\n' " + " ".join(nodes) + "\n"
    )
    # srun: record the call; the backgrounded vLLM server keeps running (or dies at once when asked to)
    (bin_dir / "srun").write_text(
        f'#!/bin/bash\necho "srun $*" >> {calls}\n'
        f"if [[ $* == *vllm-serve* ]]; then {'exit 1' if vllm_dies else 'exec sleep 97.3'}; fi\n"
    )
    # python: the /health probe answers (unless the server died), anything else succeeds
    (bin_dir / "python").write_text(
        f"#!/bin/bash\nif [[ $1 == -c ]]; then sleep 0.3; exit {1 if vllm_dies else 0}; fi\n"
    )
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    return {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "SLURM_JOB_NODELIST": "node[1-3]",
        "SLURM_NNODES": str(len(nodes)),
        "SLURM_JOB_ID": "4242",
        "SLURM_CPUS_PER_TASK": "64",
    }


def test_grpo_script_puts_vllm_on_the_last_node(tmp_path: Path) -> None:
    _, script = build_script(["recipe=grpo_vllm_server", *TWO_BY_EIGHT, f"workdir={tmp_path}", "python=python"])
    env = _fake_cluster(tmp_path, ["node1", "node2", "node3"])
    path = tmp_path / "grpo.sbatch"
    path.write_text(script)
    # The stand-in server sleeps 97 s holding the script's stdout: run() returns sooner only if the script's exit
    # trap stopped it (a server left running would keep its node busy until the job's time limit).
    started = time.monotonic()
    done = subprocess.run(["bash", str(path)], capture_output=True, text=True, env=env, timeout=90)
    assert time.monotonic() - started < 30
    assert done.returncode == 0, done.stderr
    assert "training on node1,node2, vLLM server on node3:8000" in done.stdout
    serve, train, evaluate = (tmp_path / "calls.log").read_text().splitlines()
    assert "--nodes=1 --ntasks=1" in serve and "--nodelist=node3" in serve and "trl.cli.main vllm-serve" in serve
    assert "--model Qwen/Qwen3-1.7B --tensor_parallel_size 1" in serve and "--port 8000" in serve
    assert "--nodes=2 --ntasks=2" in train and "--nodelist=node1,node2" in train
    assert "--nnodes 2 --nproc-per-node 8" in train and "--rdzv-endpoint node1:29500" in train
    assert "condition=grpo" in train and "rl=grpo_vllm_server" in train
    assert "rl.generation.vllm_server_host=node3 rl.generation.vllm_server_port=8000" in train
    assert train.endswith("only_stages=[data,base,rl]")  # eval runs once, afterwards, on one process
    assert "--nodelist=node1" in evaluate and "-m launch.pipeline" in evaluate and "only_stages" not in evaluate


def test_pipeline_script_runs_the_whole_condition_on_every_process(tmp_path: Path) -> None:
    _, script = build_script(
        ["recipe=pipeline_multinode", *TWO_BY_EIGHT, f"workdir={tmp_path}", "python=python", "recipe.rdzv_port=29912"],
        ["rl.max_steps=7"],
    )
    bash_syntax_ok(script, tmp_path)
    env = _fake_cluster(tmp_path, ["node1", "node2"])
    path = tmp_path / "pipeline.sbatch"
    path.write_text(script)
    done = subprocess.run(["bash", str(path)], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    (train,) = (tmp_path / "calls.log").read_text().splitlines()  # one srun: every stage, every process
    assert "--nodes=2 --ntasks=2 --ntasks-per-node=1" in train and "--kill-on-bad-exit=1" in train
    assert "--nnodes 2 --nproc-per-node 8" in train and "--rdzv-endpoint node1:29912" in train
    assert "-m launch.pipeline" in train and "condition=sft_grpo" in train and "threads=8" in train
    assert "model=qwen3_1p7b sft=lora" in train and train.endswith("rl.max_steps=7") and "only_stages" not in train


def test_pipeline_script_with_two_tasks_per_node_rehearses_two_nodes(tmp_path: Path) -> None:
    _, script = build_script(["recipe=pipeline_multinode", "cluster=local", "recipe.tasks_per_node=2"])
    bash_syntax_ok(script, tmp_path)
    options = sbatch_options(script)
    assert options["nodes"] == "1" and options["ntasks-per-node"] == "2" and options["cpus-per-task"] == "1"
    assert '--ntasks=$(("$SLURM_NNODES" * 2)) --ntasks-per-node=2' in script
    assert '--nnodes "$((SLURM_NNODES * 2))" --nproc-per-node 1 ' in script and "threads=1" in script
    with pytest.raises(RecipeError, match=r"recipe.tasks_per_node=3 is not usable; valid: 1..2"):
        build_script(["recipe=pipeline_multinode", "cluster=local", "recipe.tasks_per_node=3"])


def test_grpo_script_stops_when_the_server_dies(tmp_path: Path) -> None:
    _, script = build_script(["recipe=grpo_vllm_server", *TWO_BY_EIGHT, f"workdir={tmp_path}", "python=python"])
    env = _fake_cluster(tmp_path, ["node1", "node2", "node3"], vllm_dies=True)
    path = tmp_path / "grpo.sbatch"
    path.write_text(script)
    done = subprocess.run(["bash", str(path)], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 1
    assert "the vLLM server exited before answering /health" in done.stderr
    assert len((tmp_path / "calls.log").read_text().splitlines()) == 1  # training never started


def test_script_checks_it_got_the_nodes_it_asked_for(tmp_path: Path) -> None:
    _, script = build_script(["recipe=grpo_vllm_server", *TWO_BY_EIGHT, f"workdir={tmp_path}", "python=python"])
    env = _fake_cluster(tmp_path, ["node1", "node2"])
    path = tmp_path / "grpo.sbatch"
    path.write_text(script)
    done = subprocess.run(["bash", str(path)], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 1 and "expected 3 nodes, got 2" in done.stderr


def test_dry_run_prints_the_script_and_writes_nothing(tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "launch.slurm_recipes",
        "recipe=sft_multinode",
        "cluster=gpu_node",
        "cluster.nodes=2",
        f"output_root={tmp_path}",
        "--dry-run",
    ]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("#!/bin/bash\n# sft_multinode: DeepSpeed zero3 SFT on 2 nodes x 8 processes")
    assert sbatch_options(done.stdout)["nodes"] == "2"
    assert "cluster=gpu_node cluster.nodes=2" in done.stdout  # the command that wrote it, for provenance
    assert not any(tmp_path.iterdir())


def test_writes_an_executable_script_and_the_log_folder(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "launch.slurm_recipes", "recipe=grpo_vllm_server", f"output_root={tmp_path}"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    script = tmp_path / "default" / "slurm" / "grpo_vllm_server.sbatch"
    assert done.stdout.strip() == f"wrote {script}"
    assert os.access(script, os.X_OK) and sbatch_options(script.read_text())["nodes"] == "3"
    assert (tmp_path / "default" / "slurm" / "logs").is_dir()  # sbatch --output needs it to exist


def test_unknown_recipe_names_the_valid_ones() -> None:
    cmd = [sys.executable, "-m", "launch.slurm_recipes", "recipe=sft_multinodes", "--dry-run"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert "unknown recipe 'sft_multinodes'" in done.stderr
    assert "'grpo_vllm_server'" in done.stderr and "'sft_multinode'" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "overrides, pipeline, message",
    [
        (["recipe=grpo_vllm_server", "cluster=local"], [], "needs cluster.vllm_nodes=1"),
        (["recipe=grpo_vllm_server"], ["rl=grpo"], "rl=grpo has generation.backend='hf'"),
        (["recipe=grpo_vllm_server"], ["condition=trace_sft"], "condition 'trace_sft' has no rl stage"),
        (
            ["recipe=grpo_vllm_server", "recipe.vllm_tensor_parallel_size=4", "recipe.vllm_data_parallel_size=4"],
            [],
            "4 x 4 does not fit a node of cluster.gpus_per_node=8",
        ),
        (["recipe=sft_multinode"], ["model=tiny"], "model=tiny is built by the pipeline's base stage"),
        (["recipe=sft_multinode", "recipe.condition=grpo"], [], "condition 'grpo' has no SFT rows"),
        (["recipe=sft_multinode", "recipe.nproc_per_node=9"], [], "recipe.nproc_per_node=9 is not usable; valid: 1..8"),
        (["recipe=sft_multinode"], ["sft.bogus=1"], "unknown config key 'sft.bogus'"),
        (
            ["recipe=sft_multinode", "recipe.pipeline_overrides=[model=tiny]"],
            [],
            "list items holding '=' must be quoted",
        ),
        (["recipe=sft_multinode", "cluster.nodes=0"], [], "cluster.nodes=0 must be >= 1"),
    ],
)
def test_bad_settings_fail_clearly(overrides: list[str], pipeline: list[str], message: str) -> None:
    with pytest.raises(RecipeError, match=re.escape(message)):
        build_script(overrides, pipeline)


def test_log_summary_leads_with_the_exception(tmp_path: Path) -> None:
    log = tmp_path / "job-7.out"
    log.write_text(
        'step 1\nTraceback (most recent call last):\n  File "x.py", line 1\n'
        "data.hub.ModelNotAvailableError: model '/m' is not in the local cache\n"
        "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: \n"
        + "".join(f"line {i}\n" for i in range(30))
    )
    summary = log_summary(log, tail=3)
    assert summary.startswith("exceptions:\n  data.hub.ModelNotAvailableError: model '/m' is not in the local cache\n")
    assert "ChildFailedError" not in summary  # torchrun's wrapper says nothing about the cause
    assert summary.endswith("line 27\nline 28\nline 29")
    assert log_summary(tmp_path / "missing.out") == f"no log at {tmp_path / 'missing.out'}"
