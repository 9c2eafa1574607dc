"""Chapter 09's exercise checks accept the solution and reject plausible wrong answers (and the stub)."""

from pathlib import Path

import pytest

from exercise_harness import ExerciseFailed, exercise_tests, run_checks

CHAPTER = Path(__file__).resolve().parents[1] / "chapters" / "09_evaluation.py"

WRONG = {
    1: {
        "the change of scale forgotten (a density on [0, 1] read as one on the levels)": """
def bits_per_dim(nll_nats, dims, scale=1.0):
    return nll_nats / (dims * math.log(2))
""",
        "the Jacobian with the wrong sign (+ D log s)": """
def bits_per_dim(nll_nats, dims, scale=1.0):
    return (nll_nats + dims * math.log(scale)) / (dims * math.log(2))
""",
        "log base 10 instead of 2": """
def bits_per_dim(nll_nats, dims, scale=1.0):
    return (nll_nats - dims * math.log(scale)) / (dims * math.log(10))
""",
        "bits per image (not divided by the number of pixels)": """
def bits_per_dim(nll_nats, dims, scale=1.0):
    return (nll_nats - dims * math.log(scale)) / math.log(2)
""",
        "the scale taken once per image, not once per pixel": """
def bits_per_dim(nll_nats, dims, scale=1.0):
    return (nll_nats - math.log(scale)) / (dims * math.log(2))
""",
    },
    2: {
        "the KL reversed: KL(p(y) ‖ p(y|x))": """
def inception_score(probs):
    marginal = probs.mean(0, keepdim=True).expand_as(probs)
    kl = (torch.xlogy(marginal, marginal) - torch.xlogy(marginal, probs)).sum(1)
    return torch.exp(kl.mean()).item()
""",
        "the exp forgotten (the mean KL, log IS)": """
def inception_score(probs):
    marginal = probs.mean(0, keepdim=True)
    return (torch.xlogy(probs, probs) - torch.xlogy(probs, marginal)).sum(1).mean().item()
""",
        "only confidence: exp of minus the mean entropy of p(y|x)": """
def inception_score(probs):
    return torch.exp(torch.xlogy(probs, probs).sum(1).mean()).item() * probs.shape[1]
""",
        "0 · log 0 computed as NaN (plain log)": """
def inception_score(probs):
    marginal = probs.mean(0, keepdim=True)
    return torch.exp((probs * (probs.log() - marginal.log())).sum(1).mean()).item()
""",
        "the marginal over classes instead of over images": """
def inception_score(probs):
    marginal = probs.mean(1, keepdim=True)
    return torch.exp((torch.xlogy(probs, probs) - torch.xlogy(probs, marginal)).sum(1).mean()).item()
""",
    },
    3: {
        "the product of the square roots, not the square root of the product": """
def fid(mean_a, cov_a, mean_b, cov_b):
    def root(c):
        values, vectors = torch.linalg.eigh(c)
        return vectors @ torch.diag(values.clamp_min(0).sqrt()) @ vectors.T
    cross = torch.trace(root(cov_a) @ root(cov_b))
    return ((mean_a - mean_b).square().sum() + torch.trace(cov_a) + torch.trace(cov_b) - 2 * cross).item()
""",
        "the element-wise square root of C C_w": """
def fid(mean_a, cov_a, mean_b, cov_b):
    cross = torch.trace((cov_a @ cov_b).abs().sqrt())
    return ((mean_a - mean_b).square().sum() + torch.trace(cov_a) + torch.trace(cov_b) - 2 * cross).item()
""",
        "the factor 2 on the cross term dropped": """
def fid(mean_a, cov_a, mean_b, cov_b):
    cross = torch.tensor(scipy.linalg.sqrtm((cov_a @ cov_b).numpy()).real).trace()
    return ((mean_a - mean_b).square().sum() + torch.trace(cov_a) + torch.trace(cov_b) - cross).item()
""",
        "the distance of the means not squared": """
def fid(mean_a, cov_a, mean_b, cov_b):
    cross = torch.tensor(scipy.linalg.sqrtm((cov_a @ cov_b).numpy()).real).trace()
    return ((mean_a - mean_b).norm() + torch.trace(cov_a) + torch.trace(cov_b) - 2 * cross).item()
""",
        "the covariances compared without the means": """
def fid(mean_a, cov_a, mean_b, cov_b):
    cross = torch.tensor(scipy.linalg.sqrtm((cov_a @ cov_b).numpy()).real).trace()
    return (torch.trace(cov_a) + torch.trace(cov_b) - 2 * cross).item()
""",
    },
    4: {
        "the point counted as its own nearest neighbour (radius to the (k−1)-th other point)": """
def precision(real, fake, k=3):
    radii = torch.cdist(real, real).kthvalue(k, dim=1).values
    return (torch.cdist(fake, real) <= radii[None, :]).any(dim=1).double().mean().item()
""",
        "the radii of the fake points' own neighbourhoods (the roles mixed up)": """
def precision(real, fake, k=3):
    radii = torch.cdist(fake, fake).kthvalue(k + 1, dim=1).values
    return (torch.cdist(fake, real) <= radii[:, None]).any(dim=1).double().mean().item()
""",
        "recall computed instead (real points inside the fake balls)": """
def precision(real, fake, k=3):
    radii = torch.cdist(fake, fake).kthvalue(k + 1, dim=1).values
    return (torch.cdist(real, fake) <= radii[None, :]).any(dim=1).double().mean().item()
""",
        "inside every ball instead of some ball (all instead of any)": """
def precision(real, fake, k=3):
    radii = torch.cdist(real, real).kthvalue(k + 1, dim=1).values
    return (torch.cdist(fake, real) <= radii[None, :]).all(dim=1).double().mean().item()
""",
        "one radius for all: the mean k-NN distance": """
def precision(real, fake, k=3):
    radius = torch.cdist(real, real).kthvalue(k + 1, dim=1).values.mean()
    return (torch.cdist(fake, real) <= radius).any(dim=1).double().mean().item()
""",
    },
}
STUBS = {1: "bits_per_dim", 2: "inception_score", 3: "fid", 4: "precision"}


test_the_solution_passes_its_checks, test_a_wrong_answer_fails_its_check, test_the_stub_fails_its_check = \
    exercise_tests(CHAPTER, WRONG, STUBS)


@pytest.mark.parametrize("number, mistake, words", [
    (1, "the change of scale forgotten (a density on [0, 1] read as one on the levels)", r"17\^D times larger"),
    (2, "0 · log 0 computed as NaN (plain log)", "NaN or inf"),
    (3, "the product of the square roots, not the square root of the product", "matrix square root of the product"),
    (4, "the point counted as its own nearest neighbour (radius to the (k−1)-th other point)", "its own nearest neighbour"),
])
def test_the_check_names_the_mistake(number, mistake, words):
    with pytest.raises(ExerciseFailed, match=words):
        run_checks(CHAPTER, number, WRONG[number][mistake])
