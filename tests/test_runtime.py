import platform
import random
import sys

import numpy as np
import pytest
import torch

from course_lib import runtime


def test_device_defaults_to_best_available(monkeypatch):
    monkeypatch.delenv("DGM_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert runtime.device().type == expected


def test_device_override(monkeypatch):
    monkeypatch.setenv("DGM_DEVICE", "cpu")
    assert runtime.device() == torch.device("cpu")


@pytest.mark.parametrize("value", ["tpu", "gpu0"])
def test_device_override_rejects_unknown(monkeypatch, value):
    monkeypatch.setenv("DGM_DEVICE", value)
    with pytest.raises(ValueError, match=r"DGM_DEVICE must be one of \('cuda', 'mps', 'cpu'\)"):
        runtime.device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_device_override_refuses_missing_cuda(monkeypatch):
    monkeypatch.setenv("DGM_DEVICE", "cuda")
    with pytest.raises(ValueError, match="DGM_DEVICE asks for 'cuda' but no CUDA device is available"):
        runtime.device()


def test_seed_everything_makes_all_generators_repeat():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    runtime.seed_everything(123)
    first = draw()
    runtime.seed_everything(123)
    assert draw() == first


@pytest.mark.parametrize("seed, error, message", [(1.5, TypeError, "seed must be an int, got float"),
                                                   ("0", TypeError, "seed must be an int, got str"),
                                                   (True, TypeError, "seed must be an int, got bool"),
                                                   (-1, ValueError, r"seed must be in \[0, 2\*\*32\), got -1")])
def test_seed_everything_rejects_bad_seeds(seed, error, message):
    with pytest.raises(error, match=message):
        runtime.seed_everything(seed)


@pytest.mark.parametrize("value, silent", [("true", True), ("1", True), ("", False), ("false", False)])
def test_progress_is_silent_under_ci(monkeypatch, value, silent):
    monkeypatch.setenv("CI", value)
    bar = runtime.progress(range(3))
    assert bar.disable is silent
    assert list(bar) == [0, 1, 2]


def test_cache_dir_follows_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DGM_CACHE", str(tmp_path / "here"))
    assert runtime.cache_dir() == tmp_path / "here"
    assert (tmp_path / "here").is_dir()


def test_keep_freed_memory_on_glibc_and_its_opt_out(monkeypatch):
    from course_lib.runtime import keep_freed_memory

    monkeypatch.setenv("DGM_MALLOC_DEFAULTS", "1")
    assert keep_freed_memory() is False
    monkeypatch.delenv("DGM_MALLOC_DEFAULTS")
    expected = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert keep_freed_memory() is expected


# --- side_by_side: independent calls in worker processes -------------------------------------------------------

def _report(a, b):
    """What a worker sees: the result, its process, its torch threads, the environment and a random draw."""
    import os

    import torch
    return a * b, os.getpid(), torch.get_num_threads(), os.environ.get("DGM_SIDE_TEST"), torch.rand(1).item(), os.getcwd()


def _fails(message):
    if message.startswith("broken"):
        raise ValueError(message)
    return message


def test_side_by_side_runs_here_and_in_a_worker_as_the_caller(monkeypatch, tmp_path):
    me = __import__("os").getpid()
    monkeypatch.setattr(runtime, "_cores", lambda: 2)
    monkeypatch.delenv(runtime.WORKERS_VARIABLE, raising=False)
    monkeypatch.setenv("DGM_SIDE_TEST", "first")
    monkeypatch.chdir(tmp_path)
    threads_before = torch.get_num_threads()
    torch.manual_seed(7)
    expected_draw = torch.rand(1).item()
    torch.manual_seed(7)
    results = runtime.side_by_side(_report, [(2, 3), {"b": 5, "a": 4}, (6, 7), (1, 1)])
    assert [r[0] for r in results] == [6, 20, 42, 1]                     # in the order of the calls
    processes = {r[1] for r in results}
    assert len(processes) == 2 and me in processes                       # 2 cores: here and in one worker process
    assert all(r[2] == 1 for r in results)                               # one thread each, here too …
    assert torch.get_num_threads() == threads_before                     # … and this process's threads put back
    assert all(r[3] == "first" for r in results)
    assert all(r[4] == expected_draw for r in results)                   # each starts from the caller's generator
    assert torch.rand(1).item() == expected_draw                         # which is left as it was
    assert all(r[5] == str(tmp_path) for r in results)
    assert not runtime.in_worker()
    monkeypatch.setenv("DGM_SIDE_TEST", "second")                        # the reused worker sees the change
    assert all(r[3] == "second" for r in runtime.side_by_side(_report, [(1, 1), (1, 1)]))


def _wait_for_the_others(name, folder, others):
    """Call ``name``: mark it done in ``folder``; "long" waits until ``others`` other calls have marked theirs."""
    import os
    import time
    open(os.path.join(folder, name), "w").close()
    deadline = time.monotonic() + 120
    while name == "long" and len(os.listdir(folder)) < others + 1:
        if time.monotonic() > deadline:
            return name, os.getpid(), False
        time.sleep(0.02)
    return name, os.getpid(), True


def test_side_by_side_gives_the_next_call_to_whoever_is_free(monkeypatch, tmp_path):
    # The long call finishes only once the three others have run: with the calls dealt out in advance, the one
    # running it would also hold one of them, and it would wait for ever (here: give up after two minutes).
    monkeypatch.setattr(runtime, "_cores", lambda: 2)
    monkeypatch.delenv(runtime.WORKERS_VARIABLE, raising=False)
    calls = [(name, str(tmp_path), 3) for name in ("long", "a", "b", "c")]
    results = runtime.side_by_side(_wait_for_the_others, calls)
    assert [name for name, _, _ in results] == ["long", "a", "b", "c"]
    assert results[0][2], "the long call waited in vain: the others were not given to the free process"
    long_process = results[0][1]
    assert all(process != long_process for _, process, _ in results[1:])
    assert len({process for _, process, _ in results}) == 2


def test_side_by_side_in_this_process_when_asked_or_on_one_core(monkeypatch):
    me = __import__("os").getpid()
    monkeypatch.setenv(runtime.WORKERS_VARIABLE, "1")
    torch.manual_seed(5)
    next_draw = torch.rand(1).item()
    torch.manual_seed(5)
    here = runtime.side_by_side(_report, [(1, 2), {"a": 3, "b": 4}])
    assert [r[1] for r in here] == [me, me]
    assert [r[4] for r in here] == [next_draw, next_draw]      # as in workers: each call from the caller's state,
    assert torch.rand(1).item() == next_draw                   # and the caller's generator left as it was
    monkeypatch.delenv(runtime.WORKERS_VARIABLE)
    monkeypatch.setattr(runtime, "_cores", lambda: 1)
    assert [r[0] for r in runtime.side_by_side(_report, [(1, 2), (3, 4)])] == [2, 12]
    assert runtime.workers_for(5) == 1
    assert runtime.side_by_side(_report, []) == []


def test_workers_for(monkeypatch):
    monkeypatch.delenv(runtime.WORKERS_VARIABLE, raising=False)
    monkeypatch.setattr(runtime, "_cores", lambda: 4)
    monkeypatch.setattr(runtime, "device", lambda: torch.device("cpu"))
    assert [runtime.workers_for(n) for n in (0, 1, 3, 9)] == [1, 1, 3, 4]
    monkeypatch.setattr(runtime, "device", lambda: torch.device("cuda"))    # GPU work stays in this process
    assert runtime.workers_for(9) == 1
    monkeypatch.setenv(runtime.WORKERS_VARIABLE, "2")
    assert runtime.workers_for(9) == 2
    with pytest.raises(TypeError, match="calls must be an int"):
        runtime.workers_for(2.0)
    with pytest.raises(ValueError, match="calls must be ≥ 0"):
        runtime.workers_for(-1)
    for bad in ("0", "two", "-1", "1.5"):
        monkeypatch.setenv(runtime.WORKERS_VARIABLE, bad)
        with pytest.raises(ValueError, match=runtime.WORKERS_VARIABLE):
            runtime.workers_for(3)


def test_side_by_side_raises_a_call_s_error_here(monkeypatch):
    monkeypatch.setattr(runtime, "_cores", lambda: 2)
    monkeypatch.delenv(runtime.WORKERS_VARIABLE, raising=False)
    threads_before = torch.get_num_threads()
    with pytest.raises(ValueError, match="broken on purpose"):
        runtime.side_by_side(_fails, [("fine",), ("broken on purpose",)])
    # two failures, here and in the worker: the first call's error is the one raised
    with pytest.raises(ValueError, match="broken first"):
        runtime.side_by_side(_fails, [("broken first",), ("broken second",)])
    assert torch.get_num_threads() == threads_before and not runtime.in_worker()
    assert runtime.side_by_side(_fails, [("after",), ("an error",)]) == ["after", "an error"]    # the pool still works


@pytest.mark.parametrize("function, calls, message", [
    (42, [(1,)], "function must be callable"),
    (_report, 5, "calls must be an iterable"),
    (_report, "ab", "calls must be an iterable"),
    (_report, [(1, 2), [3, 4]], r"calls\[1\] must be a tuple"),
    (_report, [{"a": 1, 2: 3}], r"calls\[0\]: keyword argument names must be str"),
])
def test_side_by_side_rejects_bad_input(function, calls, message):
    with pytest.raises(TypeError, match=message):
        runtime.side_by_side(function, calls)


def _tiny_fit(name, folder):
    from course_lib.models import FVSBN
    from course_lib.train import fit
    x = torch.randint(0, 3, (40, 1, 2, 2)).float()
    fit(FVSBN((1, 2, 2), 3), x, epochs=2, progress=False, checkpoint=f"{folder}/{name}.pt")
    return runtime.in_worker()


def test_side_by_side_logs_its_wall_time_and_its_workers_trainings(monkeypatch, tmp_path):
    import json
    log = tmp_path / "log.jsonl"
    monkeypatch.setenv(runtime.TRAINING_LOG_VARIABLE, str(log))
    monkeypatch.setattr(runtime, "_cores", lambda: 2)
    monkeypatch.delenv(runtime.WORKERS_VARIABLE, raising=False)
    assert runtime.side_by_side(_tiny_fit, [("a", str(tmp_path)), ("b", str(tmp_path))]) == [True, True]
    assert not runtime.in_worker()
    records = [json.loads(line) for line in log.read_text().splitlines()]
    trainings = sorted((r for r in records if r["loop"] == "fit"), key=lambda r: r["model"])
    assert [(r["model"], r["steps"], r["worker"]) for r in trainings] == [("a", 2, True), ("b", 2, True)]
    (call,) = [r for r in records if r["loop"] == "side_by_side"]
    assert call["model"] == "_tiny_fit" and call["steps"] == 2 and call["workers"] == 2 and call["seconds"] > 0
    assert call["worker_processes"] == 1                    # the other call ran here
    assert 5e7 < call["worker_peak_memory"] < 5e9           # a worker holds at least PyTorch (~0.2 GB)
    log.unlink()
    monkeypatch.setenv(runtime.WORKERS_VARIABLE, "1")                  # in this process: no side-by-side record
    assert runtime.side_by_side(_tiny_fit, [("c", str(tmp_path))]) == [False]
    assert [(r["loop"], r["worker"]) for r in map(json.loads, log.read_text().splitlines())] == [("fit", False)]


# --- in_background: a call in a worker process while this one goes on ------------------------------------------

def _when_told(folder, name):
    """Wait until ``folder/go`` exists, then write ``folder/name``; what the worker saw."""
    import os
    import time

    import torch
    deadline = time.monotonic() + 120
    while not os.path.exists(os.path.join(folder, "go")):
        if time.monotonic() > deadline:
            raise TimeoutError("nobody said go")
        time.sleep(0.02)
    open(os.path.join(folder, name), "w").close()
    return (name, os.getpid(), torch.get_num_threads(), os.environ.get("DGM_SIDE_TEST"), torch.rand(1).item(),
            sorted(os.listdir(folder)), os.getcwd())


@pytest.fixture
def two_cores(monkeypatch, tmp_path):
    monkeypatch.setattr(runtime, "_cores", lambda: 2)
    monkeypatch.delenv(runtime.WORKERS_VARIABLE, raising=False)
    yield
    (tmp_path / "go").touch()         # a test that failed early leaves no call waiting in the worker for the next


def test_in_background_returns_at_once_and_runs_elsewhere(two_cores, monkeypatch, tmp_path):
    me, threads_before = __import__("os").getpid(), torch.get_num_threads()
    monkeypatch.setenv("DGM_SIDE_TEST", "now")
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(11)
    expected_draw = torch.rand(1).item()
    torch.manual_seed(11)
    first = runtime.in_background(_when_told, str(tmp_path), "first")
    second = runtime.in_background(_when_told, folder=str(tmp_path), name="second")
    assert not first.done() and not second.done() and runtime.background_running() == 2   # they wait for "go"
    assert torch.get_num_threads() == 1                     # this process leaves the other core to the worker
    assert torch.rand(1).item() == expected_draw            # and its generator is as it was
    (tmp_path / "go").touch()
    a, b = first.result(), second.result()
    assert a[0] == "first" and b[0] == "second"
    assert a[1] == b[1] != me                               # one worker process, not this one …
    assert a[5] == ["first", "go"] and b[5] == ["first", "go", "second"]   # … the calls in the order they started
    assert a[2] == b[2] == 1 and a[3] == "now" and a[6] == str(tmp_path)
    assert a[4] == b[4] == expected_draw                    # each from the generator as it was when it started
    assert runtime.background_running() == 0 and torch.get_num_threads() == threads_before   # threads back
    assert first.result() == a and first.done()             # the value is kept


def test_in_background_raises_the_call_s_error_at_its_result(two_cores, tmp_path):
    threads_before = torch.get_num_threads()
    failing = runtime.in_background(_fails, "broken on purpose")
    fine = runtime.in_background(_fails, "fine")
    for _ in range(2):                                      # every time it is asked
        with pytest.raises(ValueError, match="broken on purpose"):
            failing.result()
    assert fine.result() == "fine" and torch.get_num_threads() == threads_before


def test_in_background_runs_here_at_once_with_one_worker(monkeypatch, tmp_path):
    me = __import__("os").getpid()
    monkeypatch.setenv(runtime.WORKERS_VARIABLE, "1")
    (tmp_path / "go").touch()
    torch.manual_seed(2)
    draw = torch.rand(1).item()
    torch.manual_seed(2)
    call = runtime.in_background(_when_told, str(tmp_path), "here")
    assert call.done() and runtime.background_running() == 0
    assert call.result()[1] == me and call.result()[4] == draw
    assert torch.rand(1).item() == draw                     # the caller's generator as it was


def test_side_by_side_runs_here_while_a_background_call_runs(two_cores, tmp_path):
    me = __import__("os").getpid()
    later = runtime.in_background(_when_told, str(tmp_path), "later")
    assert [r[1] for r in runtime.side_by_side(_report, [(1, 2), (3, 4)])] == [me, me]    # the worker is busy
    (tmp_path / "go").touch()
    assert later.result()[1] != me


def test_in_background_logs_the_wait_and_marks_its_trainings(two_cores, monkeypatch, tmp_path):
    import json
    log = tmp_path / "log.jsonl"
    monkeypatch.setenv(runtime.TRAINING_LOG_VARIABLE, str(log))
    assert runtime.in_background(_tiny_fit, "bg", str(tmp_path)).result() is True     # in_worker() there
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["loop"], r["model"]) for r in records] == [("fit", "bg"), ("in_background", "_tiny_fit")]
    assert records[0]["worker"] is True
    assert records[1]["worker_processes"] == 1 and 5e7 < records[1]["worker_peak_memory"] < 5e9
    assert records[1]["seconds"] >= 0


def _wait_until_done(call):
    for _ in range(6000):                                   # at most two minutes
        if call.done():
            return
        __import__("time").sleep(0.02)
    raise TimeoutError(f"{call} did not finish")


def test_in_background_keeps_this_process_on_its_threads_until_the_result_is_taken(two_cores, tmp_path):
    """A finished worker ends at the next cell, but the threads come back only with the result: what the notebook
    computes in between runs on one thread however soon the worker finished, so its numbers do not depend on timing."""
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance()
    try:
        threads_before = torch.get_num_threads()
        (tmp_path / "go").touch()
        call = runtime.in_background(_when_told, str(tmp_path), "cell")
        assert torch.get_num_threads() == 1
        _wait_until_done(call)
        shell.run_cell("1 + 1")                             # a cell starts: the finished worker ends …
        assert runtime.background_running() == 0 and runtime._background["executor"] is None
        assert torch.get_num_threads() == 1                 # … but this process stays on its one thread
        later = runtime.in_background(_when_told, str(tmp_path), "later")    # a new worker, same split of the cores
        assert torch.get_num_threads() == 1
        assert later.result()[0] == "later" and torch.get_num_threads() == 1  # the first result is still untaken
        assert call.result()[0] == "cell" and torch.get_num_threads() == threads_before   # now it is
    finally:
        InteractiveShell.clear_instance()


def test_a_dropped_background_call_gives_the_threads_back_at_the_next_cell(two_cores, tmp_path):
    import gc
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance()
    try:
        threads_before = torch.get_num_threads()
        (tmp_path / "go").touch()
        call = runtime.in_background(_when_told, str(tmp_path), "dropped")
        _wait_until_done(call)
        del call                                            # as when a notebook cell that started it runs again
        gc.collect()
        shell.run_cell("1 + 1")
        assert torch.get_num_threads() == threads_before and not runtime._background["uncollected"]
    finally:
        InteractiveShell.clear_instance()


def test_in_background_rejects_what_it_cannot_call():
    with pytest.raises(TypeError, match="function must be callable"):
        runtime.in_background(42)
