"""Benchmarks that hold the course's budgets; they report, they do not assert.

``python -m course_lib.teaching.bench [chapters…]``: wall time and peak memory of every chapter, each from a
fresh kernel (budgets: ≤ 120 s and ≤ 1.5 GB a chapter on a 2-core CPU, ≤ 15 min in all).
``python -m course_lib.teaching.bench --repeat 20 --load 2 [chapters…]``: the hang hunt — every chapter 20 times
from a fresh kernel while 2 busy-looping processes load the CPU; a run far slower than the chapter's median
(a stall) is flagged, and the per-cell timeout turns a hang into an error that names the cell.
``python -m course_lib.teaching.bench --grading``: grading five students (the solutions, the stubs, an edited
check, a hang, a corrupted file) on chapters 01–04 with ``assign grade``'s defaults and 2 jobs: wall time and
summary (the course cache must hold the chapters' models: run them first).
``python -m course_lib.teaching.bench --gmm``: our EM against scikit-learn's ``GaussianMixture`` on the digits
(10 diagonal components, same initial parameters): final log-likelihoods and wall-time ratio.
``python -m course_lib.teaching.bench --fid``: the Fréchet distance between two sets of 10 000 64-d features,
ours (a Cholesky factor and one symmetric eigenvalue problem) against the ``scipy.linalg.sqrtm`` formula: time
ratio and relative difference.
``python -m course_lib.teaching.bench --throughput``: training throughput (images per second) of the
chapter-04 VAE and the chapter-03 PixelCNN on the digits, through ``train.fit``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import NamedTuple

import nbformat
from nbclient import NotebookClient

from .assign import chapter_notebooks
from .kernel_messages import install_wakeup_guard

CHAPTER_BUDGET_S, COURSE_BUDGET_S, CHAPTER_MEMORY_BUDGET = 120.0, 15 * 60.0, 1.5e9

# Run in the kernel after the chapter: its peak resident memory in bytes. On Linux VmHWM (reset when the
# kernel's program starts; ru_maxrss would also count the launching process's memory at fork time).
PEAK_MEMORY_CELL = """import resource, sys
try:
    _peak = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmHWM:"))
except OSError:   # no /proc (macOS): ru_maxrss, in bytes there
    _peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print("peak-memory-bytes", _peak)"""


class ChapterRun(NamedTuple):
    """One chapter run from a fresh kernel: wall time (s) and the kernel's peak resident memory (bytes)."""
    seconds: float
    peak_memory: int


def run_chapter(path: Path, timeout: int = 1200) -> ChapterRun:
    """Execute the notebook at ``path`` top to bottom in a fresh kernel; return its wall time and peak memory."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"path: no notebook at {path}")
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(PEAK_MEMORY_CELL))
    install_wakeup_guard()                    # no stall on a missed zmq wake-up (see kernel_messages)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(Path(path).parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    printed = "".join(output.get("text", "") for output in notebook.cells[-1].outputs)
    return ChapterRun(seconds, int(printed.split("peak-memory-bytes")[1].split()[0]))


def _burn() -> None:
    while True:
        pass


def repeat_runs(chapters: list[Path], repeats: int, load: int = 0, cell_timeout: int = 600) -> dict[str, list[float]]:
    """Wall times of ``repeats`` fresh-kernel runs of every chapter, with ``load`` CPU-burning processes alive."""
    import multiprocessing

    burners = [multiprocessing.Process(target=_burn, daemon=True) for _ in range(load)]
    for burner in burners:
        burner.start()
    times: dict[str, list[float]] = {}
    try:
        for chapter in chapters:
            for run in range(repeats):
                seconds = run_chapter(chapter, timeout=cell_timeout).seconds
                times.setdefault(chapter.name, []).append(seconds)
                print(f"{chapter.name:40s} run {run + 1:3d}/{repeats} {seconds:7.1f} s", flush=True)
    finally:
        for burner in burners:
            burner.terminate()
    return times


def grading_benchmark(chapters: list[Path], jobs: int = 2) -> tuple[float, str]:
    """Grade a class of five built from ``chapters``; return (wall time in s, the grader's summary)."""
    import tempfile

    from .assign import student_notebook
    from .grade import grade_folder, summary

    with tempfile.TemporaryDirectory(prefix="dgm-grading-bench-") as folder:
        folder = Path(folder)
        for student in ("solutions", "stubs", "edited_check", "hang", "corrupted"):
            (folder / student).mkdir()
        for chapter in chapters:
            teacher = nbformat.read(chapter, as_version=4)
            stubs, solutions = student_notebook(teacher)
            nbformat.write(teacher, folder / "solutions" / chapter.name)
            nbformat.write(stubs, folder / "stubs" / chapter.name)
            edited = nbformat.from_dict(stubs)
            for cell in edited.cells:
                if "check" in cell.metadata.get("tags", []):
                    cell.source = 'print("✔ all good")'
            nbformat.write(edited, folder / "edited_check" / chapter.name)
            hang = nbformat.from_dict(teacher)
            hang.cells[solutions[0].cell].source = "while True:\n    pass"
            nbformat.write(hang, folder / "hang" / chapter.name)
            (folder / "corrupted" / chapter.name).write_text(nbformat.writes(teacher)[:1000])
        start = time.perf_counter()
        grades = grade_folder(folder, chapters, jobs=jobs, cell_timeout=60)
        return time.perf_counter() - start, summary(grades)


def gmm_versus_sklearn(n_components: int = 10, repeats: int = 11) -> dict:
    """EM on the dequantized digits training split, ours vs scikit-learn, from the same k-means++ start.

    Each side runs ``repeats`` times in a block (interleaving them lets one library's idle BLAS/OpenMP
    threads spin against the other's); the median wall times are compared.
    """
    import numpy as np
    import torch
    from sklearn.mixture import GaussianMixture as SklearnMixture

    from ..data import dequantize, load_digits
    from ..models.mixtures import GaussianMixture

    x = dequantize(load_digits().train.x, torch.Generator().manual_seed(0)).reshape(1000, -1).double()
    ours = GaussianMixture(n_components, "diag", max_iter=1000, tol=1e-3)
    weights, means, variances = ours.initial_parameters(x, torch.Generator().manual_seed(0))
    theirs = SklearnMixture(n_components, covariance_type="diag", max_iter=1000, tol=1e-3, reg_covar=1e-6,
                            weights_init=weights.numpy(), means_init=means.numpy(),
                            precisions_init=(1 / variances).numpy())
    x_np = x.numpy()

    ours_s = median_time(lambda: ours.fit(x, init=(weights, means, variances)), repeats)
    theirs_s = median_time(lambda: theirs.fit(x_np), repeats)
    return {"ours_ll": ours.log_prob(x).mean().item(), "sklearn_ll": float(theirs.score(x_np)),
            "ours_iterations": len(ours.log_likelihood_history), "sklearn_iterations": int(theirs.n_iter_),
            "ours_s": ours_s, "sklearn_s": theirs_s, "ratio": ours_s / theirs_s,
            "threads": torch.get_num_threads(), "numpy": np.__version__}


def median_time(function, repeats: int) -> float:
    """The median wall time of ``repeats`` calls of ``function()``, in s, after one warm-up call."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def fid_against_scipy(n: int = 10_000, d: int = 64, seed: int = 0) -> dict:
    """FID between two sets of ``n`` correlated ``d``-dimensional features: ``sample_metrics.frechet_distance``
    against the textbook formula with ``scipy.linalg.sqrtm`` (same covariances, float64), both timed."""
    import numpy as np
    import scipy.linalg
    import torch

    from .. import randomness
    from ..evaluation import sample_metrics

    generator = torch.Generator().manual_seed(seed)
    mixing = randomness.normal((d, d), generator=generator, dtype=torch.float64)
    a = randomness.normal((n, d), generator=generator, dtype=torch.float64) @ mixing
    b = randomness.normal((n, d), generator=generator, dtype=torch.float64) @ (mixing + 0.1) + 0.2
    (mean_a, cov_a), (mean_b, cov_b) = sample_metrics.gaussian_statistics(a), sample_metrics.gaussian_statistics(b)

    def scipy_fid():
        root = scipy.linalg.sqrtm(cov_a.numpy() @ cov_b.numpy())
        return float(((mean_a - mean_b) ** 2).sum() + np.trace(cov_a.numpy() + cov_b.numpy() - 2 * root.real))

    ours_s = median_time(lambda: sample_metrics.frechet_distance_from_statistics(mean_a, cov_a, mean_b, cov_b), 5)
    theirs_s = median_time(scipy_fid, 5)
    ours, theirs = sample_metrics.frechet_distance_from_statistics(mean_a, cov_a, mean_b, cov_b), scipy_fid()
    return {"ours": ours, "scipy": theirs, "relative_difference": abs(ours - theirs) / abs(theirs),
            "ours_s": ours_s, "scipy_s": theirs_s, "speed_up": theirs_s / ours_s}


def host_reads(function) -> int:
    """How many times ``function()`` reads a tensor value back into Python (``item()``, ``bool(tensor)``): on a
    GPU each one waits for the device. Reads inside ``Optimizer.step`` (Adam's CPU step counters) are not counted."""
    import torch
    from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook
    from torch.utils._python_dispatch import TorchDispatchMode

    reads = {torch.ops.aten._local_scalar_dense.default, torch.ops.aten.is_nonzero.default}
    state = {"count": 0, "in_step": False}

    class Counter(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            state["count"] += func in reads and not state["in_step"]
            return func(*args, **(kwargs or {}))

    def step_hook(optimizer, args, kwargs):
        state["in_step"] = True

    def step_done(optimizer, args, kwargs):
        state["in_step"] = False

    hooks = [register_optimizer_step_pre_hook(step_hook),
             register_optimizer_step_post_hook(step_done)]
    try:
        with Counter():
            function()
    finally:
        for hook in hooks:
            hook.remove()
    return state["count"]


def training_throughput(epochs: dict | None = None, repeats: int = 3, device: str = "cpu") -> dict:
    """For the chapter-04 VAE (8-d latent, 256 hidden, dropout 0.2) and the chapter-03 PixelCNN (48 channels,
    5 layers) on the 1000 training digits, batch 64: the images per second ``train.fit`` trains (median of
    ``repeats`` runs, no validation) and the host reads of one epoch with validation (``host_reads``)."""
    import torch

    from ..data import load_digits
    from ..models import VAE, PixelCNN
    from ..train import fit

    epochs = epochs or {"VAE (chapter 04)": 20, "PixelCNN (chapter 03)": 3}
    makers = {"VAE (chapter 04)": lambda: VAE((1, 8, 8), 17, latent_dim=8, hidden=256, dropout=0.2),
              "PixelCNN (chapter 03)": lambda: PixelCNN((1, 8, 8), 17, channels=48, layers=5)}
    split = load_digits()
    results = {}
    for name, make in makers.items():
        runs = []
        for _ in range(repeats):
            torch.manual_seed(0)
            model = make()
            start = time.perf_counter()
            fit(model, split.train, epochs=epochs[name], batch_size=64, progress=False, device=torch.device(device))
            runs.append(epochs[name] * len(split.train.x) / (time.perf_counter() - start))
        reads = host_reads(lambda: fit(make(), split.train, split.val, epochs=1, batch_size=64, progress=False,
                                       device=torch.device(device)))
        results[name] = {"images_per_s": statistics.median(runs), "host_reads_per_epoch": reads}
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.teaching.bench", description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", type=Path, help="notebooks (default: every chapter)")
    parser.add_argument("--gmm", action="store_true", help="benchmark our GMM-EM against scikit-learn's")
    parser.add_argument("--throughput", action="store_true",
                        help="training throughput of the chapter-04 VAE and the chapter-03 PixelCNN")
    parser.add_argument("--repeat", type=int, default=0, metavar="N",
                        help="run every chapter N times (the hang hunt) and flag runs far slower than the median")
    parser.add_argument("--load", type=int, default=0, metavar="K", help="with --repeat: K CPU-burning processes")
    parser.add_argument("--fid", action="store_true", help="our FID against the scipy.linalg.sqrtm formula")
    parser.add_argument("--grading", action="store_true", help="grade five students on chapters 01–04 (time)")
    args = parser.parse_args(argv)
    if args.fid:
        result = fid_against_scipy()
        print(f"FID of two sets of 10 000 64-d features: ours {result['ours']:.6f} in {result['ours_s'] * 1e3:.1f} ms, "
              f"scipy.linalg.sqrtm {result['scipy']:.6f} in {result['scipy_s'] * 1e3:.1f} ms: "
              f"{result['speed_up']:.1f}× faster, relative difference {result['relative_difference']:.1e}")
        return 0
    if args.grading:
        chapters = args.chapters or chapter_notebooks()[:4]
        seconds, table = grading_benchmark(chapters)
        print(table)
        print(f"graded 5 students × {len(chapters)} chapters with 2 jobs in {seconds:.0f} s")
        return 0
    if args.repeat < 0 or args.load < 0:
        parser.error("--repeat and --load must be ≥ 0")
    if args.repeat:
        times = repeat_runs(args.chapters or chapter_notebooks(), args.repeat, args.load)
        stalls = 0
        for name, runs in times.items():
            median = statistics.median(runs)
            slow = [round(t, 1) for t in runs if t > 2 * median + 5]   # a missed message costs a timeout, not %
            stalls += len(slow)
            print(f"{name:40s} median {median:6.1f} s, max {max(runs):6.1f} s, stalled runs: {slow or 'none'}")
        print(f"{sum(map(len, times.values()))} runs, {stalls} stalled, {args.load} CPU burners")
        return 1 if stalls else 0
    if args.throughput:
        import torch

        print(f"training on the digits, batch 64, {torch.get_num_threads()} torch threads: images/s (median of 3); "
              f"host reads in one epoch of 16 batches + validation")
        for name, result in training_throughput().items():
            print(f"  {name:24s} {result['images_per_s']:8.0f} images/s {result['host_reads_per_epoch']:6d} host reads")
        return 0
    if args.gmm:
        r = gmm_versus_sklearn()
        print(f"GMM-EM, digits train (1000 × 64), 10 diagonal components, same start, tol 1e-3, "
              f"{r['threads']} torch threads")
        print(f"  final mean log-likelihood: ours {r['ours_ll']:.4f}, scikit-learn {r['sklearn_ll']:.4f} nats/image "
              f"(difference {abs(r['ours_ll'] - r['sklearn_ll']):.1e})")
        print(f"  iterations: ours {r['ours_iterations']}, scikit-learn {r['sklearn_iterations']}")
        print(f"  median wall time: ours {r['ours_s'] * 1e3:.1f} ms, scikit-learn {r['sklearn_s'] * 1e3:.1f} ms, "
              f"ratio {r['ratio']:.2f}")
        return 0
    chapters = args.chapters or chapter_notebooks()
    total = 0.0
    print(f"{'chapter':40s} {'wall':>9s} {'peak memory':>12s}")
    for chapter in chapters:
        seconds, peak = run_chapter(chapter)
        total += seconds
        flag = "" if seconds <= CHAPTER_BUDGET_S else f"  OVER the {CHAPTER_BUDGET_S:.0f} s budget"
        if peak > CHAPTER_MEMORY_BUDGET:
            flag += f"  OVER the {CHAPTER_MEMORY_BUDGET / 1e9:.1f} GB budget"
        print(f"{chapter.name:40s} {seconds:7.1f} s {peak / 1e9:9.2f} GB{flag}", flush=True)
    flag = "" if total <= COURSE_BUDGET_S else f"  OVER the {COURSE_BUDGET_S:.0f} s budget"
    print(f"{'total':40s} {total:7.1f} s{flag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
