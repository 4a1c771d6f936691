"""Process-group helpers for runs under torchrun / accelerate with several processes (ranks), shared by the pipeline
and every trainer (sft/ and rl/ cannot import launch/).

* `world_size()`, `rank()`, `is_main()` -- from the initialised process group, else from torchrun's environment
  (`WORLD_SIZE`, `RANK`); 1 / 0 / True in a plain single-process run.
* `init()` -- start the default process group when torchrun's environment says there are several processes (the
  backend accelerate would pick: gloo on CPU, nccl + gloo on CUDA) and a gloo group with a long timeout for the
  pipeline's own waits (a follower rank may wait hours at `broadcast` while the main rank builds a teacher stage).
* `broadcast(obj)` -- the main rank's picklable `obj` on every rank (a barrier as well: every rank must call it).
* `main_first(fn)` -- run `fn` on the main rank, then on the others (a cache the first call writes and the later
  ones read, e.g. an adapter merged into its base once).
* `allow_indexed_cpu_location()` -- lets `torch.load(map_location=torch.device("cpu", 0))` work: under several CPU
  processes accelerate's device is `cpu:<index>`, and transformers resumes the optimizer state with that map
  location, which torch cannot restore (`don't know how to restore data location ... (tagged with cpu:0)`).
"""

from __future__ import annotations

import datetime
import logging
import os
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
WAIT_TIMEOUT = datetime.timedelta(hours=48)  # how long a follower rank waits for the main rank's stage
_WAIT_GROUP: Any = None
_CPU_INDEX_REGISTERED = False


def _dist() -> Any:
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


def world_size() -> int:
    dist = _dist()
    return dist.get_world_size() if dist else int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    dist = _dist()
    return dist.get_rank() if dist else int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    return rank() == 0


def init() -> bool:
    """Start the process groups when `WORLD_SIZE` > 1 (idempotent); True when the run has several processes."""
    global _WAIT_GROUP
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        if torch.cuda.is_available() and os.environ.get("CUDA_VISIBLE_DEVICES") != "":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
            backend = "cuda:nccl,cpu:gloo"
        else:
            backend = "gloo"
        dist.init_process_group(backend=backend)
        log.info("rank %d of %d: process group started (%s)", dist.get_rank(), dist.get_world_size(), backend)
    allow_indexed_cpu_location()  # several CPU processes resume their optimizer state from `cpu:<index>`
    if _WAIT_GROUP is None:
        _WAIT_GROUP = dist.new_group(backend="gloo", timeout=WAIT_TIMEOUT)
    return dist.get_world_size() > 1


def broadcast(obj: Any = None) -> Any:
    """The main rank's `obj` on every rank (each rank passes its own; only rank 0's counts). Single process: `obj`."""
    dist = _dist()
    if dist is None or dist.get_world_size() == 1:
        return obj
    box = [obj if dist.get_rank() == 0 else None]
    dist.broadcast_object_list(box, src=0, group=_WAIT_GROUP)
    return box[0]


def main_first(fn: Callable[[], T]) -> T:
    """`fn()` on the main rank first, then on the others (which then find what it wrote). Single process: `fn()`."""
    if _dist() is None or world_size() == 1:
        return fn()
    if is_main():
        try:
            result = fn()
        except BaseException:
            broadcast(False)
            raise
        broadcast(True)
        return result
    if not broadcast(None):
        raise RuntimeError("the main rank failed (see its log); this rank stops too")
    return fn()


def allow_indexed_cpu_location() -> None:
    """Register (once) a torch deserializer for the storage location `cpu:<index>`: plain CPU memory."""
    global _CPU_INDEX_REGISTERED
    if _CPU_INDEX_REGISTERED:
        return
    import torch.serialization

    def deserialize(storage: Any, location: str) -> Any:
        return storage if location.startswith("cpu:") and location[4:].isdigit() else None

    torch.serialization.register_package(11, lambda storage: None, deserialize)  # after the plain "cpu" (10)
    _CPU_INDEX_REGISTERED = True
