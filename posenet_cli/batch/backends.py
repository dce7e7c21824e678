"""Where batch tasks run: this process, spawned worker processes on this machine, or a Ray cluster.

Every backend runs `worker.run_task` and yields the results as tasks finish (any order). Ray is imported
only by `RayBackend`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from ..errors import first_line
from ..models.environment import cpu_count
from .plan import BatchError, BatchJob, Task
from .worker import TaskResult, run_task

# Memory one worker process needs at most (its runtime, model and frames); `default_workers` starts no
# more workers than half the memory holds. How the default was measured: docs/benchmarks.md, "Batch".
WORKER_MEMORY = 0.85e9


def default_workers(cores: int | None = None, memory: float | None = None) -> int:
    """The measured best number of local workers: one per core, as many as half the memory holds."""
    cores = cores or cpu_count()
    if memory is None:
        try:
            memory = float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (AttributeError, ValueError, OSError):
            return cores
    return max(1, min(cores, int(memory / 2 / WORKER_MEMORY)))


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """Runtime threads (LiteRT's, or TensorFlow's intra- and inter-op) for each of `workers` processes: no
    oversubscription."""
    return max(1, (cores or cpu_count()) // max(1, workers))


class Backend(Protocol):
    """Runs tasks and yields their results as they finish (any order)."""

    name: str

    @property
    def workers(self) -> int: ...

    def run(self, job: BatchJob, tasks: Sequence[Task], stop: Callable[[], bool],
            on_frame: Callable[[int], None]) -> Iterator[TaskResult]:
        """`on_frame(1)` per video frame done, where the backend can tell (else progress moves per task)."""

    def close(self) -> None: ...


class InlineBackend:
    """One worker: this process, no start-up cost; its runtime on `threads` threads (None: its default, every
    core)."""

    name = "inline"
    workers = 1

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads

    def run(self, job: BatchJob, tasks: Sequence[Task], stop: Callable[[], bool],
            on_frame: Callable[[int], None] = lambda n: None) -> Iterator[TaskResult]:
        for task in tasks:
            if stop():
                return
            yield run_task(job, task, self.threads, stop, on_frame)

    def close(self) -> None:
        pass


def _lost(task: Task, why: str) -> TaskResult:
    return TaskResult(task.item, task.part, False, error=why)


_WORKER: dict[str, Any] = {}


def _init_local_worker(job: BatchJob, threads: int) -> None:
    """A spawned worker: Ctrl-C is the driver's to handle; keep the job for its tasks."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER.update(job=job, threads=threads)


def _run_local_task(task: Task) -> TaskResult:
    return run_task(_WORKER["job"], task, _WORKER["threads"])


class LocalBackend:
    """`workers` spawned processes on this machine (fewer when there are fewer tasks), each with its
    own runtime (LiteRT or TensorFlow) on `threads` threads (default: cores // the processes started). If a
    worker process dies, the tasks it took down with it are run again on fresh processes, up to
    `retries` times."""

    name = "local"

    def __init__(self, workers: int, threads: int | None = None, retries: int = 2) -> None:
        if workers < 1:
            raise BatchError(f"`workers` must be 1 or more (got {workers})")
        self._workers = workers
        self.threads = threads  # None: cores // the processes started (fewer tasks than workers: more each)
        self.retries = retries

    @property
    def workers(self) -> int:
        return self._workers

    def run(self, job: BatchJob, tasks: Sequence[Task], stop: Callable[[], bool],
            on_frame: Callable[[int], None] = lambda n: None) -> Iterator[TaskResult]:
        import multiprocessing
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
        from concurrent.futures.process import BrokenProcessPool

        attempts = dict.fromkeys(tasks, 0)
        remaining = list(tasks)
        while remaining:
            procs = min(self._workers, len(remaining))
            pool = ProcessPoolExecutor(procs, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_init_local_worker,
                                       initargs=(job, self.threads or threads_per_worker(procs)))
            futures = {pool.submit(_run_local_task, t): t for t in remaining}
            remaining = []
            try:
                while futures:
                    done, _ = wait(futures, timeout=0.2, return_when=FIRST_COMPLETED)
                    if stop():
                        return
                    for fut in done:
                        task = futures.pop(fut)
                        try:
                            yield fut.result()
                        except BrokenProcessPool:  # a worker died: every unfinished task is lost with it
                            attempts[task] += 1
                            if attempts[task] > self.retries:
                                yield _lost(task, f"worker process died ({attempts[task]} tries)")
                            else:
                                remaining.append(task)
            finally:
                for proc in list(getattr(pool, "_processes", {}).values()):  # stopping: don't wait for tasks
                    if futures and proc.is_alive():
                        proc.terminate()
                pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        pass


def _ray_task(job: BatchJob, task: Task, threads: int) -> TaskResult:
    return run_task(job, task, threads)


def _check_reachable(address: str) -> None:
    """Fail in seconds, with one line, on a Ray address nothing listens at (Ray itself retries for
    minutes, printing C++ warnings). "auto" and other addresses without a port are left to Ray."""
    import socket

    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as e:
        raise BatchError(f"cannot reach Ray at {address}: {e.strerror or e}") from None


class RayBackend:
    """The tasks on a Ray cluster (`address`), or on a local Ray runtime started here (None).

    Each task asks Ray for `threads` CPUs and its worker runs its runtime on that many threads; a
    worker process keeps its model loaded for the tasks after. A task whose worker dies is run again
    by Ray, up to `retries` times. `ray` is imported here, not with the package."""

    name = "ray"

    def __init__(self, address: str | None = None, threads: int = 1, retries: int = 3) -> None:
        try:
            import ray
        except ImportError:
            raise BatchError("the Ray backend needs Ray: pip install 'posenet-cli[ray]' (or 'ray>=2.9')") from None
        self.ray = ray
        self.threads, self.retries = max(1, threads), retries
        self.started = False
        if not ray.is_initialized():
            import logging

            kwargs: dict[str, Any] = dict(log_to_driver=False, include_dashboard=False, logging_level=logging.ERROR)
            if address is None:  # "local": a new runtime here, even where RAY_ADDRESS is set
                address, kwargs["num_cpus"] = "local", cpu_count()
            else:
                _check_reachable(address)
            try:
                ray.init(address=address, **kwargs)
            except (ConnectionError, ValueError, RuntimeError) as e:
                raise BatchError(f"cannot start Ray ({address}): {first_line(e)}") from None
            self.started = True

    @property
    def workers(self) -> int:
        cpus = self.ray.cluster_resources().get("CPU", 1)
        return max(1, int(cpus // self.threads))

    def run(self, job: BatchJob, tasks: Sequence[Task], stop: Callable[[], bool],
            on_frame: Callable[[int], None] = lambda n: None) -> Iterator[TaskResult]:
        ray = self.ray
        remote = ray.remote(_ray_task).options(num_cpus=self.threads, max_retries=self.retries,
                                               retry_exceptions=False)
        job_ref = ray.put(job)
        pending = {remote.remote(job_ref, t, self.threads): t for t in tasks}
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1, timeout=0.2)
                if stop():
                    return
                for ref in done:
                    task = pending.pop(ref)
                    try:
                        yield ray.get(ref)
                    except ray.exceptions.RayError as e:  # the worker died more often than retries allow
                        yield _lost(task, f"Ray task failed: {first_line(e)}")
        finally:
            for ref in pending:
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()
            self.started = False
