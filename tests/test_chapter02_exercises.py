"""Chapter 02's exercise checks accept the solution and reject plausible wrong answers (and the stub), and say
*why* a typical wrong answer is wrong (not only "expected …, got …")."""

from pathlib import Path

import pytest
import torch

from exercise_harness import ExerciseFailed, exercise_tests, run_checks

CHAPTER = Path(__file__).resolve().parents[1] / "chapters" / "02_latent_variable_models.py"


WRONG = {
    1: {
        "no normalisation: log π_k + log N returned as the log-responsibilities": """
def e_step(x, weights, means, covs):
    log_joint = torch.log(weights) + torch.distributions.MultivariateNormal(means, covs).log_prob(x[:, None, :])
    return log_joint, torch.logsumexp(log_joint, dim=1).mean()
""",
        "the mixing weights left out": """
def e_step(x, weights, means, covs):
    log_joint = torch.distributions.MultivariateNormal(means, covs).log_prob(x[:, None, :])
    log_px = torch.logsumexp(log_joint, dim=1, keepdim=True)
    return log_joint - log_px, log_px.mean()
""",
        "Bayes' rule in probabilities (exp, then sum): 0/0 far from every component": """
def e_step(x, weights, means, covs):
    joint = weights * torch.distributions.MultivariateNormal(means, covs).log_prob(x[:, None, :]).exp()
    px = joint.sum(1, keepdim=True)
    return torch.log(joint / px), torch.log(px).mean()
""",
        "normalised over the points (axis 0) instead of the components": """
def e_step(x, weights, means, covs):
    log_joint = torch.log(weights) + torch.distributions.MultivariateNormal(means, covs).log_prob(x[:, None, :])
    return log_joint - torch.logsumexp(log_joint, dim=0, keepdim=True), torch.logsumexp(log_joint, dim=1).mean()
""",
        "the log-likelihood summed over the points instead of averaged": """
def e_step(x, weights, means, covs):
    log_joint = torch.log(weights) + torch.distributions.MultivariateNormal(means, covs).log_prob(x[:, None, :])
    log_px = torch.logsumexp(log_joint, dim=1, keepdim=True)
    return log_joint - log_px, log_px.sum()
""",
    },
    2: {
        "covariances divided by N_k − 1": """
def m_step(x, resp):
    nk = resp.sum(0)
    means = resp.T @ x / nk[:, None]
    diff = x[None] - means[:, None, :]
    return nk / len(x), means, torch.einsum("nk,kni,knj->kij", resp, diff, diff) / (nk - 1)[:, None, None]
""",
        "covariances centred at the data mean, not the new component means": """
def m_step(x, resp):
    nk = resp.sum(0)
    means = resp.T @ x / nk[:, None]
    diff = (x - x.mean(0)).expand(len(nk), *x.shape)
    return nk / len(x), means, torch.einsum("nk,kni,knj->kij", resp, diff, diff) / nk[:, None, None]
""",
        "unweighted covariances (every point counted fully in every component)": """
def m_step(x, resp):
    nk = resp.sum(0)
    means = resp.T @ x / nk[:, None]
    diff = x[None] - means[:, None, :]
    return nk / len(x), means, torch.einsum("kni,knj->kij", diff, diff) / len(x)
""",
        "weights not divided by N": """
def m_step(x, resp):
    nk = resp.sum(0)
    means = resp.T @ x / nk[:, None]
    diff = x[None] - means[:, None, :]
    return nk, means, torch.einsum("nk,kni,knj->kij", resp, diff, diff) / nk[:, None, None]
""",
        "means divided by N instead of N_k": """
def m_step(x, resp):
    nk = resp.sum(0)
    means = resp.T @ x / len(x)
    diff = x[None] - means[:, None, :]
    return nk / len(x), means, torch.einsum("nk,kni,knj->kij", resp, diff, diff) / nk[:, None, None]
""",
    },
    3: {
        "labels of the new centres (assignment after the update)": """
def kmeans_step(x, centers):
    labels = torch.cdist(x, centers).argmin(dim=1)
    new_centers = torch.stack([x[labels == k].mean(0) for k in range(len(centers))])
    return new_centers, torch.cdist(x, new_centers).argmin(dim=1)
""",
        "the farthest centre (argmax)": """
def kmeans_step(x, centers):
    labels = torch.cdist(x, centers).argmax(dim=1)
    return torch.stack([x[labels == k].mean(0) for k in range(len(centers))]), labels
""",
        "medians instead of means": """
def kmeans_step(x, centers):
    labels = torch.cdist(x, centers).argmin(dim=1)
    return torch.stack([x[labels == k].median(0).values for k in range(len(centers))]), labels
""",
        "centres not moved": """
def kmeans_step(x, centers):
    return centers.clone(), torch.cdist(x, centers).argmin(dim=1)
""",
    },
    4: {
        "the 1/(N−1) covariance": """
def ppca_closed_form(x, q):
    eigenvalues, eigenvectors = torch.linalg.eigh(torch.cov(x.T))
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.flip(1)
    sigma2 = eigenvalues[q:].mean().item()
    return eigenvectors[:, :q] * torch.sqrt(eigenvalues[:q] - sigma2), x.mean(0), sigma2
""",
        "σ² as the mean of all eigenvalues": """
def ppca_closed_form(x, q):
    eigenvalues, eigenvectors = torch.linalg.eigh(torch.cov(x.T, correction=0))
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.flip(1)
    sigma2 = eigenvalues.mean().item()
    return eigenvectors[:, :q] * torch.sqrt((eigenvalues[:q] - sigma2).clamp(min=0)), x.mean(0), sigma2
""",
        "W without subtracting σ² (plain PCA scaling)": """
def ppca_closed_form(x, q):
    eigenvalues, eigenvectors = torch.linalg.eigh(torch.cov(x.T, correction=0))
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.flip(1)
    return eigenvectors[:, :q] * torch.sqrt(eigenvalues[:q]), x.mean(0), eigenvalues[q:].mean().item()
""",
        "eigh's ascending order kept: the smallest eigenvalues taken": """
def ppca_closed_form(x, q):
    eigenvalues, eigenvectors = torch.linalg.eigh(torch.cov(x.T, correction=0))
    sigma2 = eigenvalues[q:].mean().item()
    return eigenvectors[:, :q] * torch.sqrt((eigenvalues[:q] - sigma2).abs()), x.mean(0), sigma2
""",
    },
    5: {
        "σ² updated with the old W": """
def ppca_em_step(x, w, sigma2):
    centered = x - x.mean(0)
    n, d = x.shape
    m_inv = torch.linalg.inv(w.T @ w + sigma2 * torch.eye(w.shape[1]))
    ez = centered @ w @ m_inv
    sum_ezz = n * sigma2 * m_inv + ez.T @ ez
    w_new = centered.T @ ez @ torch.linalg.inv(sum_ezz)
    sigma2_new = ((centered ** 2).sum() - 2 * (ez * (centered @ w)).sum() + torch.trace(sum_ezz @ w.T @ w)) / (n * d)
    return w_new, sigma2_new
""",
        "E[z zᵀ] without the posterior covariance (point estimates of z)": """
def ppca_em_step(x, w, sigma2):
    centered = x - x.mean(0)
    n, d = x.shape
    m_inv = torch.linalg.inv(w.T @ w + sigma2 * torch.eye(w.shape[1]))
    ez = centered @ w @ m_inv
    sum_ezz = ez.T @ ez
    w_new = centered.T @ ez @ torch.linalg.inv(sum_ezz)
    sigma2_new = ((centered ** 2).sum() - 2 * (ez * (centered @ w_new)).sum()
                  + torch.trace(sum_ezz @ w_new.T @ w_new)) / (n * d)
    return w_new, sigma2_new
""",
        "x not centred": """
def ppca_em_step(x, w, sigma2):
    n, d = x.shape
    m_inv = torch.linalg.inv(w.T @ w + sigma2 * torch.eye(w.shape[1]))
    ez = x @ w @ m_inv
    sum_ezz = n * sigma2 * m_inv + ez.T @ ez
    w_new = x.T @ ez @ torch.linalg.inv(sum_ezz)
    sigma2_new = ((x ** 2).sum() - 2 * (ez * (x @ w_new)).sum() + torch.trace(sum_ezz @ w_new.T @ w_new)) / (n * d)
    return w_new, sigma2_new
""",
        "σ² averaged over the N points only, not the N·D coordinates": """
def ppca_em_step(x, w, sigma2):
    centered = x - x.mean(0)
    n, d = x.shape
    m_inv = torch.linalg.inv(w.T @ w + sigma2 * torch.eye(w.shape[1]))
    ez = centered @ w @ m_inv
    sum_ezz = n * sigma2 * m_inv + ez.T @ ez
    w_new = centered.T @ ez @ torch.linalg.inv(sum_ezz)
    sigma2_new = ((centered ** 2).sum() - 2 * (ez * (centered @ w_new)).sum()
                  + torch.trace(sum_ezz @ w_new.T @ w_new)) / n
    return w_new, sigma2_new
""",
        "posterior covariance M⁻¹ without the factor σ²": """
def ppca_em_step(x, w, sigma2):
    centered = x - x.mean(0)
    n, d = x.shape
    m_inv = torch.linalg.inv(w.T @ w + sigma2 * torch.eye(w.shape[1]))
    ez = centered @ w @ m_inv
    sum_ezz = n * m_inv + ez.T @ ez
    w_new = centered.T @ ez @ torch.linalg.inv(sum_ezz)
    sigma2_new = ((centered ** 2).sum() - 2 * (ez * (centered @ w_new)).sum()
                  + torch.trace(sum_ezz @ w_new.T @ w_new)) / (n * d)
    return w_new, sigma2_new
""",
    },
    6: {
        "the mean of the log-likelihoods instead of the log of the mean": """
def naive_mc_log_px(x, z, w, mu, sigma2):
    means = z @ w.T + mu
    return torch.distributions.Normal(means[None], math.sqrt(sigma2)).log_prob(x[:, None, :]).sum(-1).mean(1)
""",
        "log of the mean of exp (densities underflow far from every sample)": """
def naive_mc_log_px(x, z, w, mu, sigma2):
    means = z @ w.T + mu
    log_lik = torch.distributions.Normal(means[None], math.sqrt(sigma2)).log_prob(x[:, None, :]).sum(-1)
    return torch.log(log_lik.exp().mean(1))
""",
        "log K not subtracted (a sum, not a mean)": """
def naive_mc_log_px(x, z, w, mu, sigma2):
    means = z @ w.T + mu
    return torch.logsumexp(torch.distributions.Normal(means[None], math.sqrt(sigma2)).log_prob(x[:, None, :]).sum(-1), 1)
""",
        "the Gaussian's normalising constant dropped": """
def naive_mc_log_px(x, z, w, mu, sigma2):
    means = z @ w.T + mu
    log_lik = -0.5 * ((x[:, None, :] - means[None]) ** 2).sum(-1) / sigma2
    return torch.logsumexp(log_lik, dim=1) - math.log(len(z))
""",
        "σ² used as the standard deviation": """
def naive_mc_log_px(x, z, w, mu, sigma2):
    means = z @ w.T + mu
    log_lik = torch.distributions.Normal(means[None], sigma2).log_prob(x[:, None, :]).sum(-1)
    return torch.logsumexp(log_lik, dim=1) - math.log(len(z))
""",
    },
}
STUBS = {1: "e_step", 2: "m_step", 3: "kmeans_step", 4: "ppca_closed_form", 5: "ppca_em_step", 6: "naive_mc_log_px"}


test_the_solution_passes_its_checks, test_a_wrong_answer_fails_its_check, test_the_stub_fails_its_check = \
    exercise_tests(CHAPTER, WRONG, STUBS)


# --- the failure says what is off ------------------------------------------------------------------

TEACHING = [
    (1, "no normalisation", r"each row should sum to one .* normalise over the last axis", WRONG[1][
        "no normalisation: log π_k + log N returned as the log-responsibilities"]),
    (1, "exp then sum", r"far from every component .*: this does not hold yet\. Hint: normalise .* torch\.logsumexp",
     WRONG[1]["Bayes' rule in probabilities (exp, then sum): 0/0 far from every component"]),
    (2, "N_k − 1", r"covariances .* Hint: yours are N_k/\(N_k − 1\) × the expected ones: divide by N_k",
     WRONG[2]["covariances divided by N_k − 1"]),
    (2, "old centring", r"covariances .* Hint: Σ_k is the r_nk-weighted average .* around the new mean",
     WRONG[2]["covariances centred at the data mean, not the new component means"]),
    (3, "labels of the new centres", r"labels: the nearest of the given centres .* values differ.*"
                                     r"Hint: label each point by its nearest \*given\* centre",
     WRONG[3]["labels of the new centres (assignment after the update)"]),
    (4, "the 1/(N−1) covariance", r"N/\(N−1\) with N = 500: did you divide by N − 1\?",
     WRONG[4]["the 1/(N−1) covariance"]),
    (4, "forgot to return", r"returned None — did you forget the `return` line", """
def ppca_closed_form(x, q):
    mu = x.mean(0)
"""),
    (4, "σ² from the wrong eigenvalues", r"σ² = the mean of the discarded eigenvalues.*Hint: σ² averages the D − q "
                                         r"\*smallest\* eigenvalues", WRONG[4]["σ² as the mean of all eigenvalues"]),
    (4, "two values returned", r"should return 3 values .* it returned 2", """
def ppca_closed_form(x, q):
    return torch.zeros(x.shape[1], q), x.mean(0)
"""),
    (5, "σ² with the old W", r"σ²_new .* Hint: .* with the \*new\* W",
     WRONG[5]["σ² updated with the old W"]),
    (5, "no posterior covariance", r"W_new .* Hint: .* the M-step needs both",
     WRONG[5]["E[z zᵀ] without the posterior covariance (point estimates of z)"]),
    (6, "mean of logs", r"Hint: average the K densities .* then take the log.* the mean of the log-densities is lower",
     WRONG[6]["the mean of the log-likelihoods instead of the log of the mean"]),
    (6, "log K missing", r"off by a constant \+5\.298.*log K = 5\.2983 means the 1/K is missing",
     WRONG[6]["log K not subtracted (a sum, not a mean)"]),
    (6, "no normaliser", r"off by a constant \+0\.3426",     # (D/2) log 2πσ² = 1.5 log(0.4π)
     WRONG[6]["the Gaussian's normalising constant dropped"]),
    (6, "underflow", r"every density is 0\.0 there.*Hint: work with log-densities and torch\.logsumexp",
     WRONG[6]["log of the mean of exp (densities underflow far from every sample)"]),
]


@pytest.mark.parametrize("number, mistake, words, source", TEACHING, ids=[t[1] for t in TEACHING])
def test_the_check_names_the_mistake(number, mistake, words, source):
    with pytest.raises(ExerciseFailed, match=f"(?s)Exercise {number} — .*{words}"):
        run_checks(CHAPTER, number, source)


def test_a_wrong_m_step_fails_with_an_explanation_not_a_library_error():
    """Weights that do not sum to one would make a validating E-step raise ValueError; the check explains first."""
    with pytest.raises(ExerciseFailed, match=r"(?s)Exercise 2 — weights: .*Hint: π_k is the share"):
        run_checks(CHAPTER, 2, WRONG[2]["weights not divided by N"])
