"""Chapter 05's exercise checks accept the solution and reject plausible wrong answers (and the stub)."""

from pathlib import Path

from exercise_harness import exercise_tests

CHAPTER = Path(__file__).resolve().parents[1] / "chapters" / "05_normalizing_flows.py"

WRONG = {
    1: {
        "no Jacobian factor": """
def transformed_log_density(y, inverse, base_log_prob):
    return base_log_prob(inverse(y))
""",
        "dy/dx instead of dx/dy": """
def transformed_log_density(y, inverse, base_log_prob):
    y = y.detach().requires_grad_(True)
    x = inverse(y)
    dx_dy, = torch.autograd.grad(x.sum(), y)
    return base_log_prob(x.detach()) - dx_dy.abs().log()
""",
        "no absolute value (decreasing maps)": """
def transformed_log_density(y, inverse, base_log_prob):
    y = y.detach().requires_grad_(True)
    x = inverse(y)
    dx_dy, = torch.autograd.grad(x.sum(), y)
    return base_log_prob(x.detach()) + dx_dy.log()
""",
        "the affine example's 1/2 hard-coded": """
def transformed_log_density(y, inverse, base_log_prob):
    return base_log_prob(inverse(y)) + math.log(0.5)
""",
    },
    2: {
        "log-det summed over the kept coordinates too": """
def affine_coupling_forward(x, mask, scale_shift):
    s, t = scale_shift(x * mask)
    return mask * x + (1 - mask) * (x * torch.exp(s) + t), s.sum(dim=1)
""",
        "log-det as the sum of the scales exp(s)": """
def affine_coupling_forward(x, mask, scale_shift):
    s, t = scale_shift(x * mask)
    return mask * x + (1 - mask) * (x * torch.exp(s) + t), ((1 - mask) * torch.exp(s)).sum(dim=1)
""",
        "log-det with the wrong sign": """
def affine_coupling_forward(x, mask, scale_shift):
    s, t = scale_shift(x * mask)
    return mask * x + (1 - mask) * (x * torch.exp(s) + t), -((1 - mask) * s).sum(dim=1)
""",
        "the network sees the unmasked input": """
def affine_coupling_forward(x, mask, scale_shift):
    s, t = scale_shift(x)
    return mask * x + (1 - mask) * (x * torch.exp(s) + t), ((1 - mask) * s).sum(dim=1)
""",
    },
    3: {
        "the network sees the unmasked y": """
def affine_coupling_inverse(y, mask, scale_shift):
    s, t = scale_shift(y)
    return mask * y + (1 - mask) * (y - t) * torch.exp(-s), -((1 - mask) * s).sum(dim=1)
""",
        "multiplies by exp(s) instead of dividing": """
def affine_coupling_inverse(y, mask, scale_shift):
    s, t = scale_shift(y * mask)
    return mask * y + (1 - mask) * (y - t) * torch.exp(s), -((1 - mask) * s).sum(dim=1)
""",
        "undoes the scale before the shift": """
def affine_coupling_inverse(y, mask, scale_shift):
    s, t = scale_shift(y * mask)
    return mask * y + (1 - mask) * (y * torch.exp(-s) - t), -((1 - mask) * s).sum(dim=1)
""",
        "returns the forward log-det": """
def affine_coupling_inverse(y, mask, scale_shift):
    s, t = scale_shift(y * mask)
    return mask * y + (1 - mask) * (y - t) * torch.exp(-s), ((1 - mask) * s).sum(dim=1)
""",
    },
    4: {
        "log-det with the wrong sign": """
def maf_log_prob(x, conditioner):
    mu, alpha = conditioner(x)
    z = (x - mu) * torch.exp(-alpha)
    return torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(dim=1) + alpha.sum(dim=1)
""",
        "scales by exp(+alpha)": """
def maf_log_prob(x, conditioner):
    mu, alpha = conditioner(x)
    z = (x - mu) * torch.exp(alpha)
    return torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(dim=1) + alpha.sum(dim=1)
""",
        "no log-det": """
def maf_log_prob(x, conditioner):
    mu, alpha = conditioner(x)
    return torch.distributions.Normal(0.0, 1.0).log_prob((x - mu) * torch.exp(-alpha)).sum(dim=1)
""",
        "right numbers, but one network pass per coordinate": """
def maf_log_prob(x, conditioner):
    log_p = 0
    for d in range(x.shape[1]):
        mu, alpha = conditioner(x)
        z_d = (x[:, d] - mu[:, d]) * torch.exp(-alpha[:, d])
        log_p = log_p + torch.distributions.Normal(0.0, 1.0).log_prob(z_d) - alpha[:, d]
    return log_p
""",
        "base density without its normalising constant": """
def maf_log_prob(x, conditioner):
    mu, alpha = conditioner(x)
    z = (x - mu) * torch.exp(-alpha)
    return (-0.5 * z ** 2).sum(dim=1) - alpha.sum(dim=1)
""",
    },
}
STUBS = {1: "transformed_log_density", 2: "affine_coupling_forward", 3: "affine_coupling_inverse", 4: "maf_log_prob"}


test_the_solution_passes_its_checks, test_a_wrong_answer_fails_its_check, test_the_stub_fails_its_check = \
    exercise_tests(CHAPTER, WRONG, STUBS)
