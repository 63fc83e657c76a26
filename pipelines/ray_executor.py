"""Segments on Ray: one actor per GPU (or per CPU slot), the model loaded once per actor.

Why Ray Core actors and not Ray Data: a unit of work here is a whole segment (decode →
detect → restore → encode, with ffmpeg processes that the worker owns), not a stream of
independent rows. Frames never travel through the object store: each worker reads its
segment from the shared input and writes its segment file beside the output, so the
object store only carries small job descriptions and reports, and memory stays flat
however long the videos are. In flight: at most `in_flight` segments per actor (one
running, one queued so an actor never idles between segments).

Faults: a worker that dies (killed, out of memory, node lost) raises `RayActorError` for
its segment; the actor is restarted by Ray (`max_restarts`) and the segment is resubmitted,
at most `attempts` times in all. A segment's file and marker are written only when it is
complete, so a retried segment is never half-counted: no frame lost, none duplicated.
"""
from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass
from typing import Sequence

from demosaic.errors import DemosaicError, ExternalToolError

from .segments import SegmentJob

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class RayOptions:
    address: str = "local"  # "local": start Ray on this machine (loopback) and stop it after; "auto" or ray://…
    workers: int = 0  # 0: one per GPU, else one per CPU (minus one for the driver)
    gpus_per_worker: float = 0.0  # >0: GPU actors; 0: CPU actors unless the cluster has GPUs
    cpus_per_worker: float = 1.0
    in_flight: int = 2
    attempts: int = 3
    object_store_bytes: int = 256 * 1024 ** 2  # local start only: jobs and reports are small


def _make_worker_class(ray):
    @ray.remote
    class SegmentWorker:
        """Holds one engine per settings; runs segments."""

        def __init__(self, threads: int):
            if threads:
                # Before TensorFlow starts: a CPU actor uses its share of the cores, not all of them.
                os.environ["TF_NUM_INTRAOP_THREADS"] = str(threads)
                os.environ["TF_NUM_INTEROP_THREADS"] = "1"
                os.environ.setdefault("OMP_NUM_THREADS", str(threads))
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
            self.threads = threads
            self.tensorflow_started = False
            self.engines: dict = {}

        def _start_tensorflow(self) -> None:
            if self.threads and not self.tensorflow_started:  # before TensorFlow's runtime exists
                import tensorflow as tf

                tf.config.threading.set_intra_op_parallelism_threads(self.threads)
                tf.config.threading.set_inter_op_parallelism_threads(1)
            self.tensorflow_started = True

        def where(self) -> dict:
            """This worker's process, its devices, and TensorFlow's thread count (diagnostics)."""
            self._start_tensorflow()
            import tensorflow as tf

            return {"pid": os.getpid(), "gpus": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
                    "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads()}

        def run(self, job: SegmentJob) -> dict:
            from .segments import restore_segment
            from .video import Engine

            s = job.settings
            key = (s.model_path, s.mode, s.detector, s.precision)
            try:
                if key not in self.engines:
                    self._start_tensorflow()
                    # A CPU actor keeps to its share of the node's cores (0 on GPU actors: the default).
                    self.engines[key] = Engine(s.model_path, s.mode, s.detector, threads=self.threads,
                                               precision=s.precision)
                return restore_segment(self.engines[key], job)
            except DemosaicError as exc:  # an expected failure: reported, not retried
                return {"error": str(exc)}

    return SegmentWorker


class RayExecutor:
    """Run segments on Ray actors; `close()` stops a Ray this executor started."""

    def __init__(self, options: RayOptions):
        try:
            import ray
        except ImportError:  # pragma: no cover - ray is a dependency
            raise ExternalToolError("ray is not installed")
        self.ray, self.options = ray, options
        self.started = False
        if not ray.is_initialized():
            if options.address == "local":
                os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
                ray.init(address="local", _node_ip_address=LOOPBACK, include_dashboard=False,
                         object_store_memory=options.object_store_bytes, log_to_driver=False,
                         configure_logging=False)
                self.started = True
            else:
                ray.init(address=options.address, log_to_driver=False, configure_logging=False)
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        self.gpus_per_worker = options.gpus_per_worker or (1.0 if gpus else 0.0)
        if options.workers:
            count = options.workers
        elif self.gpus_per_worker:
            count = max(1, int(gpus / self.gpus_per_worker))
        else:
            count = max(1, int(resources.get("CPU", 1)) - 1)
        self.name = f"ray ({count} {'GPU' if self.gpus_per_worker else 'CPU'} worker{'s' * (count > 1)})"
        worker = _make_worker_class(ray)
        if self.gpus_per_worker:  # Ray pins each actor to its own device (CUDA_VISIBLE_DEVICES)
            opts = {"num_gpus": self.gpus_per_worker, "num_cpus": options.cpus_per_worker}
            threads = 0
        else:
            opts = {"num_cpus": options.cpus_per_worker}
            threads = max(1, int(options.cpus_per_worker))
        self.actors = [worker.options(max_restarts=options.attempts, max_task_retries=0, **opts).remote(threads)
                       for _ in range(count)]

    def run(self, jobs: Sequence[SegmentJob], done) -> None:
        ray = self.ray
        queue = deque(jobs)
        attempts = {j.path: 0 for j in jobs}
        running: dict = {}  # ObjectRef -> (job, actor index)
        load = [0] * len(self.actors)
        deaths = [0] * len(self.actors)
        alive = set(range(len(self.actors)))

        def submit():
            while queue and alive:
                k = min(alive, key=lambda i: load[i])
                if load[k] >= self.options.in_flight:
                    return
                job = queue.popleft()
                attempts[job.path] += 1
                running[self.actors[k].run.remote(job)] = (job, k)
                load[k] += 1

        submit()
        while running:
            ready, _ = ray.wait(list(running), num_returns=1)
            ref = ready[0]
            job, k = running.pop(ref)
            load[k] -= 1
            try:
                result = ray.get(ref)
            except ray.exceptions.RayActorError as exc:  # died mid-segment; Ray restarts it
                deaths[k] += 1
                if deaths[k] > self.options.attempts:  # restarts used up: gone for good
                    alive.discard(k)
                self._retry_or_fail(job, attempts, queue, done, exc)
            except ray.exceptions.RayError as exc:
                done(job, ExternalToolError(f"worker failed: {type(exc).__name__}"))
            else:
                done(job, DemosaicError(result["error"]) if "error" in result else result)
            if not alive:
                while queue:
                    done(queue.popleft(), ExternalToolError("no Ray workers left"))
            submit()

    def _retry_or_fail(self, job, attempts, queue, done, exc) -> None:
        if attempts[job.path] < self.options.attempts:
            queue.appendleft(job)
        else:
            done(job, ExternalToolError(f"worker died {attempts[job.path]} times ({type(exc).__name__})"))

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors = []
        if self.started:
            self.ray.shutdown()
