"""Quiet terminals for jobs that share one: the environment that turns progress bars off in a child process, and the
redirect of a local multirun job's whole output to a file in its run folder, with one terminal line when the job
starts and one when it ends (a sweep of 24 jobs prints ~50 lines, not thousands of progress bars)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Progress bars off in a child process whose output goes to a file (they would fill the file, not a terminal).
QUIET_ENV = {
    "HYDRA_FULL_ERROR": "1",
    "TQDM_DISABLE": "1",  # tqdm >= 4.66 reads TQDM_<arg> defaults: every bar (trainers, teacher, eval) off
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "TOKENIZERS_PARALLELISM": "false",
}

# Hydra launchers whose jobs share this terminal (run here or in local worker processes); a Slurm job (submitit) has
# its own .out/.err files and prints as a single run does.
LOCAL_LAUNCHERS = ("BasicLauncher", "JoblibLauncher")


def local_multirun_job() -> tuple[Path, str] | None:
    """(the job's output folder, a label naming its overrides) for a job of a local Hydra multirun; None otherwise
    (a single run, a Slurm job, or no Hydra)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None
    hydra_cfg = HydraConfig.get()
    launcher = str(hydra_cfg.launcher.get("_target_", "")).rsplit(".", 1)[-1]
    if hydra_cfg.mode != RunMode.MULTIRUN or launcher not in LOCAL_LAUNCHERS:
        return None
    label = f"job {hydra_cfg.job.num} ({hydra_cfg.job.override_dirname or 'no overrides'})"
    return Path(hydra_cfg.runtime.output_dir), label


@contextmanager
def output_to_file(path: Path, label: str) -> Iterator[None]:
    """File descriptors 1 and 2 (prints, progress bars, log records, warnings from C code) appended to `path` while
    the block runs; `<label>: started`, then `finished in N s` or `failed after N s (see <path>)` on the terminal."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    terminal_out, terminal_err = os.dup(1), os.dup(2)
    started = time.monotonic()
    os.write(terminal_err, f"{label}: started, output in {path}\n".encode())
    finished = False
    try:
        with path.open("a", encoding="utf-8") as handle:
            os.dup2(handle.fileno(), 1)
            os.dup2(handle.fileno(), 2)
            try:
                yield
                finished = True
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(terminal_out, 1)
                os.dup2(terminal_err, 2)
    finally:
        seconds = time.monotonic() - started
        line = f"finished in {seconds:.0f} s" if finished else f"failed after {seconds:.0f} s (see {path})"
        os.write(terminal_err, f"{label}: {line}\n".encode())
        os.close(terminal_out)
        os.close(terminal_err)
