"""The KV half of a phase in a second process, when two cores are free.

Migration and validation each have a KV half (walk the index, decode every
payment) that needs no SQL, and an SQL half (write the rows, read them back)
that needs no decoding. On one core they take turns; on two, a child process
runs the KV half of chunk N+1 while this process does the SQL half of chunk N
(issue 11 item 4). The child only *reads*: it opens the LMDB store read-only and
yields picklable items (row chunks, canonical tuples) through a bounded queue,
so it never holds more than ``lookahead`` items ahead of the parent, of them at
most ``BIG_IN_FLIGHT`` chunks, and memory stays flat whichever side is slower.

The same generator runs in this process when there is one core, when
``MIGWIZ_WORKERS=1``, or when the child cannot be started, so the pipeline is a
speed-up and never a second behaviour: the parent consumes the same items either
way (``tests/engine/test_workers.py`` and the pipeline differential tests).

Failure rules, because a child is one more thing that can go wrong:

- An exception in the child reaches the parent as the *same type* with the same
  attributes (a ``DecodeError`` still names payment, key and offset), raised from
  the iteration, so callers handle it exactly as the in-process one.
- A child that dies without a word (killed, out of memory) is a typed
  :class:`WorkerDied`, never a hang: the parent polls its liveness.
- The parent's cancel event stops the child at its next item; closing the
  stream (``with`` block, garbage, an exception in the parent) stops and reaps it.
- If the parent is killed (SIGKILL mid-migration), the child dies with it
  (``PR_SET_PDEATHSIG``, plus a parent-pid check for other kernels): no orphan
  keeps an LMDB reader slot or the store's shared lock.
- The child's stdout/stderr go to /dev/null: the wizard owns the terminal and
  stdout belongs to reports.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
import logging
import multiprocessing as mp
import os
import pickle
import queue
import signal
import sys
import threading
import types
from contextlib import contextmanager
from typing import Any, Callable, Iterator

log = logging.getLogger("migwizard")

WORKERS_ENV = "MIGWIZ_WORKERS"
_POLL_S = 0.2
_JOIN_S = 5.0

# glibc's mallopt parameter and the value: allocations of 1 MiB and more (pickled chunks,
# ~5 MiB each) get their own mapping, returned to the kernel when freed.
_M_MMAP_THRESHOLD = -3
_BIG_ALLOCATION = 1 << 20

#: Big items (a migration chunk: ~5.6 MB as its marshal blob) queued but not yet received by
#: the parent, at most. The queue's ``lookahead`` counts items, and progress ticks share it: when
#: the parent is the slower side (SQLite's inserts slow down as the target grows, so at 1M
#: payments it is, and not at 100k) the queue filled with chunks alone and the child held six
#: blobs, 34 MB more than when it kept up (the child's peak heap 43 -> 77 MiB from 100k to 1M).
#: Two chunks ahead still cover a slow commit; more only wait.
BIG_IN_FLIGHT = 2


def _is_big(payload: object) -> bool:
    """An item the big-item bound counts: the same test on both sides of the queue."""
    return isinstance(payload, bytes) and len(payload) >= _BIG_ALLOCATION


class WorkerDied(Exception):
    """The child process ended without finishing or reporting an error."""


class WorkerFailed(Exception):
    """The child raised an exception that cannot cross the process boundary as itself."""


def worker_count() -> int:
    """2 when two cores are ours to use, else 1; ``MIGWIZ_WORKERS=1|2`` decides instead.

    "Ours" is the CPU affinity mask (a container or ``taskset`` limit counts), not the
    machine's core count."""
    raw = os.environ.get(WORKERS_ENV, "").strip().lower()
    if raw in ("1", "2"):
        return int(raw)
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return 2 if cpus >= 2 else 1


def stream(target: str, args: dict, *, cancel: threading.Event | None = None, lookahead: int = 2,
           workers: int | None = None, wire: str | None = None, big_lookahead: int = BIG_IN_FLIGHT) -> "ItemStream":
    """Items of the generator ``target`` ("package.module:function", called as ``fn(args)``),
    from a child process when ``workers`` (default :func:`worker_count`) is 2, else in-process.

    ``wire`` names a module with ``to_wire(item) -> bytes | None`` and ``from_wire(bytes) -> item``:
    the child sends the items it encodes as one bytes blob each (``marshal`` of plain tuples is
    ~3x cheaper than pickling dataclasses of tuples, on both sides), the others pickled.

    ``big_lookahead``: of the ``lookahead`` items in flight, at most this many big ones (an
    encoded item of ``_BIG_ALLOCATION`` bytes or more: a chunk, not a progress tick); see
    :data:`BIG_IN_FLIGHT`."""
    n = worker_count() if workers is None else workers
    if n >= 2:
        try:
            return _ChildStream(target, args, cancel, lookahead, wire, big_lookahead)
        except (OSError, RuntimeError, ValueError) as e:  # no spawn here (limits, sandbox): one process
            log.warning("could not start a second process (%s); continuing in one", e)
    return _LocalStream(target, args, cancel)


class ItemStream(ABC):
    """Iterate for the items; use as a context manager so the child is always reaped."""

    in_child = False

    @abstractmethod
    def __iter__(self) -> Iterator[Any]:
        """The generator's items, in order; its exception, typed, where it raised one."""

    def close(self) -> None:
        pass

    def __enter__(self) -> "ItemStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _resolve(target: str) -> Callable[[dict], Iterator[Any]]:
    mod, _, name = target.partition(":")
    return getattr(importlib.import_module(mod), name)


class _LocalStream(ItemStream):
    def __init__(self, target: str, args: dict, cancel: threading.Event | None) -> None:
        self._gen = _resolve(target)(args)
        self._cancel = cancel

    def __iter__(self) -> Iterator[Any]:
        yield from self._gen

    def close(self) -> None:
        self._gen.close()


class _ChildStream(ItemStream):
    in_child = True

    def __init__(self, target: str, args: dict, cancel: threading.Event | None, lookahead: int,
                 wire: str | None = None, big_lookahead: int = BIG_IN_FLIGHT) -> None:
        ctx = mp.get_context("spawn")  # never fork: the parent holds LMDB/SQLite handles and threads
        _big_buffers_unmapped()  # this side receives and decodes the same big buffers
        self._cancel = cancel
        self._from_wire = getattr(importlib.import_module(wire), "from_wire") if wire else None
        with _spawnable():
            self._q = ctx.Queue(maxsize=max(1, lookahead))
            self._stop = ctx.Event()
            self._big = ctx.Semaphore(max(1, big_lookahead))  # taken by the child per big item, given back here
            self._proc = ctx.Process(target=_child_main, args=(target, args, self._q, self._stop, os.getpid(), wire,
                                                               self._big),
                                     name="migwizard-kv", daemon=True)
            self._proc.start()

    @property
    def pid(self) -> int | None:
        return self._proc.pid

    def __iter__(self) -> Iterator[Any]:
        while True:
            if self._cancel is not None and self._cancel.is_set():
                self._stop.set()  # the child stops at its next item; the parent decides when to leave
            try:
                kind, payload = self._q.get(timeout=_POLL_S)
            except queue.Empty:
                if not self._proc.is_alive():
                    # A last message may still be in the pipe after the process ended.
                    try:
                        kind, payload = self._q.get(timeout=_POLL_S)
                    except queue.Empty:
                        if self._stop.is_set():
                            return  # stopped on cancel: the stream simply ends
                        raise WorkerDied(f"the second process (pid {self._proc.pid}) ended with exit code "
                                         f"{self._proc.exitcode} before finishing") from None
                else:
                    continue
            if _is_big(payload):
                self._big.release()  # received: the child may queue its next big item
            if kind == "item":
                item = pickle.loads(payload)
            elif kind == "wire":
                item = self._from_wire(payload)
            elif kind == "done":
                return
            else:
                raise _rebuild(payload)
            # The encoded bytes go now, and this frame's reference to the item once the caller
            # has it: the next item is then received and decoded without the last one alive here.
            payload = None
            yield item
            item = None

    def close(self) -> None:
        self._stop.set()
        proc = self._proc
        # Drain so a child blocked on a full queue sees the stop flag.
        deadline = _JOIN_S
        while proc.is_alive() and deadline > 0:
            try:
                while True:
                    self._q.get_nowait()
            except (queue.Empty, OSError, EOFError, ValueError):
                pass
            proc.join(_POLL_S)
            deadline -= _POLL_S
        if proc.is_alive():
            proc.kill()
            proc.join(_JOIN_S)
        try:
            self._q.close()
            self._q.join_thread()
        except (OSError, ValueError, AssertionError):
            pass


_START_LOCK = threading.Lock()


@contextmanager
def _spawnable() -> Iterator[None]:
    """What ``spawn`` needs of this process, for as long as the child is being started.

    - Without the parent's main module: ``spawn`` re-runs ``__main__`` in the child (as
      ``__mp_main__``) so that pickled references into it resolve; our targets are named by
      module, so that run is only a cost (the CLI's imports) or a hazard: a script that calls the
      engine at module level, without an ``if __name__ == "__main__"`` guard, would run its
      migration, file deletions and all, a second time in the child.
    - With a real ``sys.stderr``: the wizard (Textual) replaces it with an object whose
      ``fileno()`` is -1, which multiprocessing hands to its resource tracker's spawn ("bad
      value(s) in fds_to_keep"); the tracker gets /dev/null instead.
    - With SIGINT ignored (inherited through exec): the child ignores Ctrl-C from its first
      instruction, not only once its own code runs, so a Ctrl-C while it imports cannot print
      a traceback on the user's terminal. Only the main thread can change it, and only there
      does a terminal's Ctrl-C arrive as a signal (the wizard reads it as a key)."""
    with _START_LOCK:
        main = sys.modules.get("__main__")
        sigint = None
        if threading.current_thread() is threading.main_thread():
            sigint = signal.signal(signal.SIGINT, signal.SIG_IGN)
        err = sys.stderr
        devnull = None
        try:
            fd = err.fileno() if err is not None else -1
        except (AttributeError, OSError, ValueError):
            fd = -1
        if fd < 0:
            devnull = open(os.devnull, "w")  # noqa: SIM115 - closed below
            sys.stderr = devnull
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            if sigint is not None:
                signal.signal(signal.SIGINT, sigint)
            if main is not None:
                sys.modules["__main__"] = main
            if devnull is not None:
                sys.stderr = err
                devnull.close()


def _portable(e: BaseException) -> tuple:
    """An exception as (class, args, attributes): rebuilt without calling ``__init__``, so
    exceptions with keyword-only constructors (DecodeError) cross intact."""
    return (type(e), e.args, dict(getattr(e, "__dict__", {})), str(e))


def _rebuild(payload: tuple) -> BaseException:
    cls, args, attrs, text = payload
    try:
        e = cls.__new__(cls)
        e.args = args
        e.__dict__.update(attrs)
        str(e)  # a class whose __str__ needs state we could not carry fails here
        return e
    except Exception:  # noqa: BLE001
        return WorkerFailed(f"{getattr(cls, '__name__', cls)}: {text}")


def _die_with_parent(parent: int) -> None:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - not Linux: the parent-pid check below still holds
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _big_buffers_unmapped() -> None:
    """Without this, glibc raises its mmap threshold after the first freed big buffer and
    serves every later pickled chunk from the heap, whose freed middle it keeps: the
    child's heap then grows with the largest chunks it has ever had in flight at once.
    The parent too (it reads each blob into a buffer, unpickles a copy): at 1M payments
    its freed-but-kept heap went 9 -> 26 MiB while chunks arrived back to back."""
    try:
        import ctypes

        ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, _BIG_ALLOCATION)
    except Exception:  # noqa: BLE001 - not glibc: only the memory use differs
        pass


def _quiet() -> None:
    fd = os.open(os.devnull, os.O_RDWR)
    for std in (1, 2):
        os.dup2(fd, std)
    os.close(fd)


class _Stopped(Exception):
    pass


def _child_main(target: str, args: dict, q, stop, parent: int, wire: str | None = None, big=None) -> None:
    _die_with_parent(parent)
    _big_buffers_unmapped()
    _quiet()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle (chunk boundary)

    def put(msg: tuple) -> None:
        if big is not None and _is_big(msg[1]):
            while not big.acquire(timeout=_POLL_S):  # BIG_IN_FLIGHT: the parent has not taken enough yet
                if stop.is_set():
                    raise _Stopped()
                if os.getppid() != parent:
                    os._exit(1)
        while True:
            if stop.is_set():
                raise _Stopped()
            if os.getppid() != parent:
                os._exit(1)
            try:
                q.put(msg, timeout=_POLL_S)
                return
            except queue.Full:
                continue

    gen = None
    try:
        to_wire = getattr(importlib.import_module(wire), "to_wire") if wire else None
        gen = _resolve(target)(args)
        for item in gen:
            # Encoded here, not by the queue's feeder thread: the queue would hold up to
            # ``lookahead`` items as objects (a 50,000-row chunk is ~16 MiB of tuples, ~5 MiB
            # as bytes), and the loop variable one more while the next is built.
            blob = to_wire(item) if to_wire is not None else None
            msg = ("wire", blob) if blob is not None else ("item", pickle.dumps(item, pickle.HIGHEST_PROTOCOL))
            item = blob = None
            put(msg)
            msg = None
        put(("done", None))
    except _Stopped:
        pass
    except BaseException as e:  # noqa: BLE001 - every failure crosses to the parent, typed
        payload = _portable(e)
        try:
            pickle.dumps(payload)  # the queue pickles later, in a thread, where a failure would be lost
        except Exception:  # noqa: BLE001 - unpicklable attributes: the text still crosses
            payload = (WorkerFailed, (f"{type(e).__name__}: {e}",), {}, str(e))
        try:
            put(("error", payload))
        except _Stopped:
            pass
    finally:
        if gen is not None:
            gen.close()
    q.close()
    q.join_thread()
