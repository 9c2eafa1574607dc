"""Chapter 06's exercise checks accept the solution and reject plausible wrong answers (and the stub)."""

from pathlib import Path

from exercise_harness import exercise_tests

CHAPTER = Path(__file__).resolve().parents[1] / "chapters" / "06_gans.py"

WRONG = {
    1: {
        "the generator's share p_G/(p_data + p_G)": """
def optimal_discriminator(log_p_data, log_p_model):
    return torch.sigmoid(log_p_model - log_p_data)
""",
        "the density ratio itself": """
def optimal_discriminator(log_p_data, log_p_model):
    return torch.exp(log_p_data - log_p_model)
""",
        "densities formed first (0/0 in the tails)": """
def optimal_discriminator(log_p_data, log_p_model):
    p, q = log_p_data.exp(), log_p_model.exp()
    return p / (p + q)
""",
        "a softmax over the batch instead of per point": """
def optimal_discriminator(log_p_data, log_p_model):
    return torch.softmax(log_p_data - log_p_model, dim=0)
""",
    },
    2: {
        "the saturating (minimax) loss": """
def non_saturating_generator_loss(fake_logits):
    return torch.log1p(-torch.sigmoid(fake_logits)).mean()
""",
        "σ formed first (infinite at ℓ = −200)": """
def non_saturating_generator_loss(fake_logits):
    return -torch.log(torch.sigmoid(fake_logits)).mean()
""",
        "the sign of the logit flipped": """
def non_saturating_generator_loss(fake_logits):
    return F.softplus(fake_logits).mean()
""",
        "summed over the batch": """
def non_saturating_generator_loss(fake_logits):
    return F.softplus(-fake_logits).sum()
""",
        "clamped σ (finite, but the gradient dies)": """
def non_saturating_generator_loss(fake_logits):
    return -torch.log(torch.sigmoid(fake_logits).clamp_min(1e-30)).mean()
""",
    },
    3: {
        "threshold on the squared distance": """
def mode_coverage(samples, centres, std, within=3.0, min_share=0.01):
    distance, nearest = (torch.cdist(samples, centres) ** 2).min(dim=1)
    good = distance <= within * std
    counts = torch.bincount(nearest[good], minlength=len(centres))
    return int((counts >= min_share * len(samples)).sum()), good.float().mean().item()
""",
        "a mode counts as covered with a single sample": """
def mode_coverage(samples, centres, std, within=3.0, min_share=0.01):
    distance, nearest = torch.cdist(samples, centres).min(dim=1)
    good = distance <= within * std
    counts = torch.bincount(nearest[good], minlength=len(centres))
    return int((counts >= 1).sum()), good.float().mean().item()
""",
        "quality as a fraction of the covered modes' samples only": """
def mode_coverage(samples, centres, std, within=3.0, min_share=0.01):
    distance, nearest = torch.cdist(samples, centres).min(dim=1)
    good = distance <= within * std
    counts = torch.bincount(nearest[good], minlength=len(centres))
    covered = counts >= min_share * len(samples)
    return int(covered.sum()), (good & covered[nearest]).float().sum().item() / max(1, int(covered[nearest].sum()))
""",
        "distance to the first centre instead of the nearest": """
def mode_coverage(samples, centres, std, within=3.0, min_share=0.01):
    nearest = torch.cdist(samples, centres).argmin(dim=1)
    distance = (samples - centres[0]).norm(dim=1)
    good = distance <= within * std
    counts = torch.bincount(nearest[good], minlength=len(centres))
    return int((counts >= min_share * len(samples)).sum()), good.float().mean().item()
""",
        "covered modes counted over all samples, not the high-quality ones": """
def mode_coverage(samples, centres, std, within=3.0, min_share=0.01):
    distance, nearest = torch.cdist(samples, centres).min(dim=1)
    good = distance <= within * std
    counts = torch.bincount(nearest, minlength=len(centres))
    return int((counts >= min_share * len(samples)).sum()), good.float().mean().item()
""",
    },
    4: {
        "no normalisation of the vectors": """
def power_iteration(W, u, iterations=1):
    for _ in range(iterations):
        v = W.T @ u
        u = W @ v
    return u @ W @ v, u
""",
        "the Frobenius norm": """
def power_iteration(W, u, iterations=1):
    for _ in range(iterations):
        v = W.T @ u
        v = v / v.norm()
        u = W @ v
        u = u / u.norm()
    return W.norm(), u
""",
        "u kept fixed (v updated only)": """
def power_iteration(W, u, iterations=1):
    for _ in range(iterations):
        v = W.T @ u
        v = v / v.norm()
    return u @ W @ v, u
""",
        "the updated u left unnormalised": """
def power_iteration(W, u, iterations=1):
    for _ in range(iterations):
        v = W.T @ u
        v = v / v.norm()
        u = W @ v
    return u @ W @ v / u.norm(), u
""",
        "one step fewer than asked": """
def power_iteration(W, u, iterations=1):
    v = W.T @ u
    v = v / v.norm()
    for _ in range(iterations - 1):
        u = W @ v
        u = u / u.norm()
        v = W.T @ u
        v = v / v.norm()
    return u @ W @ v, u
""",
    },
}
STUBS = {1: "optimal_discriminator", 2: "non_saturating_generator_loss", 3: "mode_coverage", 4: "power_iteration"}


test_the_solution_passes_its_checks, test_a_wrong_answer_fails_its_check, test_the_stub_fails_its_check = \
    exercise_tests(CHAPTER, WRONG, STUBS)
