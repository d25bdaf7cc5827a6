"""Helper processes that run parts of a batch, for real use of every core (Linux).

Threads share one GIL: with two of them the parts of a batch wait for each other between
NumPy calls, and a 2-core training step gains only ~10 %. Separate processes do not wait:
two processes train the seeds' CNNs 1.7-2x faster than one. So on Linux npconv starts
``get_num_threads() - 1`` helper processes (``python -m npconv._worker_main``, a fresh
interpreter that imports only npconv: a user's script without an ``if __name__ ==
"__main__"`` guard is never run twice, unlike ``multiprocessing``'s spawn).

Shared memory without copies or files: a model's weights live in one anonymous memory
file (``memfd_create``) mapped by both processes, so the helper always sees the weights
the optimizer just updated in place; each helper also maps an exchange buffer for its part's
inputs, outputs, output gradients and weight gradients. The file descriptors travel over a
Unix socket pair (``SCM_RIGHTS``), the requests as small JSON messages (no pickle).

The helper starts in the background (imports take ~0.3 s); until it says it is ready,
models use threads. A helper that fails or dies is not used again in this process.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import math
import mmap
import os
import select
import socket
import subprocess
import sys
import threading
import time
import weakref
from array import array

import numpy as np

__all__ = ["Buffer", "Worker", "available", "ready_workers"]

_MAX_MESSAGE = 1 << 22  # requests and replies are JSON (model configs are the largest)
_workers: list = []
_broken = False
#: One exchange with the helpers at a time: they have one socket and one exchange buffer
#: each, so a second thread of this process runs its batch in one piece meanwhile.
_exchange_lock = threading.Lock()


@contextlib.contextmanager
def exclusive(blocking: bool):
    """Hold the helpers for one exchange; yields False (without waiting, unless
    ``blocking``) when another thread has them."""
    got = _exchange_lock.acquire(blocking)
    try:
        yield got
    finally:
        if got:
            _exchange_lock.release()


def _after_fork_in_child() -> None:
    # The parent's helpers, and a lock another of its threads may have held, are not ours.
    global _exchange_lock
    _exchange_lock = threading.Lock()
    _workers.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


def available() -> bool:
    """True where helper processes can work: Linux-style memfd and fd passing."""
    return (not _broken and hasattr(os, "memfd_create") and hasattr(socket, "send_fds")
            and hasattr(socket, "AF_UNIX") and os.environ.get("NPCONV_WORKERS", "1") != "0")


class WorkerError(RuntimeError):
    """A helper process failed (died, or answered nonsense)."""


#: Seconds a process polls its socket before it sleeps in a blocking receive: the parent
#: while its helpers finish their parts, a helper after each reply (the parent's next request
#: comes after its loss or optimizer step, a fraction of a millisecond later). A process woken
#: from a blocking receive starts ~0.1 ms late (measured here); polling costs only a core that
#: would idle anyway (:func:`spin_seconds`: not by default when there are more parts than
#: CPUs; ``NPCONV_SPIN_US`` sets it).
SPIN_S = 2e-3


def spin_seconds() -> float:
    """``$NPCONV_SPIN_US`` microseconds (0 to 1,000,000) when set; else :data:`SPIN_S`, or 0
    when npconv runs more parts than this process has CPUs (a polling process would then
    take a core that another part needs)."""
    env = os.environ.get("NPCONV_SPIN_US", "").strip()
    if not env:
        from . import _threads

        return SPIN_S if _threads.get_num_threads() <= _threads._cpus() else 0.0
    try:
        value = float(env)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1e6:  # (NaN and inf fail too: a process must block some time)
        raise ValueError(f"NPCONV_SPIN_US: expected microseconds from 0 to 1000000. "
                         f"Received {env!r}")
    return value * 1e-6


_FD_SPACE = socket.CMSG_SPACE(16 * array("i").itemsize)  # up to 16 descriptors per message


class Inbox:
    """Receives the messages of a Unix socket into one buffer mapped once (a fresh
    ``_MAX_MESSAGE``-byte buffer per ``recv`` costs ~12 us; only the pages that a message
    touches become resident)."""

    def __init__(self, sock):
        self.sock = sock
        self.buffer = mmap.mmap(-1, _MAX_MESSAGE)

    def receive(self, spin_s: float = 0.0) -> tuple[bytes, list[int]]:
        """The next message (``b""`` when the peer closed its end) and the file descriptors
        sent with it. Polls for up to ``spin_s`` seconds first, then blocks."""
        if spin_s > 0:
            deadline = time.perf_counter() + spin_s
            while True:
                try:
                    return self._take(socket.MSG_DONTWAIT)
                except BlockingIOError:
                    if time.perf_counter() >= deadline:
                        break
        return self._take(0)

    def _take(self, flags: int) -> tuple[bytes, list[int]]:
        size, ancillary, msg_flags, _ = self.sock.recvmsg_into([self.buffer], _FD_SPACE, flags)
        fds = array("i")
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
        if msg_flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
            for fd in fds:
                os.close(fd)
            raise WorkerError(f"npconv: a message larger than {_MAX_MESSAGE} bytes or with "
                              "more than 16 file descriptors was cut off")
        return self.buffer[:size], list(fds)


def view(data: np.ndarray, offset: int, shape, dtype) -> np.ndarray:
    """The array of ``shape`` and ``dtype`` stored in the bytes ``data`` from ``offset``."""
    dtype = np.dtype(dtype)
    count = math.prod(shape)  # (Python ints: np.prod costs ~5 us, called per array)
    return data[offset:offset + count * dtype.itemsize].view(dtype).reshape(shape)


def write_arrays(data: np.ndarray, start: int, arrays) -> list:
    """Copy ``arrays`` into the bytes ``data`` from ``start``, 64-byte aligned; returns their
    ``[offset, shape, dtype]`` specs (what :func:`view` reads back)."""
    arrays = [np.ascontiguousarray(a) for a in arrays]
    offsets, _ = layout([(a.shape, a.dtype) for a in arrays], start)
    for offset, a in zip(offsets, arrays, strict=True):
        data[offset:offset + a.nbytes] = a.reshape(-1).view(np.uint8)
    return [[o, list(a.shape), a.dtype.str] for o, a in zip(offsets, arrays, strict=True)]


class Buffer:
    """An anonymous shared memory file of ``size`` bytes, mapped here; ``fd`` is sent to the
    helper, which maps the same pages."""

    def __init__(self, size: int):
        self.size = max(int(size), 1)
        self.fd = os.memfd_create("npconv", os.MFD_CLOEXEC)
        try:
            os.ftruncate(self.fd, self.size)
            self._map = mmap.mmap(self.fd, self.size)
        except BaseException:
            os.close(self.fd)
            raise
        self.bytes = np.frombuffer(self._map, dtype=np.uint8)
        # The file lives while its descriptor is open: close it with this object at the
        # latest (the mapping then lives on while arrays view it).
        self._close_fd = weakref.finalize(self, os.close, self.fd)

    def view(self, offset: int, shape, dtype) -> np.ndarray:
        """The array of ``shape`` and ``dtype`` stored at byte ``offset``."""
        return view(self.bytes, offset, shape, dtype)

    def close(self) -> None:
        if self.fd >= 0:
            self._close_fd()
            self.fd = -1


def layout(shapes_dtypes, start: int = 0, align: int = 64):
    """Byte offsets for arrays of ``(shape, dtype)`` packed from ``start`` (64-byte aligned);
    returns ``(offsets, end)``."""
    offsets, at = [], start
    for shape, dtype in shapes_dtypes:
        at = -(-at // align) * align
        offsets.append(at)
        at += math.prod(shape) * np.dtype(dtype).itemsize
    return offsets, at


class Worker:
    """One helper process and its socket. Requests carry a sequence number, so that a reply
    left over from an interrupted request (Ctrl-C) is skipped, never taken for the next one."""

    def __init__(self):
        self.spin_s = spin_seconds()  # (a bad setting raises here, before a process starts)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
                   MKL_NUM_THREADS="1", NPCONV_NUM_THREADS="1", NPCONV_WORKERS="0",
                   NPCONV_SPIN_US=repr(self.spin_s * 1e6))
        src = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH")
                                   else "")
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "npconv._worker_main", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), env=env, stdin=subprocess.DEVNULL,
                close_fds=True)
        finally:
            theirs.close()
        self.sock = ours
        self.inbox = Inbox(ours)
        self.pid = os.getpid()  # a forked child must not talk to its parent's helpers
        self.ready = False
        self.models: dict = {}  # id(model) -> (key, weakref to its _ProcessState), oldest first
        self.exchange: Buffer | None = None
        self.views: dict = {}  # arrays in the exchange buffer, kept by their users' regions
        self._seq = 0

    # ---------------------------------------------------------------- messages
    def _send(self, message: dict, fds=()) -> int:
        self._seq += 1
        message = dict(message, seq=self._seq)
        data = json.dumps(message).encode()
        if len(data) > _MAX_MESSAGE:
            raise WorkerError(f"npconv helper: request of {len(data)} bytes is too large")
        socket.send_fds(self.sock, [data], list(fds))
        return self._seq

    def _receive(self, timeout=None) -> dict:
        if timeout is not None and not select.select([self.sock], [], [], timeout)[0]:
            raise TimeoutError
        data, fds = self.inbox.receive(self.spin_s if timeout is None else 0.0)
        for fd in fds:  # a helper sends none
            os.close(fd)
        if not data:
            raise WorkerError("npconv helper process exited"
                              + self._exit_note())
        return json.loads(data)

    def _exit_note(self) -> str:
        code = self.process.poll()
        return "" if code is None else f" (exit code {code})"

    def send(self, message: dict, fds=()) -> int:
        """Send a request; returns its sequence number for :meth:`wait`."""
        try:
            return self._send(message, fds)
        except OSError as err:
            raise WorkerError(f"npconv helper: cannot send ({err})") from None

    def wait(self, seq: int) -> dict:
        """The reply to request ``seq`` (older replies are dropped). Raises the helper's
        exception type with its message when the request failed there."""
        while True:
            reply = self._receive()
            if reply.get("seq") == seq:
                break
        if "error" in reply:
            kind = {"ValueError": ValueError, "TypeError": TypeError,
                    "FloatingPointError": FloatingPointError,
                    "MemoryError": MemoryError}.get(reply.get("type"))
            if kind is None:
                raise RuntimeError(f"npconv helper process: {reply.get('type')}: "
                                   f"{reply['error']}")
            raise kind(reply["error"])
        return reply

    def request(self, message: dict, fds=()) -> dict:
        return self.wait(self.send(message, fds))

    def poll_ready(self) -> bool:
        """True once the helper has imported npconv and said so (never blocks)."""
        if not self.ready:
            try:
                reply = self._receive(timeout=0)
            except TimeoutError:
                return False
            if reply.get("ready") is not True:
                raise WorkerError(f"npconv helper: expected a ready message, got {reply!r}")
            self.ready = True
        return True

    def exchange_buffer(self, size: int) -> Buffer:
        """This helper's exchange buffer, at least ``size`` bytes (a new one when larger)."""
        if self.exchange is None or self.exchange.size < size:
            buffer = Buffer(max(size, 2 * (self.exchange.size if self.exchange else 0)))
            self.request({"op": "exchange", "size": buffer.size}, [buffer.fd])
            if self.exchange is not None:
                self.exchange.close()
            self.exchange = buffer
            self.views.clear()
        return self.exchange

    def close(self) -> None:
        try:
            self._send({"op": "exit"})
        except OSError:
            pass
        self.sock.close()
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.process.kill()
        if self.exchange is not None:
            self.exchange.close()
        self.inbox.buffer.close()


def ready_workers(count: int) -> list[Worker] | None:
    """``count`` helpers that are ready, or None (not started yet, still importing, not
    available here). The first call starts them in the background."""
    if count < 1 or not available():
        return None
    if _workers and _workers[0].pid != os.getpid():
        _workers.clear()  # inherited through fork: the parent's, not ours
    try:
        while len(_workers) < count:
            _workers.append(Worker())
        if not all(w.poll_ready() for w in _workers[:count]):
            return None
    except (OSError, WorkerError):
        mark_broken()
        return None
    return _workers[:count]


def mark_broken() -> None:
    """Stop using helper processes in this process (one failed): models fall back to
    threads."""
    global _broken
    _broken = True
    shutdown()


def shutdown() -> None:
    while _workers:
        worker = _workers.pop()
        if worker.pid != os.getpid():
            continue
        try:
            worker.close()
        except Exception:  # noqa: BLE001 - shutting down: nothing more to do
            pass


atexit.register(shutdown)
