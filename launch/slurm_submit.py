"""Hand an sbatch script to Slurm and follow it: submit it, poll its state, summarise its log when it fails."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

ACTIVE_STATES = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING", "STAGE_OUT"}
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt)\b[^:]*: \S")  # a traceback's last line


class SlurmJobError(RuntimeError):
    """sbatch refused a script, or a submitted job ended in a state other than COMPLETED."""


def submit(script: str | Path) -> str:
    """`sbatch script`; returns the job id."""
    if shutil.which("sbatch") is None:
        raise SlurmJobError(
            "sbatch is not on PATH (run on a Slurm login node, or use --dry-run / write the script only)"
        )
    cmd = ["sbatch", "--parsable", str(script)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SlurmJobError(
            f"{' '.join(cmd)} failed (exit {done.returncode}): {done.stderr.strip() or done.stdout.strip()}"
        )
    return done.stdout.strip().split(";")[0]


def job_state(job_id: str) -> str:
    """The Slurm state of `job_id` (PENDING, RUNNING, COMPLETED, FAILED, ...; UNKNOWN when Slurm no longer knows it).

    `scontrol` knows a job until MinJobAge after its end; `sacct` (with accounting) afterwards."""
    shown = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True)
    match = re.search(r"\bJobState=(\S+)", shown.stdout) if shown.returncode == 0 else None
    if match:
        return match.group(1)
    acct = subprocess.run(["sacct", "-n", "-P", "-X", "-o", "State", "-j", job_id], capture_output=True, text=True)
    words = acct.stdout.split() if acct.returncode == 0 else []
    return words[0] if words else "UNKNOWN"


def wait_for_job(job_id: str, poll_s: float = 1.0) -> str:
    """Poll until `job_id` has left the queue and return its final state (`sbatch --wait` sleeps up to 32 s between
    checks, which more than doubles a short job's wall time)."""
    while (state := job_state(job_id)) in ACTIVE_STATES:
        time.sleep(poll_s)
    return state


def log_summary(log: str | Path, tail: int = 15) -> str:
    """The exceptions a job's log reports (the last line of each Python traceback), then its last `tail` lines."""
    log = Path(log)
    if not log.exists():
        return f"no log at {log}"
    lines = log.read_text(errors="replace").splitlines()
    errors = [line for line in lines if EXCEPTION_LINE.match(line)]
    found = "exceptions:\n  " + "\n  ".join(errors[-5:]) + "\n" if errors else ""
    return f"{found}last lines of {log}:\n" + "\n".join(lines[-tail:])


def run_and_wait(script: str | Path, log: str | Path) -> str:
    """Submit `script`, wait for it and return its job id; raise `SlurmJobError` with the log's summary unless it
    COMPLETED. `log` is where the script's #SBATCH --output goes (`%j` is replaced by the job id)."""
    job_id = submit(script)
    print(f"submitted job {job_id}; log: {str(log).replace('%j', job_id)}", flush=True)
    state = wait_for_job(job_id)
    if state != "COMPLETED":
        raise SlurmJobError(f"job {job_id} ended {state}; {log_summary(str(log).replace('%j', job_id))}")
    return job_id
