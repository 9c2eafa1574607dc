"""Chapter 02's checks say *why* a typical wrong answer is wrong (not only "expected …, got …")."""

from pathlib import Path

import pytest

from exercise_harness import ExerciseFailed, run_checks

CHAPTER = Path(__file__).resolve().parents[1] / "chapters" / "02_latent_variable_models.py"

TEACHING = [
    (4, "the 1/(N−1) covariance", r"N/\(N−1\) with N = 500: did you divide by N − 1\?", """
def ppca_closed_form(x, q):
    mu = x.mean(0)
    eigenvalues, eigenvectors = torch.linalg.eigh(torch.cov(x.T))
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.flip(1)
    sigma2 = eigenvalues[q:].mean().item()
    return eigenvectors[:, :q] * torch.sqrt(eigenvalues[:q] - sigma2), mu, sigma2
"""),
    (4, "forgot to return", r"returned None — did you forget the `return` line", """
def ppca_closed_form(x, q):
    mu = x.mean(0)
"""),
    (4, "two values returned", r"should return 3 values .* it returned 2", """
def ppca_closed_form(x, q):
    return torch.zeros(x.shape[1], q), x.mean(0)
"""),
]


@pytest.mark.parametrize("number, mistake, words, source", TEACHING, ids=[t[1] for t in TEACHING])
def test_the_check_names_the_mistake(number, mistake, words, source):
    with pytest.raises(ExerciseFailed, match=words):
        run_checks(CHAPTER, number, source)
