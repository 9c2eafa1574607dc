"""Benchmarks that hold the course's budgets; they report, they do not assert.

``python -m course_lib.teaching.bench [chapters…]``: wall time and peak memory of every chapter, each from a
fresh kernel, and under it the seconds each model's training took (budgets on a quiet 2-core CPU: ≤ 60 s and
≤ 1.5 GB a chapter from an empty cache, ≤ 90 s for chapter 09 with the cache the others wrote, ≤ 10 min in all);
the CPU seconds of the kernel and its workers, whose share per core is the least wall time the chapter's work
allows (what no better schedule can beat); before and after the chapters, how long one epoch of a reference model
takes, to tell a busy host from a slow chapter.
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
``python -m course_lib.teaching.bench --train``: one epoch of every model family on the digits (the chapters'
recipes: architecture, batch size), timed after a warm-up epoch: images per second, so recipes can be compared on
one machine in one run, and how often an epoch reads a value back to Python (each read waits for a GPU).
``python -m course_lib.bench`` is the same command.
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

CHAPTER_BUDGET_S, EVALUATION_BUDGET_S, COURSE_BUDGET_S, CHAPTER_MEMORY_BUDGET = 60.0, 90.0, 10 * 60.0, 1.5e9

# Run in the kernel after the chapter: its peak resident memory in bytes. On Linux VmHWM (reset when the
# kernel's program starts; ru_maxrss would also count the launching process's memory at fork time). Written out,
# not runtime.peak_memory: importing course_lib would load PyTorch into a chapter that may not use it.
PEAK_MEMORY_CELL = """import resource, sys
try:
    _peak = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmHWM:"))
except OSError:   # no /proc (macOS): ru_maxrss, in bytes there
    _peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print("peak-memory-bytes", _peak)"""


class ChapterRun(NamedTuple):
    """One chapter run from a fresh kernel: wall time (s), the kernel's peak resident memory (bytes), one record
    per training call (``train.fit``, ``minimize``, ``fit_adversarial``) in the order they ran: the model (its
    checkpoint's name), the seconds and the epochs or steps run (0: loaded from the cache); and the CPU seconds
    the kernel and its worker processes used together (0: not measured). Divided by the cores, the CPU seconds are
    the least wall time any schedule of the chapter's work could reach: a chapter far above it leaves cores idle,
    one near it can only get faster by doing less work. (Other processes' time is not counted, but a busy host
    still slows every instruction: compare CPU seconds, like wall times, on one host in one run.)"""
    seconds: float
    peak_memory: int
    trainings: list[dict]
    cpu_seconds: float = 0.0


def run_chapter(path: Path, timeout: int = 1200) -> ChapterRun:
    """Execute the notebook at ``path`` top to bottom in a fresh kernel; return its wall time, peak memory and
    the training calls it made (the kernel appends them to the file ``$DGM_TRAINING_LOG`` names)."""
    import json
    import os
    import tempfile

    from ..runtime import TRAINING_LOG_VARIABLE

    if not Path(path).is_file():
        raise FileNotFoundError(f"path: no notebook at {path}")
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(PEAK_MEMORY_CELL))
    install_wakeup_guard()                    # no stall on a missed zmq wake-up (see kernel_messages)
    with tempfile.TemporaryDirectory(prefix="dgm-bench-") as folder:
        log = Path(folder) / "training.jsonl"
        previous = os.environ.get(TRAINING_LOG_VARIABLE)
        os.environ[TRAINING_LOG_VARIABLE] = str(log)        # the kernel inherits it
        try:
            # The kernel's log at ERROR: its start-up warning about plain TCP on this machine's loopback would
            # otherwise be printed among the report's lines.
            client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                                    extra_arguments=["--IPKernelApp.log_level=ERROR"],
                                    resources={"metadata": {"path": str(Path(path).parent)}})
            cpu_before = _children_cpu_seconds()
            start = time.perf_counter()
            client.execute()                  # starts the kernel and, once it has run every cell, shuts it down
            seconds = time.perf_counter() - start
            cpu_seconds = _children_cpu_seconds() - cpu_before
        finally:
            if previous is None:
                os.environ.pop(TRAINING_LOG_VARIABLE, None)
            else:
                os.environ[TRAINING_LOG_VARIABLE] = previous
        trainings = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    printed = "".join(output.get("text", "") for output in notebook.cells[-1].outputs)
    return ChapterRun(seconds, int(printed.split("peak-memory-bytes")[1].split()[0]), trainings, max(cpu_seconds, 0.0))


def _children_cpu_seconds() -> float:
    """User + system CPU seconds of this process's finished children and of everything they waited for: after a
    chapter, its kernel and the kernel's worker processes (which end with it). 0 where ``resource`` is missing."""
    try:
        import resource
    except ImportError:                       # Windows
        return 0.0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def chapter_report(name: str, run: ChapterRun, budget: float) -> str:
    """The lines ``make bench`` prints for one chapter: wall time, peak memory, flags over budget, then every
    training call, longest first, and what the rest of the chapter (evaluation, sampling, figures) took."""
    flag = "" if run.seconds <= budget else f"  OVER the {budget:.0f} s budget"
    # side_by_side's worker processes live beside the kernel: their peaks count towards the chapter's memory (the
    # kernel runs its own share of the calls, so its peak holds that already)
    calls = [record for record in run.trainings if record["loop"] in ("side_by_side", "in_background")]
    processes = max((record["worker_processes"] for record in calls), default=0)
    worker_peak = max((record.get("worker_peak_memory", 0) for record in calls), default=0)
    memory = run.peak_memory + processes * worker_peak
    if memory > CHAPTER_MEMORY_BUDGET:
        flag += f"  OVER the {CHAPTER_MEMORY_BUDGET / 1e9:.1f} GB budget"
    lines = [f"{name:40s} {run.seconds:7.1f} s {run.peak_memory / 1e9:9.2f} GB{flag}"]
    if processes:
        lines.append(f"    worker processes: {processes} × {worker_peak / 1e9:.2f} GB at their peak; with the kernel's "
                     f"{memory / 1e9:.2f} GB")
    if run.cpu_seconds > 0:
        from ..runtime import _cores

        cores = _cores()
        lines.append(f"    CPU time, kernel and workers: {run.cpu_seconds:.1f} s; on {cores} core{'s' * (cores > 1)} no "
                     f"schedule of this work takes less than {run.cpu_seconds / cores:.1f} s")
    for record in sorted(run.trainings, key=lambda r: -r["seconds"]):
        if record["loop"] == "side_by_side":
            lines.append(f"    side by side: {record['model'][:41]:41s} {record['seconds']:6.1f} s  ({record['steps']} calls, "
                         f"{record['workers']} at a time, wall time)")
            continue
        if record["loop"] == "in_background":
            lines.append(f"    in the background: {record['model'][:36]:36s} {record['seconds']:6.1f} s  (waited for "
                         f"its result)")
            continue
        what = "from the cache" if record["steps"] == 0 else f"{record['steps']} {'epochs' if record['loop'] == 'fit' else 'steps'}"
        where = ", side by side" if record.get("worker") else ""
        lines.append(f"    train {record['model'][:50]:50s} {record['seconds']:6.1f} s  ({what}{where})")
    # The chapter waited for: the trainings it ran on their own, the wall time of the side-by-side calls, and
    # the time it waited for background results.
    waited = sum(record["seconds"] for record in run.trainings if record["loop"] in ("side_by_side", "in_background")
                 or not record.get("worker"))
    side_by_side = sum(record["seconds"] for record in run.trainings if record.get("worker"))
    side = f" (with {side_by_side:.1f} s of training side by side or in the background)" if side_by_side else ""
    lines.append(f"    {'training, all models':56s} {waited:6.1f} s{side}; the rest of the chapter {run.seconds - waited:.1f} s")
    return "\n".join(lines)


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


def training_families() -> dict:
    """Every model family's digit model as its chapter trains it: name → (make the model, how to train one epoch
    of the 1000 training digits: ``train.fit``'s or ``fit_adversarial``'s keyword arguments)."""
    from ..models import (DDPM, GAN, VAE, BiGAN, CausalConvSequence, ConvEncoder, DCDiscriminator, DCGenerator,
                          FlowMatching, GatedPixelCNN, ImageFlow, JointDiscriminator, PixelCNN, realnvp_image_body)
    from ..nn.denoisers import MLPDenoiser, UNetDenoiser

    shape, levels = (1, 8, 8), 17
    dilations = (1, 2, 4, 8, 16, 32)
    epoch_steps = 16                              # ⌈1000 / 64⌉ minibatches of 64: one epoch of a GAN
    return {
        "PixelCNN (ch03)": (lambda: PixelCNN(shape, levels, channels=32, layers=5), dict(batch_size=64)),
        "gated PixelCNN (ch03)": (lambda: GatedPixelCNN(shape, levels, channels=32, layers=5), dict(batch_size=64)),
        "WaveNet-style (ch03)": (lambda: CausalConvSequence(shape, levels, channels=64, dilations=dilations,
                                                            dropout=0.3), dict(batch_size=64)),
        "VAE (ch04)": (lambda: VAE(shape, levels, latent_dim=8, hidden=256, dropout=0.2), dict(batch_size=64)),
        "RealNVP flow (ch05)": (lambda: ImageFlow(realnvp_image_body(shape, hidden=32), shape, levels),
                                dict(batch_size=64)),
        "DCGAN (ch06)": (lambda: GAN(DCGenerator(latent_dim=16, side=8, channels=32),
                                     DCDiscriminator(side=8, channels=32), levels=levels),
                         dict(steps=epoch_steps, batch_size=64)),
        "BiGAN (ch06)": (lambda: BiGAN(DCGenerator(latent_dim=16, side=8, channels=32),
                                       ConvEncoder(latent_dim=16, side=8, channels=32),
                                       JointDiscriminator(latent_dim=16, side=8, channels=32), levels=levels),
                         dict(steps=epoch_steps, batch_size=64)),
        "WGAN-GP (ch07)": (lambda: GAN(DCGenerator(latent_dim=16, side=8, channels=32),
                                       DCDiscriminator(side=8, channels=32), levels=levels, loss="wasserstein",
                                       gradient_penalty=10.0),
                           dict(steps=epoch_steps // 5, batch_size=64, discriminator_steps=4)),
        "DDPM (ch08)": (lambda: DDPM(MLPDenoiser(shape, hidden=256, blocks=3, context_classes=10), shape, levels,
                                     steps=1000, label_dropout=0.1), dict(batch_size=128, labels_as_context=True)),
        "flow matching (ch08)": (lambda: FlowMatching(MLPDenoiser(shape, hidden=256, blocks=3, context_classes=10),
                                                      shape, levels, label_dropout=0.1),
                                 dict(batch_size=128, labels_as_context=True)),
        "flow matching, U-Net (ch08)": (lambda: FlowMatching(UNetDenoiser(shape, width=16, depth=1), shape, levels,
                                                             label_dropout=0.0), dict(batch_size=128)),
    }


def training_speed(repeats: int = 3, device: str = "cpu") -> dict[str, tuple[float, int]]:
    """(images per second, host reads) of one training epoch of every family (``training_families``) on the
    1000 training digits: the median of ``repeats`` epochs, each after a warm-up epoch of the same model, and
    the reads of one more epoch (``host_reads``). A GAN's epoch is 16 steps of 64 real images for the
    discriminator (a WGAN-GP's critic takes 4 steps per generator step)."""
    speeds = {}
    for name in training_families():
        images, epoch = _training_epoch(name, device)
        speeds[name] = (images / median_time(epoch, repeats), host_reads(epoch))
    return speeds


def _training_epoch(family: str, device: str = "cpu"):
    """(images it trains on, a function that trains one epoch of it): a fresh, seeded model of ``family``."""
    import torch

    from ..data import load_digits
    from ..models import GAN
    from ..train import fit, fit_adversarial

    make, options = training_families()[family]
    train = load_digits().train
    torch.manual_seed(0)
    model = make()
    if isinstance(model, GAN):
        images = options["steps"] * options["batch_size"] * options.get("discriminator_steps", 1)
        return images, lambda: fit_adversarial(model, train, progress=False, device=device, **options)
    return len(train.x), lambda: fit(model, train, epochs=1, progress=False, device=device, **options)


def host_yardstick(repeats: int = 3) -> float:
    """Seconds one training epoch of chapter 03's gated PixelCNN takes here now (the 1000 training digits, its
    recipe; the median of ``repeats`` after a warm-up): the host's speed at the moment. A shared 2-core machine
    varies by up to 2× within minutes, and every chapter's time with it; the bench prints this before and after
    the chapters so that their times can be read against it."""
    return median_time(_training_epoch("gated PixelCNN (ch03)")[1], repeats)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.teaching.bench", description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", type=Path, help="notebooks (default: every chapter)")
    parser.add_argument("--gmm", action="store_true", help="benchmark our GMM-EM against scikit-learn's")
    parser.add_argument("--train", action="store_true",
                        help="one training epoch of every model family on the digits: images per second")
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
    if args.train:
        import torch

        print(f"one training epoch on the 1000 training digits, the chapters' recipes, {torch.get_num_threads()} "
              f"torch threads: images per second (median of 3 epochs after a warm-up); host reads in an epoch")
        for name, (speed, reads) in training_speed().items():
            print(f"  {name:28s} {speed:8.0f} images/s {reads:6d} host reads")
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
    yardstick = "s per training epoch of chapter 03's gated PixelCNN (the host's speed; chapters scale with it)"
    print(f"{'chapter':40s} {'wall':>9s} {'peak memory':>12s}")
    print(f"    host before: {host_yardstick():.2f} {yardstick}", flush=True)
    for chapter in chapters:
        run = run_chapter(chapter)
        total += run.seconds
        budget = EVALUATION_BUDGET_S if chapter.name.startswith("09") else CHAPTER_BUDGET_S
        print(chapter_report(chapter.name, run, budget), flush=True)
    flag = "" if total <= COURSE_BUDGET_S else f"  OVER the {COURSE_BUDGET_S:.0f} s budget"
    print(f"{'total':40s} {total:7.1f} s{flag}")
    print(f"    host after: {host_yardstick():.2f} {yardstick}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
