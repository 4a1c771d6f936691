"""`python -m launch.slurm_recipes recipe=<name> [overrides] [--dry-run | --submit [--wait]] [-- pipeline overrides]`:
write a multi-node sbatch script from config (conf/slurm_recipe.yaml), print it, or write it and hand it to `sbatch`.

Recipes (conf/recipe/):
  sft_multinode     one torchrun per node, c10d rendezvous on the first node, launch.ds_sft_entry with DeepSpeed
  grpo_vllm_server  cluster.nodes training nodes + 1 node running `trl vllm-serve`; the training nodes run
                    launch.pipeline under torchrun with the rl group in vLLM server mode pointed at that node
  pipeline_multinode  one torchrun per node running launch.pipeline (any condition): training stages on every
                    process, the other stages on global rank 0 while the rest wait
The #SBATCH resource lines come from the `cluster` group; the commands from the recipe and the pipeline config
its `pipeline_overrides` compose (arguments after `--` are appended to them), which is checked here so that a bad
override fails now rather than in the queue.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from launch.config_check import ConfigError, compose, group_options
from launch.slurm_submit import SlurmJobError, run_and_wait, submit

ROOT = Path(__file__).resolve().parents[1]
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class RecipeError(ValueError):
    """A recipe setting that cannot produce a working job (the message names the value and what would be valid)."""


def q(value: Any) -> str:
    """`value` quoted for bash."""
    return shlex.quote(str(value))


def _pipeline_config(recipe: DictConfig) -> DictConfig:
    """The pipeline config the job will run with (composed now, so a bad override fails here)."""
    overrides = [f"condition={recipe.condition}", *map(str, recipe.pipeline_overrides)]
    try:
        return compose(overrides)
    except ConfigError as error:
        raise RecipeError(f"recipe {recipe.name!r}: recipe.pipeline_overrides / recipe.condition: {error}") from None


def _nproc(cfg: DictConfig) -> int:
    n = cfg.recipe.nproc_per_node
    n = (int(cfg.cluster.gpus_per_node) or 1) if n is None else int(n)
    if n < 1 or (cfg.cluster.gpus_per_node and n > int(cfg.cluster.gpus_per_node)):
        raise RecipeError(
            f"recipe.nproc_per_node={n} is not usable; valid: 1..{cfg.cluster.gpus_per_node or 'any'} "
            f"(cluster.gpus_per_node={cfg.cluster.gpus_per_node})"
        )
    return n


def _threads(cfg: DictConfig, nproc: int) -> int:
    t = cfg.recipe.threads
    return max(1, int(cfg.cluster.cpus_per_task) // nproc) if t is None else int(t)


def _path(cfg: DictConfig, value: Any) -> Path:
    """`value` as an absolute path (a relative one is relative to the job's workdir)."""
    path = Path(str(value))
    return path if path.is_absolute() else _workdir(cfg) / path


def _workdir(cfg: DictConfig) -> Path:
    return Path(str(cfg.workdir)).resolve() if cfg.workdir else ROOT


def _check_cluster(cluster: DictConfig) -> None:
    for key in ("nodes", "cpus_per_task", "mem_gb", "time_min"):
        if int(cluster[key]) < 1:
            raise RecipeError(f"cluster.{key}={cluster[key]} must be >= 1")
    if int(cluster.gpus_per_node) < 0:
        raise RecipeError(f"cluster.gpus_per_node={cluster.gpus_per_node} must be >= 0 (0: CPU-only nodes)")


def budget_line(cluster: DictConfig, nodes: int) -> str:
    """The comment line giving the job's most GPU-hours and price at the time limit."""
    hours = int(cluster.time_min) / 60
    gpus = nodes * int(cluster.gpus_per_node)
    if not gpus:
        return f"# Budget: {nodes} CPU node(s) x {hours:g} h (no GPUs)."
    price = float(cluster.price_per_gpu_hour or 0.0)
    cost = f", at most {gpus * hours * price:.2f} at {price:g} per GPU-hour" if price else ""
    return f"# Budget: {nodes} nodes x {cluster.gpus_per_node} GPUs x {hours:g} h = {gpus * hours:g} GPU-hours{cost}."


def sbatch_header(cfg: DictConfig, nodes: int, title: str, command: str, tasks_per_node: int = 1) -> list[str]:
    """Shebang, provenance comments and the #SBATCH lines: resources exactly as in `cfg.cluster` (a node's CPUs split
    between its `tasks_per_node` tasks)."""
    cluster = cfg.cluster
    lines = [
        "#!/bin/bash",
        f"# {cfg.recipe.name}: {title}",
        f"# Written by `python -m launch.slurm_recipes {command}`; change the config and re-run it, not this file.",
        budget_line(cluster, nodes),
        f"#SBATCH --job-name={cfg.recipe.job_name}",
        f"#SBATCH --partition={cluster.partition}",
    ]
    if cluster.account:
        lines.append(f"#SBATCH --account={cluster.account}")
    lines += [f"#SBATCH --nodes={nodes}", f"#SBATCH --ntasks-per-node={tasks_per_node}"]
    if int(cluster.gpus_per_node) > 0:
        lines.append(f"#SBATCH --gpus-per-node={cluster.gpus_per_node}")
    lines += [
        f"#SBATCH --cpus-per-task={int(cluster.cpus_per_task) // tasks_per_node}",
        f"#SBATCH --mem={cluster.mem_gb}G",
        f"#SBATCH --time={cluster.time_min}",
        f"#SBATCH --output={_path(cfg, cfg.log_dir) / '%x-%j.out'}",
        "",
        "set -euo pipefail",
        f"cd {q(_workdir(cfg))}",
    ]
    lines += [str(line) for line in (cluster.setup or [])]
    for key, value in (cfg.recipe.env or {}).items():
        if not ENV_NAME.match(str(key)):
            raise RecipeError(f"recipe.env key {key!r} is not a valid environment variable name")
        lines.append(f"export {key}={q(value)}")
    lines += [
        f"PYTHON={q(cfg.python)}",
        'mapfile -t NODES < <(scontrol show hostnames "$SLURM_JOB_NODELIST")',
        f'(( ${{#NODES[@]}} == {nodes} )) || {{ echo "error: expected {nodes} nodes, got ${{#NODES[@]}}: ${{NODES[*]}}" >&2; exit 1; }}',  # noqa: E501
    ]
    return lines


# Bash words the scripts use (quoted for the shell).
HEAD, NNODES, VLLM_NODE, TRAIN_LIST = '"$HEAD"', '"$SLURM_NNODES"', '"$VLLM_NODE"', '"$TRAIN_LIST"'


def _srun(nodes: str, nodelist: str | None = None, kill_on_bad_exit: bool = True, tasks_per_node: int = 1) -> str:
    """An srun prefix: one task per node (or `tasks_per_node`), every CPU of the job's task (srun does not inherit
    --cpus-per-task)."""
    tasks = nodes if tasks_per_node == 1 else f"$(({nodes} * {tasks_per_node}))"
    parts = [
        f"srun --nodes={nodes} --ntasks={tasks} --ntasks-per-node={tasks_per_node}",
        '--cpus-per-task="$SLURM_CPUS_PER_TASK"',
    ]
    if nodelist:
        parts.append(f"--nodelist={nodelist}")
    if kill_on_bad_exit:
        parts.append("--kill-on-bad-exit=1")
    return " ".join(parts)


def _torchrun(nnodes: str, nproc: int, port: int) -> str:
    """torchrun (as `python -m torch.distributed.run`) with a c10d rendezvous on $HEAD."""
    return (
        f'"$PYTHON" -m torch.distributed.run --nnodes {nnodes} --nproc-per-node {nproc} '
        f'--rdzv-id "$SLURM_JOB_ID" --rdzv-backend c10d --rdzv-endpoint "$HEAD:{int(port)}"'
    )


def render_sft_multinode(cfg: DictConfig, command: str) -> str:
    """Multi-node DeepSpeed SFT: (export rows on the first node,) then one torchrun per node."""
    recipe = cfg.recipe
    pipe = _pipeline_config(recipe)
    if pipe.condition.get("sft_data") is None and recipe.rows is None:
        raise RecipeError(
            f"condition {pipe.condition.name!r} has no SFT rows (condition.sft_data is null); "
            "valid: a condition with an SFT stage (answer_only_sft, trace_sft), or set recipe.rows"
        )
    model = recipe.model if recipe.model is not None else pipe.model.name_or_path
    if not model:
        raise RecipeError(
            f"recipe sft_multinode needs a student that exists before the job, but model={pipe.model.name} "
            "is built by the pipeline's base stage; valid: recipe.model=<directory or hub id>, or a hub "
            "model in recipe.pipeline_overrides (model=qwen3_1p7b, ...)"
        )
    nodes, nproc = int(cfg.cluster.nodes), _nproc(cfg)
    threads = _threads(cfg, nproc)
    out = _path(cfg, recipe.out)
    rows = _path(cfg, recipe.rows) if recipe.rows is not None else out / "rows.jsonl"
    passed = [str(o) for o in recipe.pipeline_overrides]  # ds_sft_entry composes the same config (last one wins)
    lines = sbatch_header(
        cfg, nodes, f"DeepSpeed {pipe.deepspeed.name} SFT on {nodes} nodes x {nproc} processes", command
    )
    lines += [
        "HEAD=${NODES[0]}",
        f"ROWS={q(rows)}",
        f"OUT={q(out)}",
        f'echo "[{recipe.name}] job $SLURM_JOB_ID on ${{NODES[*]}}; rendezvous $HEAD:{int(recipe.rdzv_port)}"',
    ]
    if recipe.rows is None:
        lines += [
            "# 1. the condition's SFT rows (data + teacher stages, cached under output_root/shared), on the first node",
            f'{_srun("1", nodelist=HEAD)} "$PYTHON" -m launch.export_sft_rows --out "$ROWS" '
            + " ".join(
                q(o)
                for o in [
                    f"output_root={_path(cfg, cfg.output_root)}",
                    f"run_name={cfg.run_name}",
                    f"condition={recipe.condition}",
                    *map(str, recipe.pipeline_overrides),
                ]
            ),
        ]
    else:
        lines += ['[[ -s $ROWS ]] || { echo "error: recipe.rows=$ROWS is missing or empty" >&2; exit 1; }']
    lines += [
        "# 2. one torchrun per node, every process trains (DeepSpeed shards across all of them)",
        f"{_srun(NNODES)} \\",
        f"  {_torchrun(NNODES, nproc, recipe.rdzv_port)} \\",
        f'  -m launch.ds_sft_entry --model {q(model)} --rows "$ROWS" --out "$OUT" '
        f"--deepspeed {q(pipe.deepspeed.name)} --sft {q(pipe.sft.name)} --dtype {q(pipe.model.dtype)} "
        f"--threads {threads}" + "".join(f" {q(o)}" for o in passed),
        f'echo "[{recipe.name}] done: $OUT"',
    ]
    return "\n".join(lines) + "\n"


def render_grpo_vllm_server(cfg: DictConfig, command: str) -> str:
    """GRPO on cluster.nodes training nodes with `trl vllm-serve` on one more node (the last of the job)."""
    recipe, cluster = cfg.recipe, cfg.cluster
    if int(cluster.vllm_nodes) != 1:
        raise RecipeError(
            f"recipe grpo_vllm_server needs cluster.vllm_nodes=1 (one node runs the vLLM server the "
            f"trainer talks to), got {cluster.vllm_nodes}; valid: 1"
        )
    pipe = _pipeline_config(recipe)
    gen = pipe.rl.generation
    if "rl" not in list(pipe.condition.stages):
        raise RecipeError(
            f"condition {pipe.condition.name!r} has no rl stage (stages {list(pipe.condition.stages)}); "
            "valid: grpo, sft_grpo"
        )
    if gen.backend != "vllm" or gen.vllm_mode != "server":
        raise RecipeError(
            f"recipe grpo_vllm_server needs the rl group in vLLM server mode, but rl={pipe.rl.name} has "
            f"generation.backend={gen.backend!r}, vllm_mode={gen.vllm_mode!r}; valid: rl=grpo_vllm_server "
            "in recipe.pipeline_overrides"
        )
    serve_model = recipe.vllm_model if recipe.vllm_model is not None else pipe.model.name_or_path
    if not serve_model:
        raise RecipeError(
            f"recipe grpo_vllm_server: the vLLM server needs the rl stage's start model before the job, "
            f"but model={pipe.model.name} is built by the pipeline; valid: recipe.vllm_model=<directory or "
            "hub id> (for sft_grpo: the SFT stage's final/ folder), or a hub model (model=qwen3_1p7b)"
        )
    tp, dp = int(recipe.vllm_tensor_parallel_size), int(recipe.vllm_data_parallel_size)
    if tp < 1 or dp < 1 or (int(cluster.gpus_per_node) and tp * dp > int(cluster.gpus_per_node)):
        raise RecipeError(
            f"recipe.vllm_tensor_parallel_size x vllm_data_parallel_size = {tp} x {dp} does not fit a node "
            f"of cluster.gpus_per_node={cluster.gpus_per_node} GPUs; valid: a product of 1..{cluster.gpus_per_node}"
        )
    port = int(gen.vllm_server_port)
    max_len = recipe.vllm_max_model_len or int(pipe.rl.max_prompt_length) + int(pipe.rl.max_completion_length)
    n_train, nproc = int(cluster.nodes), _nproc(cfg)
    total = n_train + 1
    threads = _threads(cfg, nproc)
    # The pipeline's own overrides come after ours (the last value of a key wins), the server address last of all.
    args = [
        f"output_root={_path(cfg, cfg.output_root)}",
        f"run_name={cfg.run_name}",
        f"threads={threads}",
        f"condition={recipe.condition}",
        *map(str, recipe.pipeline_overrides),
    ]
    pipeline = (
        "-m launch.pipeline"
        + "".join(f" {q(o)}" for o in args)
        + f' rl.generation.vllm_server_host="$VLLM_NODE" rl.generation.vllm_server_port={port}'
    )
    stages = [str(s) for s in pipe.condition.stages]
    train_stages = [s for s in stages if s != "eval"]  # every rank runs these; eval runs once, afterwards
    serve = (
        f'"$PYTHON" -m trl.cli.main vllm-serve --model {q(serve_model)} --tensor_parallel_size {tp} '
        f"--data_parallel_size {dp} --host 0.0.0.0 --port {port} --gpu_memory_utilization "
        f"{float(recipe.vllm_gpu_memory_utilization)} --max_model_len {int(max_len)} --dtype {q(recipe.vllm_dtype)}"
    )
    lines = sbatch_header(
        cfg, total, f"GRPO on {n_train} training nodes x {nproc} processes + 1 vLLM server node", command
    )
    lines += [
        f'TRAIN_NODES=("${{NODES[@]:0:{n_train}}}")',
        "VLLM_NODE=${NODES[-1]}",
        "HEAD=${TRAIN_NODES[0]}",
        'TRAIN_LIST=$(IFS=,; echo "${TRAIN_NODES[*]}")',
        f'echo "[{recipe.name}] job $SLURM_JOB_ID: training on $TRAIN_LIST, vLLM server on $VLLM_NODE:{port}"',
        "# 1. the vLLM server on the last node (serves the rl stage's start model; the trainer pushes its weights)",
        f"{_srun('1', nodelist=VLLM_NODE, kill_on_bad_exit=False)} {serve} &",
        "VLLM_PID=$!",
        "trap 'kill \"$VLLM_PID\" 2>/dev/null || true' EXIT",
        f"DEADLINE=$((SECONDS + {int(recipe.vllm_startup_timeout_s)}))",
        f"until \"$PYTHON\" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)' "
        f'"http://$VLLM_NODE:{port}/health" 2>/dev/null; do',
        '  kill -0 "$VLLM_PID" 2>/dev/null || { echo "error: the vLLM server exited before answering /health" >&2; exit 1; }',  # noqa: E501
        f'  (( SECONDS < DEADLINE )) || {{ echo "error: no vLLM server on $VLLM_NODE:{port} after '
        f'{int(recipe.vllm_startup_timeout_s)} s (recipe.vllm_startup_timeout_s)" >&2; exit 1; }}',
        "  sleep 10",
        "done",
        f"# 2. training ({', '.join(train_stages)}): one torchrun per training node, rollouts from the server",
        f"{_srun(str(n_train), nodelist=TRAIN_LIST)} \\",
        f"  {_torchrun(str(n_train), nproc, recipe.rdzv_port)} \\",
        f"  {pipeline} {q('only_stages=[' + ','.join(train_stages) + ']')}",
    ]
    if "eval" in stages:
        lines += [
            "# 3. the held-out evaluation, once, on the first training node (the trained stages are complete: skipped)",
            f'{_srun("1", nodelist=HEAD)} "$PYTHON" {pipeline}',
        ]
    lines += [f'echo "[{recipe.name}] done"']
    return "\n".join(lines) + "\n"


def render_pipeline_multinode(cfg: DictConfig, command: str) -> str:
    """A whole condition through launch.pipeline: one torchrun per node (or `recipe.tasks_per_node`, each its own
    rendezvous "node": several on one node rehearse a multi-node job); every rank runs the command (training stages
    together, the others on global rank 0: launch/conditions.py run_on_ranks)."""
    recipe = cfg.recipe
    pipe = _pipeline_config(recipe)
    nodes, nproc, agents = int(cfg.cluster.nodes), _nproc(cfg), int(recipe.tasks_per_node)
    if agents < 1 or agents > int(cfg.cluster.cpus_per_task):
        raise RecipeError(
            f"recipe.tasks_per_node={agents} is not usable; valid: 1..{cfg.cluster.cpus_per_task} (each task needs a "
            f"CPU of cluster.cpus_per_task={cfg.cluster.cpus_per_task})"
        )
    threads = _threads(cfg, nproc * agents)
    args = [
        f"output_root={_path(cfg, cfg.output_root)}",
        f"run_name={cfg.run_name}",
        f"threads={threads}",
        f"condition={recipe.condition}",
        *map(str, recipe.pipeline_overrides),
    ]
    per_node = f"{agents} torchrun tasks x {nproc}" if agents > 1 else str(nproc)
    title = f"condition {pipe.condition.name} through launch.pipeline on {nodes} nodes x {per_node} processes"
    lines = sbatch_header(cfg, nodes, title, command, tasks_per_node=agents)
    rendezvous_nodes = NNODES if agents == 1 else f'"$((SLURM_NNODES * {agents}))"'
    lines += [
        "HEAD=${NODES[0]}",
        f'echo "[{recipe.name}] job $SLURM_JOB_ID on ${{NODES[*]}}; rendezvous $HEAD:{int(recipe.rdzv_port)}"',
        f"# stages {', '.join(map(str, pipe.condition.stages))}: training ones on every process, the rest on rank 0",
        f"{_srun(NNODES, tasks_per_node=agents)} \\",
        f"  {_torchrun(rendezvous_nodes, nproc, recipe.rdzv_port)} \\",
        "  -m launch.pipeline" + "".join(f" {q(o)}" for o in args),
        f'echo "[{recipe.name}] done: {_path(cfg, cfg.output_root) / str(cfg.run_name) / str(pipe.condition.name)}"',
    ]
    return "\n".join(lines) + "\n"


RECIPES: dict[str, Callable[[DictConfig, str], str]] = {
    "sft_multinode": render_sft_multinode,
    "grpo_vllm_server": render_grpo_vllm_server,
    "pipeline_multinode": render_pipeline_multinode,
}


def _check_syntax(overrides: Sequence[str]) -> None:
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    for override in overrides:
        try:
            OverridesParser.create().parse_overrides([override])
        except OverrideParseException as error:
            raise RecipeError(
                f"cannot parse override {override!r} ({str(error).splitlines()[0]}); list items holding '=' "
                "must be quoted, e.g. 'recipe.pipeline_overrides=[\"model=tiny\"]', or pass pipeline "
                "overrides after `--`"
            ) from None


def build_script(overrides: Sequence[str], pipeline_overrides: Sequence[str] = ()) -> tuple[DictConfig, str]:
    """Compose conf/slurm_recipe.yaml with `overrides` (plus `pipeline_overrides` appended to
    recipe.pipeline_overrides); return the config and the sbatch script text."""
    _check_syntax(overrides)
    _check_syntax(pipeline_overrides)
    cfg = compose(overrides, config_name="slurm_recipe")  # an unknown recipe= / cluster= option fails here
    if pipeline_overrides:
        cfg.recipe.pipeline_overrides = [*cfg.recipe.pipeline_overrides, *pipeline_overrides]
    if cfg.recipe.name not in RECIPES:
        raise RecipeError(
            f"recipe {cfg.recipe.name!r} (conf/recipe/) has no renderer in launch/slurm_recipes.py; "
            f"valid recipes: {sorted(RECIPES)}"
        )
    _check_cluster(cfg.cluster)
    OmegaConf.resolve(cfg)
    command = " ".join(shlex.quote(o) for o in overrides) or f"recipe={cfg.recipe.name}"
    if pipeline_overrides:
        command += " -- " + " ".join(shlex.quote(o) for o in pipeline_overrides)
    return cfg, RECIPES[cfg.recipe.name](cfg, command)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="overrides: recipe=<%s> cluster=<%s> cluster.nodes=2 recipe.rows=... "
        "(conf/slurm_recipe.yaml)" % (" | ".join(RECIPES), " | ".join(group_options("cluster"))),
    )
    parser.add_argument("--dry-run", action="store_true", help="print the script; write nothing, submit nothing")
    parser.add_argument("--submit", action="store_true", help="write the script, then sbatch it")
    parser.add_argument(
        "--wait", action="store_true", help="with --submit: block until the job ends; fail unless it completed"
    )
    argv = list(sys.argv[1:] if argv is None else argv)
    pipeline_overrides = argv[argv.index("--") + 1 :] if "--" in argv else []
    args, overrides = parser.parse_known_args(argv[: argv.index("--")] if "--" in argv else argv)
    try:
        bad = [o for o in overrides if "=" not in o]
        if bad:
            raise RecipeError(f"unexpected arguments {bad}; valid: --dry-run, --submit, --wait and key=value overrides")
        if args.wait and not args.submit:
            raise RecipeError("--wait only makes sense with --submit")
        cfg, text = build_script(overrides, pipeline_overrides)
        if args.dry_run:
            print(text, end="")
            return
        script = _path(cfg, cfg.script)
        script.parent.mkdir(parents=True, exist_ok=True)
        _path(cfg, cfg.log_dir).mkdir(parents=True, exist_ok=True)  # Slurm does not create the --output folder
        script.write_text(text)
        script.chmod(0o755)
        print(f"wrote {script}")
        log = _path(cfg, cfg.log_dir) / f"{cfg.recipe.job_name}-%j.out"
        if args.submit and args.wait:
            print(f"job {run_and_wait(script, log)} COMPLETED")
        elif args.submit:
            job_id = submit(script)
            print(f"submitted job {job_id}; log: {str(log).replace('%j', job_id)}")
    except (ConfigError, RecipeError, SlurmJobError) as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
