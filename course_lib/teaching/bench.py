"""Benchmarks that hold the course's budgets; they report, they do not assert.

``python -m course_lib.bench [chapters…]``: wall time of every chapter, each from a fresh kernel
(budgets: ≤ 120 s a chapter on a 2-core CPU, ≤ 15 min in all).
``python -m course_lib.bench --gmm``: our EM against scikit-learn's ``GaussianMixture`` on the digits
(10 diagonal components, same initial parameters): final log-likelihoods and wall-time ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from .assign import chapter_notebooks

CHAPTER_BUDGET_S, COURSE_BUDGET_S = 120.0, 15 * 60.0


def run_chapter(path: Path, timeout: int = 1200) -> float:
    """Execute the notebook at ``path`` top to bottom in a fresh kernel; return the wall time in s."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"path: no notebook at {path}")
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(Path(path).parent)}})
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


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

    def timed(fit, data):
        fit(data)  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fit(data)
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    ours_s = timed(lambda d: ours.fit(d, init=(weights, means, variances)), x)
    theirs_s = timed(theirs.fit, x_np)
    return {"ours_ll": ours.log_prob(x).mean().item(), "sklearn_ll": float(theirs.score(x_np)),
            "ours_iterations": len(ours.log_likelihood_history), "sklearn_iterations": int(theirs.n_iter_),
            "ours_s": ours_s, "sklearn_s": theirs_s, "ratio": ours_s / theirs_s,
            "threads": torch.get_num_threads(), "numpy": np.__version__}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.teaching.bench", description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", type=Path, help="notebooks (default: every chapter)")
    parser.add_argument("--gmm", action="store_true", help="benchmark our GMM-EM against scikit-learn's")
    args = parser.parse_args(argv)
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
    for chapter in chapters:
        seconds = run_chapter(chapter)
        total += seconds
        flag = "" if seconds <= CHAPTER_BUDGET_S else f"  OVER the {CHAPTER_BUDGET_S:.0f} s budget"
        print(f"{chapter.name:40s} {seconds:7.1f} s{flag}", flush=True)
    flag = "" if total <= COURSE_BUDGET_S else f"  OVER the {COURSE_BUDGET_S:.0f} s budget"
    print(f"{'total':40s} {total:7.1f} s{flag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
