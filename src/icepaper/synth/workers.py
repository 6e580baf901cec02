"""Worker processes for chunked rendering: the chunk size that fixes the random streams, the
worker set-up (one thread each, ended with their parent), an ordered process-pool map and
the speed-per-worker figure the provenance records."""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

CHUNK = 256  # particles per render chunk (fixes the random streams; never change lightly)


def _worker_init(parent_pid: int) -> None:
    import cv2

    os.environ["OMP_NUM_THREADS"] = "1"
    cv2.setNumThreads(1)
    _die_with_parent(parent_pid)


def _die_with_parent(parent_pid: int, poll_s: float = 0.5) -> None:
    """End this worker when its parent (the kernel or script) ends, even by ``kill -9``.

    Linux: the kernel sends SIGKILL on the parent's death (``prctl(PR_SET_PDEATHSIG)``).
    Everywhere: a daemon thread polls the parent pid every ``poll_s`` s and exits when the
    worker has been re-parented.
    """
    import signal
    import threading

    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no prctl: the watchdog remains
            pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(poll_s)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="icepaper-parent-watchdog", daemon=True).start()


def _per_worker(n_images: int, seconds: float, workers: int) -> float:
    """Images per second per worker process actually used (at most the machine's cores)."""
    return round(n_images / seconds / max(1, min(workers, os.cpu_count() or 1)), 1)


class _ChunkMap:
    """``map(fn, jobs)`` in order, on ``workers`` processes (or inline for one worker)."""

    def __init__(self, workers: int):
        self.workers = int(workers)
        self._ex = None

    def __enter__(self):
        if self.workers > 1:
            ctx = get_context("fork" if sys.platform.startswith("linux") else "spawn")
            self._ex = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx, initializer=_worker_init,
                                           initargs=(os.getpid(),))
        return self

    def map(self, fn, jobs: list):
        if self._ex is None or len(jobs) <= 1:
            return [fn(j) for j in jobs]
        return list(self._ex.map(fn, jobs, chunksize=1))

    def __exit__(self, exc_type, exc, tb) -> bool:
        if self._ex is not None:
            self._ex.shutdown(wait=exc_type is None, cancel_futures=True)
        return False
