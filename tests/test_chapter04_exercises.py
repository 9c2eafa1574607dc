"""Chapter 04's exercise checks accept the solution and reject plausible wrong answers (and the stub), and
say what is off for the usual slips."""

from pathlib import Path

import pytest

from exercise_harness import ExerciseFailed, exercise_tests, run_checks

CHAPTER = Path(__file__).resolve().parents[1] / "chapters" / "04_variational_autoencoders.py"

WRONG = {
    1: {
        "σ instead of σ² (exp(log_var / 2))": """
def kl_to_standard_normal(mean, log_var):
    return 0.5 * (mean**2 + torch.exp(0.5 * log_var) - 1.0 - log_var).sum(dim=1)
""",
        "the −1 dropped": """
def kl_to_standard_normal(mean, log_var):
    return 0.5 * (mean**2 + log_var.exp() - log_var).sum(dim=1)
""",
        "the sign of log σ² flipped": """
def kl_to_standard_normal(mean, log_var):
    return 0.5 * (mean**2 + log_var.exp() - 1.0 + log_var).sum(dim=1)
""",
        "averaged over the coordinates instead of summed": """
def kl_to_standard_normal(mean, log_var):
    return 0.5 * (mean**2 + log_var.exp() - 1.0 - log_var).mean(dim=1)
""",
        "the ½ forgotten": """
def kl_to_standard_normal(mean, log_var):
    return (mean**2 + log_var.exp() - 1.0 - log_var).sum(dim=1)
""",
        "KL(p ‖ q), the arguments swapped": """
def kl_to_standard_normal(mean, log_var):
    return 0.5 * ((1 + mean**2) / log_var.exp() - 1.0 + log_var).sum(dim=1)
""",
        "summed over the batch": """
def kl_to_standard_normal(mean, log_var):
    return 0.5 * (mean**2 + log_var.exp() - 1.0 - log_var).sum(dim=0)
""",
    },
    2: {
        "the variance as the scale": """
def reparameterized_sample(mean, log_var, eps):
    return mean + torch.exp(log_var) * eps
""",
        "log σ² as the scale": """
def reparameterized_sample(mean, log_var, eps):
    return mean + log_var * eps
""",
        "detached (no gradient)": """
def reparameterized_sample(mean, log_var, eps):
    return (mean + torch.exp(0.5 * log_var) * eps).detach()
""",
        "torch.normal draws its own noise": """
def reparameterized_sample(mean, log_var, eps):
    return torch.normal(mean.expand_as(eps), torch.exp(0.5 * log_var).expand_as(eps))
""",
        "the square root of the log-variance": """
def reparameterized_sample(mean, log_var, eps):
    return mean + torch.sqrt(log_var) * eps
""",
        "gradient stopped at log σ² only": """
def reparameterized_sample(mean, log_var, eps):
    return mean + torch.exp(0.5 * log_var.detach()) * eps
""",
    },
    3: {
        "the ELBO instead of its negative": """
def vae_loss(vae, x, eps):
    mean, log_var = vae.encode(x)
    z = mean + torch.exp(0.5 * log_var) * eps
    kl = 0.5 * (mean**2 + log_var.exp() - 1.0 - log_var).sum(dim=1)
    return (vae.log_likelihood(x, vae.decode(z)) - kl).mean()
""",
        "the KL with the wrong sign": """
def vae_loss(vae, x, eps):
    mean, log_var = vae.encode(x)
    z = mean + torch.exp(0.5 * log_var) * eps
    kl = 0.5 * (mean**2 + log_var.exp() - 1.0 - log_var).sum(dim=1)
    return -(vae.log_likelihood(x, vae.decode(z)) + kl).mean()
""",
        "the reconstruction averaged over pixels": """
def vae_loss(vae, x, eps):
    mean, log_var = vae.encode(x)
    z = mean + torch.exp(0.5 * log_var) * eps
    kl = 0.5 * (mean**2 + log_var.exp() - 1.0 - log_var).sum(dim=1)
    return -(vae.log_likelihood(x, vae.decode(z)) / x[0].numel() - kl).mean()
""",
        "no noise: z = μ": """
def vae_loss(vae, x, eps):
    mean, log_var = vae.encode(x)
    kl = 0.5 * (mean**2 + log_var.exp() - 1.0 - log_var).sum(dim=1)
    return -(vae.log_likelihood(x, vae.decode(mean)) - kl).mean()
""",
        "summed over the batch": """
def vae_loss(vae, x, eps):
    mean, log_var = vae.encode(x)
    z = mean + torch.exp(0.5 * log_var) * eps
    kl = 0.5 * (mean**2 + log_var.exp() - 1.0 - log_var).sum(dim=1)
    return -(vae.log_likelihood(x, vae.decode(z)) - kl).sum()
""",
        "the encoder detached from the reconstruction": """
def vae_loss(vae, x, eps):
    mean, log_var = vae.encode(x)
    z = mean.detach() + torch.exp(0.5 * log_var.detach()) * eps
    kl = 0.5 * (mean**2 + log_var.exp() - 1.0 - log_var).sum(dim=1)
    return -(vae.log_likelihood(x, vae.decode(z)) - kl).mean()
""",
        "a per-image loss, not averaged": """
def vae_loss(vae, x, eps):
    mean, log_var = vae.encode(x)
    z = mean + torch.exp(0.5 * log_var) * eps
    kl = 0.5 * (mean**2 + log_var.exp() - 1.0 - log_var).sum(dim=1)
    return -(vae.log_likelihood(x, vae.decode(z)) - kl)
""",
    },
    4: {
        "forgets zero_grad": """
def training_step(vae, optimizer, x, generator):
    loss = vae.loss(x, generator=generator)
    loss.backward()
    optimizer.step()
    return loss.item()
""",
        "steps before backward": """
def training_step(vae, optimizer, x, generator):
    optimizer.zero_grad()
    loss = vae.loss(x, generator=generator)
    optimizer.step()
    loss.backward()
    return loss.item()
""",
        "clears the gradients between backward and step": """
def training_step(vae, optimizer, x, generator):
    loss = vae.loss(x, generator=generator)
    loss.backward()
    optimizer.zero_grad()
    optimizer.step()
    return loss.item()
""",
        "gradient ascent on the loss": """
def training_step(vae, optimizer, x, generator):
    optimizer.zero_grad()
    loss = vae.loss(x, generator=generator)
    (-loss).backward()
    optimizer.step()
    return loss.item()
""",
        "returns the loss after the update": """
def training_step(vae, optimizer, x, generator):
    optimizer.zero_grad()
    vae.loss(x, generator=generator).backward()
    optimizer.step()
    return vae.loss(x, generator=generator).item()
""",
        "ignores the generator (other noise)": """
def training_step(vae, optimizer, x, generator):
    optimizer.zero_grad()
    loss = vae.loss(x)
    loss.backward()
    optimizer.step()
    return loss.item()
""",
    },
    5: {
        "the mean of the log-weights (the ELBO)": """
def iwae_bound(log_joint, log_q):
    return (log_joint - log_q).mean(dim=0)
""",
        "logsumexp without −log k": """
def iwae_bound(log_joint, log_q):
    return torch.logsumexp(log_joint - log_q, dim=0)
""",
        "exp then log: underflows": """
def iwae_bound(log_joint, log_q):
    return torch.log(torch.exp(log_joint - log_q).mean(dim=0))
""",
        "over the wrong dimension": """
def iwae_bound(log_joint, log_q):
    return torch.logsumexp(log_joint - log_q, dim=1) - math.log(log_joint.shape[1])
""",
        "the weights q/p instead of p/q": """
def iwae_bound(log_joint, log_q):
    return torch.logsumexp(log_q - log_joint, dim=0) - math.log(log_joint.shape[0])
""",
        "the largest log-weight only": """
def iwae_bound(log_joint, log_q):
    return (log_joint - log_q).max(dim=0).values
""",
    },
}
STUBS = {1: "kl_to_standard_normal", 2: "reparameterized_sample", 3: "vae_loss", 4: "training_step", 5: "iwae_bound"}


test_the_solution_passes_its_checks, test_a_wrong_answer_fails_its_check, test_the_stub_fails_its_check = \
    exercise_tests(CHAPTER, WRONG, STUBS)


# --- the failure message says what is off ------------------------------------------------------------------

TEACHING = [
    (1, "the −1 dropped", r"off by a constant \+1\.5 everywhere.*check its constant"),
    (1, "σ instead of σ² (exp(log_var / 2))", r"yours equals σ = exp\(log_var / 2\) used where σ² = exp\(log_var\) belongs"),
    (1, "KL(p ‖ q), the arguments swapped", r"yours equals KL\(p ‖ q\), the arguments swapped"),
    (1, "averaged over the coordinates instead of summed", r"0\.333333 × the expected values everywhere"),
    (1, "summed over the batch", r"expected shape \(2,\), got shape \(3,\)"),
    (2, "the variance as the scale", r"the standard deviation is exp\(log_var / 2\)"),
    (2, "detached (no gradient)", r"z is differentiable .*no \.detach\(\), no torch\.normal"),
    (3, "the reconstruction averaged over pixels", r"yours equals the reconstruction averaged over the pixels instead of summed"),
    (3, "the KL with the wrong sign", r"yours equals −\(reconstruction \+ KL\)"),
    (3, "the ELBO instead of its negative", r"the sign is flipped.*yours equals the ELBO itself"),
    (3, "no noise: z = μ", r"yours equals z = μ, without the noise"),
    (3, "the encoder detached from the reconstruction", r"its gradient .*do not detach μ or σ"),
    (4, "forgets zero_grad", r"step 2: .*yours looks like the gradients of the previous step were added .*the optimizer's zero_grad"),
    (4, "steps before backward", r"step 1: .*yours looks like no update at all: call loss\.backward\(\) before optimizer\.step\(\)"),
    (4, "gradient ascent on the loss", r"yours looks like a step uphill"),
    (4, "returns the loss after the update", r"step 1: it returns the batch's loss before the update"),
    (5, "exp then log: underflows", r"NaN or inf values .*work in log space"),
    (5, "the mean of the log-weights (the ELBO)", r"yours equals the mean of the log-weights: that is the ELBO"),
    (5, "the largest log-weight only", r"yours equals the largest log-weight alone"),
    (5, "logsumexp without −log k", r"off by a constant \+1\.94591 everywhere"),
    (5, "over the wrong dimension", r"expected shape \(4,\), got shape \(7,\)"),
]


@pytest.mark.parametrize("number, mistake, words", TEACHING, ids=[f"{t[0]}: {t[1]}" for t in TEACHING])
def test_the_check_names_the_mistake(number, mistake, words):
    with pytest.raises(ExerciseFailed, match=f"(?s){words}"):
        run_checks(CHAPTER, number, WRONG[number][mistake])
