"""Chapter 08's exercise checks accept the solution and reject plausible wrong answers (and the stub)."""

from pathlib import Path

from exercise_harness import exercise_tests

CHAPTER = Path(__file__).resolve().parents[1] / "chapters" / "08_energy_score_diffusion.py"

WRONG = {
    1: {
        "the softplus term with the wrong sign": """
def free_energy(v, W, b, c):
    return -v @ b + torch.nn.functional.softplus(c + v @ W).sum(-1)
""",
        "ReLU for softplus (the largest term of log(1 + e^a) only)": """
def free_energy(v, W, b, c):
    return -v @ b - torch.relu(c + v @ W).sum(-1)
""",
        "the visible biases forgotten": """
def free_energy(v, W, b, c):
    return -torch.nn.functional.softplus(c + v @ W).sum(-1)
""",
        "exp instead of log(1 + exp) (a sum over h taken as one state)": """
def free_energy(v, W, b, c):
    return -v @ b - torch.exp(c + v @ W).sum(-1)
""",
        "softplus split over a sum (softplus(c) + vᵀW instead of softplus(c + vᵀW))": """
def free_energy(v, W, b, c):
    return -v @ b - torch.nn.functional.softplus(c).sum() - (v @ W).sum(-1)
""",
    },
    2: {
        "the target's sign flipped (+ε/σ)": """
def dsm_loss(score, x, sigma, noise):
    perturbed = x + sigma * noise
    return 0.5 * ((score(perturbed) - noise / sigma) ** 2).sum(1).mean()
""",
        "the target −ε, without dividing by σ": """
def dsm_loss(score, x, sigma, noise):
    perturbed = x + sigma * noise
    return 0.5 * ((score(perturbed) + noise) ** 2).sum(1).mean()
""",
        "the target −ε/σ² (the kernel's score is −(x̃ − x)/σ² = −ε/σ)": """
def dsm_loss(score, x, sigma, noise):
    perturbed = x + sigma * noise
    return 0.5 * ((score(perturbed) + noise / sigma ** 2) ** 2).sum(1).mean()
""",
        "the score evaluated at the clean x": """
def dsm_loss(score, x, sigma, noise):
    return 0.5 * ((score(x) + noise / sigma) ** 2).sum(1).mean()
""",
        "the ½ forgotten": """
def dsm_loss(score, x, sigma, noise):
    perturbed = x + sigma * noise
    return ((score(perturbed) + noise / sigma) ** 2).sum(1).mean()
""",
        "averaged over dimensions too": """
def dsm_loss(score, x, sigma, noise):
    perturbed = x + sigma * noise
    return 0.5 * ((score(perturbed) + noise / sigma) ** 2).mean()
""",
    },
    3: {
        "noise √ε instead of √(2ε)": """
def langevin_step(x, log_density, step_size, noise):
    x = x.detach().requires_grad_(True)
    score, = torch.autograd.grad(log_density(x).sum(), x)
    return (x + step_size * score + math.sqrt(step_size) * noise).detach()
""",
        "descending log p (the gradient's sign flipped)": """
def langevin_step(x, log_density, step_size, noise):
    x = x.detach().requires_grad_(True)
    score, = torch.autograd.grad(log_density(x).sum(), x)
    return (x - step_size * score + math.sqrt(2 * step_size) * noise).detach()
""",
        "no noise (gradient ascent: the particles collapse on the mode)": """
def langevin_step(x, log_density, step_size, noise):
    x = x.detach().requires_grad_(True)
    score, = torch.autograd.grad(log_density(x).sum(), x)
    return (x + step_size * score).detach()
""",
        "half the drift with √(2ε) noise (mixing two conventions)": """
def langevin_step(x, log_density, step_size, noise):
    x = x.detach().requires_grad_(True)
    score, = torch.autograd.grad(log_density(x).sum(), x)
    return (x + 0.5 * step_size * score + math.sqrt(2 * step_size) * noise).detach()
""",
        "the gradient of p instead of log p": """
def langevin_step(x, log_density, step_size, noise):
    x = x.detach().requires_grad_(True)
    score, = torch.autograd.grad(log_density(x).exp().sum(), x)
    return (x + step_size * score + math.sqrt(2 * step_size) * noise).detach()
""",
    },
    4: {
        "α_t instead of ᾱ_t (one step's noise only)": """
def q_sample(x0, t, betas, noise):
    alpha = (1 - betas)[t - 1][:, None]
    return alpha.sqrt() * x0 + (1 - alpha).sqrt() * noise
""",
        "off by one: ᾱ_{t+1}": """
def q_sample(x0, t, betas, noise):
    alpha_bar = torch.cumprod(1 - betas, dim=0)[t.clamp(max=len(betas) - 1)][:, None]
    return alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * noise
""",
        "variances where standard deviations belong": """
def q_sample(x0, t, betas, noise):
    alpha_bar = torch.cumprod(1 - betas, dim=0)[t - 1][:, None]
    return alpha_bar * x0 + (1 - alpha_bar) * noise
""",
        "noise √β_t of the last step only": """
def q_sample(x0, t, betas, noise):
    alpha_bar = torch.cumprod(1 - betas, dim=0)[t - 1][:, None]
    return alpha_bar.sqrt() * x0 + betas[t - 1][:, None].sqrt() * noise
""",
    },
    5: {
        "ᾱ_t where ᾱ_{t−1} belongs": """
def posterior_mean(x0, xt, t, betas):
    alpha_bar = torch.cumprod(1 - betas, dim=0)
    previous = alpha_bar[t - 1][:, None]
    beta, current = betas[t - 1][:, None], alpha_bar[t - 1][:, None]
    return (previous.sqrt() * beta * x0 + (1 - beta).sqrt() * (1 - previous) * xt) / (1 - current)
""",
        "the two coefficients swapped": """
def posterior_mean(x0, xt, t, betas):
    alpha_bar = torch.cumprod(1 - betas, dim=0)
    previous = torch.cat([torch.ones(1, dtype=betas.dtype), alpha_bar])[t - 1][:, None]
    beta, current = betas[t - 1][:, None], alpha_bar[t - 1][:, None]
    return (previous.sqrt() * beta * xt + (1 - beta).sqrt() * (1 - previous) * x0) / (1 - current)
""",
        "α_t where √α_t belongs": """
def posterior_mean(x0, xt, t, betas):
    alpha_bar = torch.cumprod(1 - betas, dim=0)
    previous = torch.cat([torch.ones(1, dtype=betas.dtype), alpha_bar])[t - 1][:, None]
    beta, current = betas[t - 1][:, None], alpha_bar[t - 1][:, None]
    return (previous.sqrt() * beta * x0 + (1 - beta) * (1 - previous) * xt) / (1 - current)
""",
        "the mean of x_{t−1} given x_0 alone (x_t ignored)": """
def posterior_mean(x0, xt, t, betas):
    alpha_bar = torch.cumprod(1 - betas, dim=0)
    previous = torch.cat([torch.ones(1, dtype=betas.dtype), alpha_bar])[t - 1][:, None]
    return previous.sqrt() * x0
""",
        "x_t rescaled back one step (x_0 ignored)": """
def posterior_mean(x0, xt, t, betas):
    return xt / (1 - betas[t - 1][:, None]).sqrt()
""",
    },
}
STUBS = {1: "free_energy", 2: "dsm_loss", 3: "langevin_step", 4: "q_sample", 5: "posterior_mean"}


test_the_solution_passes_its_checks, test_a_wrong_answer_fails_its_check, test_the_stub_fails_its_check = \
    exercise_tests(CHAPTER, WRONG, STUBS)
