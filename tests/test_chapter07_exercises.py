"""Chapter 07's exercise checks accept the solution and reject plausible wrong answers (and the stub)."""

from pathlib import Path

from exercise_harness import exercise_tests

CHAPTER = Path(__file__).resolve().parents[1] / "chapters" / "07_wasserstein.py"

WRONG = {
    1: {
        "one KL only, to the mixture": """
def js_divergence(p, q):
    m = (p + q) / 2
    return torch.where(p > 0, p * (torch.log(p) - torch.log(m)), torch.zeros_like(p)).sum()
""",
        "KL(p‖q) + KL(q‖p) halved (infinite for disjoint supports)": """
def js_divergence(p, q):
    kl = lambda a, b: torch.where(a > 0, a * (torch.log(a) - torch.log(b)), torch.zeros_like(a)).sum()
    return 0.5 * kl(p, q) + 0.5 * kl(q, p)
""",
        "0 ln 0 left as NaN": """
def js_divergence(p, q):
    m = (p + q) / 2
    return 0.5 * (p * torch.log(p / m)).sum() + 0.5 * (q * torch.log(q / m)).sum()
""",
        "in bits (log base 2)": """
def js_divergence(p, q):
    m = (p + q) / 2
    kl = lambda a: torch.where(a > 0, a * (torch.log2(a) - torch.log2(m)), torch.zeros_like(a)).sum()
    return 0.5 * kl(p) + 0.5 * kl(q)
""",
        "the ½ weights forgotten": """
def js_divergence(p, q):
    m = (p + q) / 2
    kl = lambda a: torch.where(a > 0, a * (torch.log(a) - torch.log(m)), torch.zeros_like(a)).sum()
    return kl(p) + kl(q)
""",
        "the square root (scipy's Jensen–Shannon distance)": """
def js_divergence(p, q):
    m = (p + q) / 2
    kl = lambda a: torch.where(a > 0, a * (torch.log(a) - torch.log(m)), torch.zeros_like(a)).sum()
    return torch.sqrt(0.5 * kl(p) + 0.5 * kl(q))
""",
    },
    2: {
        "signs of the critic's loss flipped (it maximises the fakes' scores)": """
def wgan_losses(real_scores, fake_scores):
    return real_scores.mean() - fake_scores.mean(), -fake_scores.mean()
""",
        "the generator's loss with the wrong sign": """
def wgan_losses(real_scores, fake_scores):
    return fake_scores.mean() - real_scores.mean(), fake_scores.mean()
""",
        "the GAN's log-sigmoid kept": """
def wgan_losses(real_scores, fake_scores):
    softplus = torch.nn.functional.softplus
    return (softplus(-real_scores).mean() + softplus(fake_scores).mean(), softplus(-fake_scores).mean())
""",
        "sums instead of means (batch sizes differ)": """
def wgan_losses(real_scores, fake_scores):
    return fake_scores.sum() - real_scores.sum(), -fake_scores.sum()
""",
        "the generator minimises minus the critic's loss (depends on the real scores)": """
def wgan_losses(real_scores, fake_scores):
    critic = fake_scores.mean() - real_scores.mean()
    return critic, -critic
""",
    },
    3: {
        "no sorting (pairs in the order given)": """
def wasserstein_1d(x, y):
    return (x - y).abs().mean().item()
""",
        "only one sample sorted": """
def wasserstein_1d(x, y):
    return (torch.sort(x).values - y).abs().mean().item()
""",
        "the difference of the means": """
def wasserstein_1d(x, y):
    return (x.mean() - y.mean()).abs().item()
""",
        "W₂ (root mean square of the sorted gaps)": """
def wasserstein_1d(x, y):
    return (torch.sort(x).values - torch.sort(y).values).pow(2).mean().sqrt().item()
""",
        "one sorted ascending, the other descending": """
def wasserstein_1d(x, y):
    return (torch.sort(x).values - torch.sort(y, descending=True).values).abs().mean().item()
""",
    },
    4: {
        "one norm for the whole batch's gradient": """
def gradient_penalty(critic, real, fake, eps):
    shape = (len(real),) + (1,) * (real.dim() - 1)
    mixed = (eps.reshape(shape) * real + (1 - eps.reshape(shape)) * fake).requires_grad_(True)
    gradient, = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return (gradient.norm() - 1) ** 2
""",
        "norms over the second dimension only (wrong for images)": """
def gradient_penalty(critic, real, fake, eps):
    shape = (len(real),) + (1,) * (real.dim() - 1)
    mixed = (eps.reshape(shape) * real + (1 - eps.reshape(shape)) * fake).requires_grad_(True)
    gradient, = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return ((gradient.norm(dim=1) - 1) ** 2).mean()
""",
        "no create_graph (the penalty cannot train the critic)": """
def gradient_penalty(critic, real, fake, eps):
    shape = (len(real),) + (1,) * (real.dim() - 1)
    mixed = (eps.reshape(shape) * real + (1 - eps.reshape(shape)) * fake).requires_grad_(True)
    gradient, = torch.autograd.grad(critic(mixed).sum(), mixed)
    return ((gradient.reshape(len(mixed), -1).norm(dim=1) - 1) ** 2).mean()
""",
        "at the real examples instead of the interpolates": """
def gradient_penalty(critic, real, fake, eps):
    mixed = real.clone().requires_grad_(True)
    gradient, = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return ((gradient.reshape(len(mixed), -1).norm(dim=1) - 1) ** 2).mean()
""",
        "squared norm instead of the norm": """
def gradient_penalty(critic, real, fake, eps):
    shape = (len(real),) + (1,) * (real.dim() - 1)
    mixed = (eps.reshape(shape) * real + (1 - eps.reshape(shape)) * fake).requires_grad_(True)
    gradient, = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return ((gradient.reshape(len(mixed), -1).pow(2).sum(dim=1) - 1) ** 2).mean()
""",
        "one-sided (only slopes above 1)": """
def gradient_penalty(critic, real, fake, eps):
    shape = (len(real),) + (1,) * (real.dim() - 1)
    mixed = (eps.reshape(shape) * real + (1 - eps.reshape(shape)) * fake).requires_grad_(True)
    gradient, = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return (torch.relu(gradient.reshape(len(mixed), -1).norm(dim=1) - 1) ** 2).mean()
""",
    },
}
STUBS = {1: "js_divergence", 2: "wgan_losses", 3: "wasserstein_1d", 4: "gradient_penalty"}


test_the_solution_passes_its_checks, test_a_wrong_answer_fails_its_check, test_the_stub_fails_its_check = \
    exercise_tests(CHAPTER, WRONG, STUBS)
