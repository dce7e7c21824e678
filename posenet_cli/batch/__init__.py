"""Many images and videos in one job, on local worker processes or a Ray cluster (`posenet batch`).

    plan      inputs -> items, each with one output file in a folder; items -> tasks: one per image, one per
              video, or several exact frame ranges of a long one (merged in order)
    worker    one task through the ordinary job path (`jobs.run_images` / `jobs.run_video`)
    backends  this process, spawned worker processes, or Ray
    driver    skips complete outputs, runs the tasks on a backend, writes each output atomically when all
              its parts are in, and a manifest of the job
"""

from .backends import Backend, InlineBackend, LocalBackend, RayBackend, cpu_count, default_workers, threads_per_worker
from .driver import BatchReport, JobProgress, check_resume, output_plan, run_batch
from .plan import BatchError, BatchJob, Item, Task, WriteBy, make_job, plan_items, plan_tasks
from .worker import TaskResult, run_task

__all__ = ["Backend", "BatchError", "BatchJob", "BatchReport", "InlineBackend", "Item", "JobProgress", "LocalBackend",
           "RayBackend", "Task", "TaskResult", "WriteBy", "check_resume", "cpu_count", "default_workers",
           "make_job", "output_plan", "plan_items", "plan_tasks", "run_batch", "run_task", "threads_per_worker"]
