"""Chapter 01's exercise checks accept the solution and reject plausible wrong answers (and the stub), and
say what is wrong."""

from pathlib import Path

import pytest

from exercise_harness import ExerciseFailed, exercise_tests, run_checks

CHAPTER = Path(__file__).resolve().parents[1] / "chapters" / "01_density_estimation.py"

WRONG = {
    1: {
        "no −log N (a sum of kernels, not their mean)": """
def kde_log_prob(x, centers, h):
    squared = ((x[:, None, :] - centers[None]) ** 2).sum(-1)
    return torch.logsumexp(-squared / (2 * h**2) - 0.5 * x.shape[1] * math.log(2 * math.pi * h**2), dim=1)
""",
        "the 1D normaliser in every dimension": """
def kde_log_prob(x, centers, h):
    squared = ((x[:, None, :] - centers[None]) ** 2).sum(-1)
    log_kernels = -squared / (2 * h**2) - 0.5 * math.log(2 * math.pi * h**2)
    return torch.logsumexp(log_kernels, dim=1) - math.log(len(centers))
""",
        "log of a plain sum of exponentials (underflows far from the data)": """
def kde_log_prob(x, centers, h):
    squared = ((x[:, None, :] - centers[None]) ** 2).sum(-1)
    kernels = torch.exp(-squared / (2 * h**2)) / (2 * math.pi * h**2) ** (x.shape[1] / 2)
    return torch.log(kernels.mean(dim=1))
""",
        "mean of the log-kernels instead of log of the mean": """
def kde_log_prob(x, centers, h):
    squared = ((x[:, None, :] - centers[None]) ** 2).sum(-1)
    return (-squared / (2 * h**2) - 0.5 * x.shape[1] * math.log(2 * math.pi * h**2)).mean(dim=1)
""",
        "h where h² belongs in the exponent": """
def kde_log_prob(x, centers, h):
    squared = ((x[:, None, :] - centers[None]) ** 2).sum(-1)
    log_kernels = -squared / (2 * h) - 0.5 * x.shape[1] * math.log(2 * math.pi * h**2)
    return torch.logsumexp(log_kernels, dim=1) - math.log(len(centers))
""",
    },
    2: {
        "no noise: resamples the centres": """
def kde_sample(centers, h, n, generator):
    return centers[torch.randint(0, len(centers), (n,), generator=generator)]
""",
        "noise with standard deviation h² (h is the std)": """
def kde_sample(centers, h, n, generator):
    which = torch.randint(0, len(centers), (n,), generator=generator)
    return centers[which] + h**2 * torch.randn(n, centers.shape[1], generator=generator)
""",
        "one component for the whole batch": """
def kde_sample(centers, h, n, generator):
    which = torch.randint(0, len(centers), (1,), generator=generator)
    return centers[which] + h * torch.randn(n, centers.shape[1], generator=generator)
""",
        "the global random generator": """
def kde_sample(centers, h, n, generator):
    return centers[torch.randint(0, len(centers), (n,))] + h * torch.randn(n, centers.shape[1])
""",
        "noise around the mean of the centres (one Gaussian, not the mixture)": """
def kde_sample(centers, h, n, generator):
    return centers.mean(0) + h * torch.randn(n, centers.shape[1], generator=generator)
""",
    },
    3: {
        "the unbiased 1/(N−1) covariance": """
def gaussian_mle(x):
    return x.mean(0), torch.cov(x.T)
""",
        "second moment without centring": """
def gaussian_mle(x):
    return x.mean(0), x.T @ x / len(x)
""",
        "averages over the wrong axis": """
def gaussian_mle(x):
    mean = x.mean(1)
    return mean, torch.cov(x.T, correction=0)
""",
        "variances only (a diagonal covariance)": """
def gaussian_mle(x):
    return x.mean(0), torch.diag(x.var(0, unbiased=False))
""",
    },
    4: {
        "the fraction of empty bins, not of test points": """
def empty_bin_fraction(train, test, bins, low, high):
    width = (high - low) / bins
    occupied = {tuple(c) for c in torch.floor((train - low) / width).long().tolist()}
    return 1 - len(occupied) / bins ** train.shape[1]
""",
        "bins measured from 0, not from low": """
def empty_bin_fraction(train, test, bins, low, high):
    width = (high - low) / bins
    occupied = {tuple(c) for c in torch.floor(train / width).long().tolist()}
    cells = torch.floor(test / width).long().tolist()
    return sum(tuple(c) not in occupied for c in cells) / len(cells)
""",
        "rounds to the nearest bin edge instead of flooring": """
def empty_bin_fraction(train, test, bins, low, high):
    width = (high - low) / bins
    occupied = {tuple(c) for c in torch.round((train - low) / width).long().tolist()}
    cells = torch.round((test - low) / width).long().tolist()
    return sum(tuple(c) not in occupied for c in cells) / len(cells)
""",
        "bins - 1 bins per axis (width from the number of edges)": """
def empty_bin_fraction(train, test, bins, low, high):
    width = (high - low) / (bins - 1)
    occupied = {tuple(c) for c in torch.floor((train - low) / width).long().tolist()}
    cells = torch.floor((test - low) / width).long().tolist()
    return sum(tuple(c) not in occupied for c in cells) / len(cells)
""",
        "a count instead of a fraction": """
def empty_bin_fraction(train, test, bins, low, high):
    width = (high - low) / bins
    occupied = {tuple(c) for c in torch.floor((train - low) / width).long().tolist()}
    return float(sum(tuple(c) not in occupied for c in torch.floor((test - low) / width).long().tolist()))
""",
    },
    5: {
        "divides by N, forgetting the pseudocounts in the total": """
def pixel_level_probs(x, levels, pseudocount):
    counts = torch.nn.functional.one_hot(x.long(), levels).double().sum(0)
    return (counts + pseudocount) / len(x)
""",
        "one pseudocount in the total instead of one per level": """
def pixel_level_probs(x, levels, pseudocount):
    counts = torch.nn.functional.one_hot(x.long(), levels).double().sum(0)
    return (counts + pseudocount) / (len(x) + pseudocount)
""",
        "pseudocount only for the levels never seen": """
def pixel_level_probs(x, levels, pseudocount):
    counts = torch.nn.functional.one_hot(x.long(), levels).double().sum(0)
    counts = torch.where(counts == 0, torch.full_like(counts, pseudocount), counts)
    return counts / counts.sum(1, keepdim=True)
""",
        "levels by pixels (transposed)": """
def pixel_level_probs(x, levels, pseudocount):
    counts = torch.nn.functional.one_hot(x.long(), levels).double().sum(0) + pseudocount
    return (counts / counts.sum(1, keepdim=True)).T
""",
        "levels counted up to the largest one in the data, not `levels`": """
def pixel_level_probs(x, levels, pseudocount):
    seen_levels = int(x.max()) + 1
    counts = torch.stack([torch.bincount(column.long(), minlength=seen_levels) for column in x.T]).double()
    counts = counts + pseudocount
    return counts / counts.sum(1, keepdim=True)
""",
    },
}
STUBS = {1: "kde_log_prob", 2: "kde_sample", 3: "gaussian_mle", 4: "empty_bin_fraction", 5: "pixel_level_probs"}


test_the_solution_passes_its_checks, test_a_wrong_answer_fails_its_check, test_the_stub_fails_its_check = \
    exercise_tests(CHAPTER, WRONG, STUBS)


# The failure message names the mistake, not only "not close".
TEACHING = [
    (1, "no −log N", r"off by a constant \+3\.91\d* everywhere — a missing normalising constant",
     WRONG[1]["no −log N (a sum of kernels, not their mean)"]),
    (1, "1D normaliser in 2D", r"(?s)D = 2.*off by a constant.*missing normalising constant",
     WRONG[1]["the 1D normaliser in every dimension"]),
    (1, "underflow", r"1 NaN or inf values — a log of zero.*\(work in log space\)",
     WRONG[1]["log of a plain sum of exponentials (underflows far from the data)"]),
    (1, "mean of the logs", r"(?s)Hint: p_h is the \*mean\* of the N kernel values",
     WRONG[1]["mean of the log-kernels instead of log of the mean"]),
    (2, "h² as the std", r"(?s)Cov\(centres\) \+ h² I.*h is the standard deviation",
     WRONG[2]["noise with standard deviation h² (h is the std)"]),
    (2, "global RNG", r"(?s)same generator seed, same samples.*not from the global RNG",
     WRONG[2]["the global random generator"]),
    (3, "1/(N−1)", r"N/\(N−1\) with N = 500: did you divide by N − 1\?", WRONG[3]["the unbiased 1/(N−1) covariance"]),
    (3, "wrong axis", r"expected shape \(3,\), got shape \(500,\)", WRONG[3]["averages over the wrong axis"]),
    (4, "bins from 0", r"(?s)do not start at 0.*whole bin widths it lies above `low`",
     WRONG[4]["bins measured from 0, not from low"]),
    (4, "empty bins counted", r"(?s)expected 0\.276, got 0\.2685.*divide by the number of test rows",
     WRONG[4]["the fraction of empty bins, not of test points"]),
    (5, "divides by N", r"each row should sum to one", WRONG[5]["divides by N, forgetting the pseudocounts in the total"]),
    (5, "transposed", r"expected shape \(5, 6\), got shape \(6, 5\) — transposed\?", WRONG[5]["levels by pixels (transposed)"]),
    (5, "forgot to return", r"returned None — did you forget the `return` line", """
def pixel_level_probs(x, levels, pseudocount):
    counts = torch.nn.functional.one_hot(x.long(), levels).double().sum(0) + pseudocount
"""),
]


@pytest.mark.parametrize("number, mistake, words, source", TEACHING, ids=[t[1] for t in TEACHING])
def test_the_check_names_the_mistake(number, mistake, words, source):
    with pytest.raises(ExerciseFailed, match=words):
        run_checks(CHAPTER, number, source)
