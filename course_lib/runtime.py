"""Where code runs and how it is made repeatable: device choice, seeding, worker processes, progress bars, cache."""

from __future__ import annotations

import ctypes
import functools
import json
import os
import random
import sys
import time
import weakref
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
from tqdm.auto import tqdm

from .validation import positive_int

_DEVICES = ("cuda", "mps", "cpu")


def device() -> torch.device:
    """The device to train on: cuda > mps > cpu, unless ``$DGM_DEVICE`` names one.

    ``DGM_DEVICE=cpu`` forces the CPU on a GPU machine (handy to compare timings).
    """
    wanted = os.environ.get("DGM_DEVICE", "").strip().lower()
    if wanted:
        kind = wanted.split(":")[0]
        if kind not in _DEVICES:
            raise ValueError(f"DGM_DEVICE must be one of {_DEVICES} (optionally 'cuda:N'), got {wanted!r}")
        if kind == "cuda" and not torch.cuda.is_available():
            raise ValueError("DGM_DEVICE asks for 'cuda' but no CUDA device is available")
        if kind == "mps" and not torch.backends.mps.is_available():
            raise ValueError("DGM_DEVICE asks for 'mps' but no MPS device is available")
        return torch.device(wanted)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int = 0) -> None:
    """Seed Python's, NumPy's and PyTorch's random generators (all devices)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


WORKERS_VARIABLE = "DGM_WORKERS"
TRAINING_LOG_VARIABLE = "DGM_TRAINING_LOG"
_in_worker = False


def in_worker() -> bool:
    """True while this process runs a call side by side with others: one of ``side_by_side``'s (in a worker
    process, or the caller's own share) or an ``in_background`` call (the training loops log it; ``make bench``
    counts such trainings by the wall time of the ``side_by_side`` call, or by the time waited for the result)."""
    return _in_worker


def log_training_record(record: dict) -> None:
    """Append ``record`` as one JSON line to the file ``$DGM_TRAINING_LOG`` names, if it is set (``make bench``
    reads it: the training loops log every call, ``side_by_side`` the wall time of its calls side by side)."""
    path = os.environ.get(TRAINING_LOG_VARIABLE)
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps(record) + "\n")


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:                                # macOS, Windows
        return os.cpu_count() or 1


def workers_for(calls: int) -> int:
    """How many of ``calls`` independent calls ``side_by_side`` runs at a time (this process and the workers):
    one per CPU core, at most one per call; 1 (no worker: the calls run here, in turn) on a GPU or MPS device, or
    on one core.
    ``$DGM_WORKERS`` sets the most there may be (``DGM_WORKERS=1``: always here, e.g. to see progress bars)."""
    calls = positive_int(calls, "calls", minimum=0)
    wanted = os.environ.get(WORKERS_VARIABLE, "").strip()
    if wanted:
        if not wanted.isdigit() or int(wanted) < 1:
            raise ValueError(f"{WORKERS_VARIABLE} must be a whole number ≥ 1, got {wanted!r}")
        limit = int(wanted)
    else:
        limit = _cores() if device().type == "cpu" else 1
    return max(1, min(calls, limit))


def peak_memory() -> int:
    """This process's peak resident memory in bytes: VmHWM on Linux, ``ru_maxrss`` elsewhere, 0 if unknown."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        pass
    try:
        import resource
    except ImportError:                 # Windows
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss     # bytes on macOS


def _set_random_states(states) -> None:
    python_state, numpy_state, torch_state = states
    random.setstate(python_state)
    np.random.set_state(numpy_state)
    torch.set_rng_state(torch_state)


def _call_as_caller(function, arguments, environment, cwd, random_states, threads):
    """Run in a worker: take the caller's environment, folder, random states and thread budget, then call;
    (the result, the worker's peak memory in bytes)."""
    global _in_worker
    _in_worker = True
    os.environ.clear()
    os.environ.update(environment)
    os.chdir(cwd)
    _set_random_states(random_states)
    torch.set_num_threads(threads)
    return _call(function, arguments), peak_memory()


def _call_here(function, arguments, random_states, threads):
    """The caller's share of ``side_by_side``: one call here, as in a worker (from the caller's random states,
    on ``threads`` threads, ``in_worker()`` true), then this process's threads and flag put back."""
    global _in_worker
    from threadpoolctl import threadpool_limits

    previous_threads = torch.get_num_threads()
    _set_random_states(random_states)
    _in_worker = True
    try:
        with threadpool_limits(limits=threads):           # NumPy's BLAS too, as the workers' environment sets it
            torch.set_num_threads(threads)
            return _call(function, arguments)
    finally:
        _in_worker = False
        torch.set_num_threads(previous_threads)


def _call(function, arguments):
    return function(**arguments) if isinstance(arguments, dict) else function(*arguments)


# The variables that size the BLAS/OpenMP thread pools of a worker (joblib sets the same ones).
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                     "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
_WORKER_IDLE_SECONDS = 300          # a worker left idle this long exits; until then the next side_by_side reuses it


def side_by_side(function: Callable, calls: Iterable[tuple | dict]) -> list:
    """``[function(*arguments) for arguments in calls]``, the calls running at the same time: this process runs
    its share of them and worker processes the rest; a call given as a dict passes keyword arguments,
    ``function(**arguments)``.

    For independent trainings of small models, which use several CPU cores poorly: on 2 cores, two runs side by
    side (one PyTorch thread each) finish sooner than one after the other on both cores (chapter 07's five toy
    GANs: 1.3–1.4× sooner, the workers' start included).
    ``workers_for(len(calls))`` calls run at once: one here and the others in worker processes, each on its share
    of the cores; whichever finishes takes the next call. So on 2 cores there is one worker process, not two:
    half the memory beside the kernel. Each call starts from the caller's environment variables (``DGM_CACHE``
    …), working folder and random generators (Python's, NumPy's, PyTorch's CPU one), and the caller's generators
    are left as they were, wherever the calls ran: seed inside ``function`` for results that do not depend on
    where it ran. What ``function`` changes outside its return value (a global, a print) stays where it ran, so
    the calls run here may print; the files it writes (checkpoints) are written. ``function`` may be defined in
    a notebook (it is sent by value, ``cloudpickle``). With ``workers_for(…) == 1`` every call runs here, in
    turn. An exception in a call is raised here, once the calls already running have finished; no new call
    starts after it. Returns the results in the order of ``calls``.
    """
    if not callable(function):
        raise TypeError(f"function must be callable, got {type(function).__name__}")
    if isinstance(calls, (str, bytes)) or not isinstance(calls, Iterable):
        raise TypeError(f"calls must be an iterable of argument tuples or dicts, got {type(calls).__name__}")
    calls = list(calls)
    for i, arguments in enumerate(calls):
        if not isinstance(arguments, (tuple, dict)):
            raise TypeError(f"calls[{i}] must be a tuple of positional arguments or a dict of keyword arguments, "
                            f"got {type(arguments).__name__}")
        if isinstance(arguments, dict) and not all(isinstance(key, str) for key in arguments):
            raise TypeError(f"calls[{i}]: keyword argument names must be str, got {list(arguments)}")
    workers = 1 if background_running() else workers_for(len(calls))     # the worker process is busy
    state = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    if workers == 1:
        results = []
        for arguments in calls:          # as in a worker: each call starts from the caller's generators …
            _set_random_states(state)
            results.append(_call(function, arguments))
        _set_random_states(state)        # … and leaves them as they were
        return results
    started = time.perf_counter()
    threads = max(1, _cores() // workers)
    try:
        results, worker_peak = _run_shared(function, calls, workers - 1, threads, state)
    finally:
        _set_random_states(state)
    log_training_record({"loop": "side_by_side", "model": getattr(function, "__name__", type(function).__name__),
                         "seconds": round(time.perf_counter() - started, 3), "steps": len(calls), "workers": workers,
                         "worker_processes": workers - 1, "worker_peak_memory": worker_peak})
    return results


def _run_shared(function, calls, processes, threads, state):
    """Run ``calls`` in ``processes`` worker processes and here, each taking the next call when it is free;
    (the results in order, the workers' largest peak memory in bytes)."""
    import threading
    from collections import deque
    from concurrent.futures import FIRST_COMPLETED, wait

    from joblib.externals.loky import get_reusable_executor

    # loky: fresh worker processes (no fork of a process holding threads, e.g. a Jupyter kernel), kept for the
    # next call, with their BLAS/OpenMP pools limited to ``threads`` so that they do not fight for the cores.
    executor = get_reusable_executor(max_workers=processes, timeout=_WORKER_IDLE_SECONDS,
                                     env={name: str(threads) for name in _THREAD_VARIABLES})
    caller = (dict(os.environ), os.getcwd(), state, threads)
    pending, lock = deque(range(len(calls))), threading.Lock()
    results, errors, peaks = [None] * len(calls), {}, [0]

    def next_call():
        with lock:
            return pending.popleft() if pending and not errors else None

    def failed(i, error):
        with lock:
            errors[i] = error

    def feed_the_workers():          # a thread: gives each free worker the next call and collects what it returns
        running = {}
        try:
            for _ in range(processes):
                if (i := next_call()) is not None:
                    running[executor.submit(_call_as_caller, function, calls[i], *caller)] = i
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    i = running.pop(future)
                    try:
                        results[i], peak = future.result()
                        peaks[0] = max(peaks[0], peak)
                    except BaseException as error:           # raised here, in the caller, below
                        failed(i, error)
                    if (j := next_call()) is not None:
                        running[executor.submit(_call_as_caller, function, calls[j], *caller)] = j
        except BaseException as error:                       # the pool itself broke (a worker killed …)
            failed(-1, error)

    feeder = threading.Thread(target=feed_the_workers, name="side_by_side", daemon=True)
    feeder.start()
    try:
        while (i := next_call()) is not None:
            try:
                results[i] = _call_here(function, calls[i], state, threads)
            except Exception as error:
                failed(i, error)
    except BaseException:                                    # KeyboardInterrupt: stop the workers too
        with lock:
            pending.clear()
        executor.shutdown(wait=False, kill_workers=True)
        raise
    feeder.join()
    if errors:
        raise errors[min(errors)]
    return results, peaks[0]


class BackgroundCall:
    """A call that ``in_background`` started: ``result()`` waits for it and returns its value (or raises its
    error); ``done()`` says whether it has finished."""

    def __init__(self, name: str, future=None, value=None):
        self.name, self._future, self._value = name, future, value
        self._collected, self._error = future is None, None
        if future is not None:      # this process keeps half the cores until the result is taken, or the call dropped
            _background["uncollected"].add(self)

    def done(self) -> bool:
        return self._future is None or self._future.done()

    def result(self):
        """The call's return value, once it has finished (this waits for it); its exception if it raised."""
        if not self._collected:
            waiting = time.perf_counter()
            try:
                self._value, peak = self._future.result()
            except Exception as error:       # kept, and raised again by every later result()
                self._error = error
            else:
                log_training_record({"loop": "in_background", "model": self.name,
                                     "seconds": round(time.perf_counter() - waiting, 3), "steps": 1, "workers": 1,
                                     "worker_processes": 1, "worker_peak_memory": peak})
            self._collected = True
            _background["uncollected"].discard(self)
            _end_background_if_done()
        if self._error is not None:
            raise self._error
        return self._value

    def __repr__(self) -> str:
        return f"<BackgroundCall {self.name}: {'done' if self.done() else 'running'}>"


# The worker process of in_background, its calls, the BackgroundCalls whose results have not been taken (a weak
# set: a dropped one leaves it), and this process's torch threads before the first of them (None when they are
# its own again).
_background = {"executor": None, "futures": [], "uncollected": weakref.WeakSet(), "threads": None,
               "watched_shell": None}


def background_running() -> int:
    """How many ``in_background`` calls are running or waiting for their turn."""
    return sum(not future.done() for future in _background["futures"])


def _end_background_if_done(*_) -> None:
    """Once every background call has finished, end the worker process (their results are kept by their
    ``BackgroundCall``s); once every result has also been taken, give this process its threads back. Not sooner:
    what this process computes until then runs on the same threads however soon the worker finished, so that its
    numbers do not depend on timing. Called by ``result()``, ``in_background`` and before each notebook cell."""
    if _background["executor"] is not None and background_running() == 0:
        _background["executor"].shutdown(wait=False)
        _background["executor"], _background["futures"] = None, []
    if _background["threads"] is not None and _background["executor"] is None and not _background["uncollected"]:
        torch.set_num_threads(_background["threads"])      # here, in the main thread: OpenMP's setting is per thread
        _background["threads"] = None


def in_background(function: Callable, *arguments, **keyword_arguments) -> BackgroundCall:
    """Start ``function(*arguments, **keyword_arguments)`` in a worker process and return at once, so that this
    process goes on with other work; the returned ``BackgroundCall``'s ``result()`` waits for the value.

    For a long training whose model is needed only later (chapters 03, 04, 06 and 08 train their longest models
    while the chapter goes on with the small ones). Calls started while others run wait for them: one worker
    process, one call at a time, in the order they were started. While they run, the worker has half the CPU cores
    and this process the other half (torch's threads; on 2 cores one each), so that the two do not fight over the
    cores; once all have finished, the worker ends (at the next ``result()`` or, in a notebook, the next cell), and
    once every ``result()`` has been taken this process gets its threads back: until then it computes on the same
    threads however soon the worker finished, so that its numbers do not depend on timing. The call starts from this
    process's environment variables, working folder and random generators as they are now, and leaves this process's
    generators as they were: seed inside ``function`` for results that do not depend on where it ran. ``function``
    may be defined in a notebook (it is sent by value, with the globals it uses). On a GPU or MPS device, on one
    core or with ``DGM_WORKERS=1`` (as for ``side_by_side``) the call runs here at once, and ``result()`` returns
    its value. While background calls run, ``side_by_side`` runs its calls here, one after the other.
    """
    if not callable(function):
        raise TypeError(f"function must be callable, got {type(function).__name__}")
    name = getattr(function, "__name__", type(function).__name__)
    state = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    if workers_for(2) == 1:
        try:
            return BackgroundCall(name, value=function(*arguments, **keyword_arguments))
        finally:
            _set_random_states(state)        # as in a worker: the caller's generators are left as they were
    _end_background_if_done()
    threads = max(1, _cores() // 2)
    if _background["threads"] is None:
        _background["threads"] = torch.get_num_threads()
        torch.set_num_threads(max(1, _cores() - threads))
    if _background["executor"] is None:
        from joblib.externals.loky import ProcessPoolExecutor

        _background["executor"] = ProcessPoolExecutor(max_workers=1, env={variable: str(threads)
                                                                          for variable in _THREAD_VARIABLES})
        _watch_notebook_cells()
    call = functools.partial(function, *arguments, **keyword_arguments)
    future = _background["executor"].submit(_call_as_caller, call, (), dict(os.environ), os.getcwd(), state, threads)
    _background["futures"].append(future)
    return BackgroundCall(name, future)


def _watch_notebook_cells() -> None:
    """In IPython (a notebook's kernel), check before each cell whether the background calls have finished."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and _background["watched_shell"] is not shell:
        shell.events.register("pre_run_cell", _end_background_if_done)
        _background["watched_shell"] = shell


def in_ci() -> bool:
    """True when the environment variable ``CI`` is set to anything but an empty/false value."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def cache_only() -> bool:
    """True when ``$DGM_CACHE_ONLY`` is set (like ``CI``): ``train.fit`` then loads finished checkpoints and
    refuses to train. Graders and the student-version tests use it: what the course cached is not retrained."""
    return os.environ.get("DGM_CACHE_ONLY", "").strip().lower() not in ("", "0", "false", "no")


def progress(iterable=None, **kwargs):
    """A ``tqdm.auto`` progress bar (a widget in Jupyter, text in a terminal), silent under ``CI``."""
    kwargs.setdefault("disable", in_ci())
    kwargs.setdefault("leave", False)
    return tqdm(iterable, **kwargs)


def cache_dir() -> Path:
    """Folder for checkpoints and the leaderboard: ``$DGM_CACHE``, else ``.cache`` at the repository root.

    The folder is git-ignored; nothing in it is ever downloaded, only written by the course itself.
    """
    root = os.environ.get("DGM_CACHE")
    path = Path(root) if root else Path(__file__).resolve().parent.parent / ".cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def keep_freed_memory() -> bool:
    """Let glibc's malloc keep freed memory for the next allocation instead of handing it back to the system.

    By default every buffer over 32 MiB (and the top of the heap after a free) goes back to the system, so each
    training step and sampling pass page-faults its activations in afresh: on the course's batches that made
    a 1×1 convolution five times slower. With higher thresholds the process reuses its memory (its peak is
    unchanged: what is freed is reused, not added). Called once when ``course_lib`` is imported; a no-op
    returning False off glibc (macOS, Windows) or when ``$DGM_MALLOC_DEFAULTS`` is set.
    """
    if not sys.platform.startswith("linux") or os.environ.get("DGM_MALLOC_DEFAULTS"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:                     # musl or another C library: leave it alone
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3          # from glibc's <malloc.h>
    return bool(libc.mallopt(m_mmap_threshold, 1 << 30)) and bool(libc.mallopt(m_trim_threshold, (1 << 31) - 1))
