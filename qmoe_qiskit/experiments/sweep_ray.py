"""Sweeps on Ray: one task per run, on a local cluster or one the user names."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import JobFileError

__all__ = ["run_on_ray"]


def run_on_ray(
    run_one: Callable[[Any, str, int], dict[str, Any]],
    runs: Sequence[Any],
    out: Path,
    address: str | None,
    workers: int | None,
    threads: int,
    done: Callable[[dict[str, Any]], None],
) -> None:
    """Run ``run_one(run, out, threads)`` for every run as a Ray task (``threads`` CPUs each),
    calling ``done`` with each summary as it arrives (retried up to 3 times if a worker dies).

    Raises:
        JobFileError: Ray is not installed.
    """
    try:
        import ray
    except ImportError:
        raise JobFileError(
            "Ray is not installed: pip install 'qmoe-qiskit[ray]', or pass --sequential"
        ) from None
    started_here = not ray.is_initialized()
    if started_here:
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address:
            ray.init(address=address, **options)
        else:
            # Ray starts workers at niceness 15, so beside any other busy process a local sweep
            # starves (measured: 4.5 % of a core beside two busy processes on 2 cores). A local
            # sweep is the user's foreground work: run its workers at normal priority, as Ray's
            # own job manager does for job drivers. An explicit RAY_worker_niceness wins.
            os.environ.setdefault("RAY_worker_niceness", "0")
            ray.init(num_cpus=workers, _node_ip_address="127.0.0.1", **options)
    try:
        task = ray.remote(num_cpus=threads, max_retries=3)(run_one)
        pending = [task.remote(run, str(out), threads) for run in runs]
        while pending:
            finished, pending = ray.wait(pending, num_returns=1)
            done(ray.get(finished[0]))
    finally:
        if started_here:
            ray.shutdown()
