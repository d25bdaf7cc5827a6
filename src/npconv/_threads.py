"""npconv's worker threads, and the BLAS held to one thread while they run.

A model runs the parts of a batch in parallel (:mod:`npconv.models.parallel`) with
:func:`run_parallel`: the first part on the calling thread, the others on a small pool of
worker threads. NumPy releases the GIL inside its loops and matrix multiplies, so the parts
really run at once. Meanwhile the BLAS (OpenBLAS in NumPy's wheels) must use one thread per
call; otherwise its own threads and ours fight over the same cores (measured here: 2 threads
with a 2-threaded OpenBLAS train the seed-001 CNN 2.4x *slower* than one thread). The BLAS
thread count is set through ``threadpoolctl`` (the well-kept library scikit-learn uses);
without it, or with a BLAS it cannot control, :func:`parallel_available` is False and models
run each batch in one piece, as before.

The number of threads: :func:`set_num_threads`, else ``$NPCONV_NUM_THREADS``, else the CPUs
this process may run on.
"""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

__all__ = ["blas_limited", "get_num_threads", "parallel_available", "run_parallel",
           "set_num_threads"]

_requested: int | None = None
_pool: ThreadPoolExecutor | None = None
_pool_workers = 0
_region = threading.Lock()  # one parallel region at a time (others run serially)
_blas = None  # None: not looked up yet; False: cannot be controlled; else a controller
#: sys.setswitchinterval while parts run (seconds); see run_parallel.
SWITCH_INTERVAL = 2e-4


def _after_fork_in_child() -> None:
    # A forked child has none of the pool's threads: work submitted there would never run.
    global _pool, _pool_workers, _region
    _pool, _pool_workers, _region = None, 0, threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _positive_int(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{where}: expected a positive int number of threads. "
                         f"Received {value!r}")
    return value


def set_num_threads(n) -> None:
    """Use ``n`` threads (>= 1) for each batch; 1 runs every batch in one piece."""
    global _requested
    _requested = _positive_int(n, "npconv.set_num_threads")


def get_num_threads() -> int:
    """The number of threads a batch is split over: :func:`set_num_threads`'s value, else
    ``$NPCONV_NUM_THREADS``, else the number of CPUs this process may use."""
    if _requested is not None:
        return _requested
    env = os.environ.get("NPCONV_NUM_THREADS", "").strip()
    if env:
        try:
            return _positive_int(int(env), "NPCONV_NUM_THREADS")
        except ValueError:
            raise ValueError(f"NPCONV_NUM_THREADS: expected a positive int. "
                             f"Received {env!r}") from None
    return _cpus()


def _blas_controller():
    """threadpoolctl's controller of the BLAS libraries, or False when there is none we can
    limit from this thread (threadpoolctl missing, no BLAS found, or per-thread OpenMP
    limits, which would have to be set in every worker)."""
    global _blas
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _blas = False
            return _blas
        blas = ThreadpoolController().select(user_api="blas")
        layers = [lib.get("threading_layer") for lib in blas.info()]
        _blas = blas if blas.lib_controllers and "openmp" not in layers else False
    return _blas


def parallel_available() -> bool:
    """True when a batch may be split: more than one thread, and a BLAS we can hold to one."""
    return get_num_threads() > 1 and bool(_blas_controller())


class blas_limited:  # noqa: N801 - used as a function: ``with blas_limited():``
    """The BLAS held to one thread inside the block (when it can be controlled).

    Each library's thread count is read and set directly (threadpoolctl's own ``limit()``
    costs ~25 us on entry and again on exit, twice per training step)."""

    __slots__ = ("_restore",)

    def __enter__(self):
        blas = _blas_controller()
        self._restore = []
        if blas:
            for lib in blas.lib_controllers:
                n = lib.get_num_threads()
                if n is not None and n != 1:
                    lib.set_num_threads(1)
                    self._restore.append((lib, n))
        return self

    def __exit__(self, *exc):
        for lib, n in self._restore:
            lib.set_num_threads(n)
        return False


def _thread_pool(n: int) -> ThreadPoolExecutor:
    global _pool, _pool_workers
    if _pool is None or _pool_workers < n:
        if _pool is not None:
            _pool.shutdown(wait=True)
        _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="npconv")
        _pool_workers = n
    return _pool


def run_parallel(tasks):
    """Run the callables ``tasks`` at once (the first on this thread) and return their results
    in order, or None when they cannot run in parallel right now (another region is running,
    e.g. a model called from a worker, or the BLAS could not be limited): the caller then
    runs them itself. An exception in any task is raised here, after all tasks ended."""
    blas = _blas_controller()
    if not blas or len(tasks) < 2 or not _region.acquire(blocking=False):
        return None
    switch = sys.getswitchinterval()
    try:
        # A thread that finished a NumPy call waits for the GIL until the holder releases it;
        # with CPython's default 5 ms interval one part can stall behind the other's Python
        # code for milliseconds. Hand the GIL over sooner while the parts run.
        sys.setswitchinterval(SWITCH_INTERVAL)
        with blas.limit(limits=1):
            if any(lib.get_num_threads() not in (1, None) for lib in blas.lib_controllers):
                return None  # another thread controls the BLAS's thread count
            futures = [_thread_pool(len(tasks) - 1).submit(task) for task in tasks[1:]]
            first_error = None
            try:
                results = [tasks[0]()]
            except BaseException as err:  # wait for the workers before raising
                first_error, results = err, [None]
            for future in futures:
                try:
                    results.append(future.result())
                except BaseException as err:
                    first_error = first_error or err
                    results.append(None)
            if first_error is not None:
                raise first_error
            return results
    finally:
        sys.setswitchinterval(switch)
        _region.release()
