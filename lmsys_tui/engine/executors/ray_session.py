"""Joining or starting Ray for a step, shared by the embed and cluster executors."""

from __future__ import annotations

import logging

RAY_EXTRA = 'pip install "ray[data,client]==2.60.0" (the [ray] extra)'


def connect(address: str | None, workers: int | None, error: type[Exception]) -> bool:
    """Join the cluster at `address`, or start a local Ray; True when started here.

    Raises:
        error: Ray is not installed (the message says what to install).
    """
    try:
        import ray
    except ImportError:
        raise error(f'executor = "ray" needs Ray: {RAY_EXTRA}') from None
    for name in ("ray", "ray.data"):  # the step reports what happens; Ray's chatter is noise
        logging.getLogger(name).setLevel(logging.ERROR)
    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
        return False
    from ..embedding.embedders import usable_cores

    # One logical CPU beyond the workers: Ray Data lists and reads the shards in tasks
    # that need one, and the actors would otherwise hold every CPU (a deadlock).
    ray.init(
        num_cpus=(workers or usable_cores()) + 1,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        object_store_memory=256 * 2**20,
    )
    return True


def ray_workers(asked: int | None) -> int:
    """Workers to run: as asked, at most the CPUs Ray has less one (kept for Ray Data's
    read tasks); by default that many."""
    import ray

    room = max(1, int(ray.cluster_resources().get("CPU", 1)) - 1)
    return min(asked, room) if asked else room


def first_line(error: BaseException) -> str:
    """Ray's errors wrap the worker's traceback: the first line says what went wrong."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
