"""The RBM (chapter 08): free energy and exact log Z against brute force over every (v, h), exact samples,
Gibbs chains, CD/PCD training, AIS within its standard error of the exact log Z, and bad input."""

import itertools

import pytest
import scipy.stats
import torch

from course_lib import data
from course_lib.models import RBM
from course_lib.train import fit


def _sharpened(shape=(1, 2, 2), hidden=3, seed=0, **kwargs):
    torch.manual_seed(seed)
    rbm = RBM(shape, 2, hidden, **kwargs)
    with torch.no_grad():
        rbm.weight.normal_(0, 1.5)
        rbm.visible_bias.normal_(0, 1.0)
        rbm.hidden_bias.normal_(0, 1.0)
    return rbm.double().eval()


def _all_binary(n):
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=torch.float64)


def test_free_energy_and_log_partition_against_brute_force():
    rbm = _sharpened()
    v_all, h_all = _all_binary(4), _all_binary(3)
    energy = -(v_all @ rbm.visible_bias)[:, None] - (h_all @ rbm.hidden_bias)[None] - v_all @ rbm.weight @ h_all.T
    log_z = torch.logsumexp((-energy).flatten(), 0)
    assert rbm.log_partition().item() == pytest.approx(log_z.item(), rel=1e-12)
    images = v_all.reshape(16, 1, 2, 2)
    assert torch.allclose(rbm.free_energy(images), -torch.logsumexp(-energy, 1), rtol=1e-12)
    assert torch.logsumexp(rbm.log_prob(images), 0).item() == pytest.approx(0.0, abs=1e-12)
    assert rbm.log_partition(chunk=3).item() == pytest.approx(log_z.item(), rel=1e-12)   # chunks agree


def test_log_z_is_enumerated_once_while_the_weights_stay_the_same_and_afresh_after_any_change():
    """Validation asks for log p at every batch; log Z is enumerated again only once the weights changed."""
    rbm = _sharpened()
    enumerations = []
    enumerate_states = rbm._hidden_log_weights
    rbm._hidden_log_weights = lambda *a: enumerations.append(1) or enumerate_states(*a)
    images = _all_binary(4).reshape(16, 1, 2, 2)

    def log_p():
        with torch.no_grad():
            return rbm.log_prob(images)

    first = log_p()
    assert torch.equal(log_p(), first) and len(enumerations) == 1
    optimizer = torch.optim.Adam(rbm.parameters(), lr=0.1)
    rbm.loss(images).backward()                       # eval mode: the exact NLL, with gradients: enumerated
    optimizer.step()
    changed = [
        ("an optimiser step", lambda: None),
        ("load_state_dict", lambda: rbm.load_state_dict({k: v + 0.1 for k, v in rbm.state_dict().items()})),
        ("a new dtype", lambda: rbm.float()),
        ("an in-place edit", lambda: rbm.hidden_bias.data.add_(1.0)),
    ]
    for what, change in changed:
        change()
        before = len(enumerations)
        value = log_p()
        assert len(enumerations) == before + 1, what
        assert torch.logsumexp(value.double(), 0).item() == pytest.approx(0.0, abs=1e-5), what   # normalised
    # with gradients, log Z is computed afresh, inside the graph: the same gradient as written out by hand
    for _ in range(2):
        rbm.zero_grad()
        rbm.log_prob(images).sum().backward()
    through_log_prob = [p.grad.clone() for p in rbm.parameters()]
    rbm.zero_grad()
    (-rbm.free_energy(images) - rbm.log_partition()).sum().backward()
    assert all(torch.allclose(a, p.grad) for a, p in zip(through_log_prob, rbm.parameters()))
    on_meta = rbm.to("meta")                          # shapes only: nothing to compare, enumerated each time
    with torch.no_grad():
        assert on_meta.log_prob(images.to("meta")).shape == on_meta.log_prob(images.to("meta")).shape == (16,)


def test_exact_samples_and_long_gibbs_chains_follow_log_prob():
    rbm = _sharpened()
    images = _all_binary(4).reshape(16, 1, 2, 2)
    probs = rbm.log_prob(images).exp()
    codes = torch.tensor([8, 4, 2, 1], dtype=torch.float64)

    def frequencies(samples):
        index = (samples.reshape(len(samples), -1) * codes).sum(1).long()
        return torch.bincount(index, minlength=16).double() / len(samples)

    exact = rbm.sample(100000, torch.Generator().manual_seed(1))
    assert set(exact.unique().tolist()) <= {0.0, 1.0} and exact.shape == (100000, 1, 2, 2)
    counts = frequencies(exact) * len(exact)
    assert scipy.stats.chisquare(counts.numpy(), (probs * len(exact)).detach().numpy()).pvalue > 1e-3
    chains = rbm.gibbs(torch.zeros(4000, 1, 2, 2, dtype=torch.float64), steps=50, generator=torch.Generator().manual_seed(2))
    assert (frequencies(chains) - probs).abs().max() < 0.03
    again = rbm.sample(10, torch.Generator().manual_seed(1))
    assert torch.equal(again, rbm.sample(10, torch.Generator().manual_seed(1)))


def test_ais_is_within_its_standard_error_of_the_exact_log_partition():
    torch.manual_seed(0)
    rbm = RBM((1, 4, 4), 2, hidden=10).double()
    with torch.no_grad():
        rbm.weight.normal_(0, 0.5)
        rbm.visible_bias.normal_(0, 0.5)
        rbm.hidden_bias.normal_(0, 0.5)
    exact = rbm.log_partition().item()
    estimate, error = rbm.ais_log_partition(betas=500, chains=200, generator=torch.Generator().manual_seed(0))
    assert abs(estimate - exact) < 3 * error + 1e-3 and error < 0.05


@pytest.mark.parametrize("persistent", [0, 64])
def test_cd_and_pcd_training_raise_the_exact_likelihood_of_binarized_digits(persistent):
    split = data.load_digits()
    train = data.binarize(split.train.x[:600], split.levels)
    val = data.binarize(split.val.x[:200], split.levels)
    torch.manual_seed(0)
    rbm = RBM((1, 8, 8), 2, hidden=12, cd_steps=1, persistent=persistent)
    before = -rbm.log_prob(val).mean().item()
    history = fit(rbm, train, val, epochs=15, batch_size=64, lr=5e-3, patience=15, progress=False)
    after = -rbm.log_prob(val).mean().item()
    assert after < before - 10, (before, after)          # nats per image
    assert history.val_loss[-1] == pytest.approx(after, rel=1e-4) or min(history.val_loss) == pytest.approx(after, rel=1e-4)
    if persistent:
        assert set(rbm.chains.unique().tolist()) <= {0.0, 1.0} and rbm.chains.shape == (64, 64)


def test_the_cd_surrogate_has_the_cd_gradient():
    rbm = _sharpened().train()
    x = _all_binary(4)[[3, 5, 9]].reshape(3, 1, 2, 2)
    loss = rbm.loss(x, generator=torch.Generator().manual_seed(0))
    loss.backward()
    negative = rbm._gibbs(x.reshape(3, -1), 1, torch.Generator().manual_seed(0))
    v = x.reshape(3, -1)
    expected_visible = -(v.mean(0) - negative.mean(0))   # −∂ log p̃: data term minus model term, for b
    assert torch.allclose(rbm.visible_bias.grad, expected_visible)


@pytest.mark.parametrize("call, error, match", [
    (lambda: RBM((1, 2, 2), 3), ValueError, "levels must be 2"),
    (lambda: RBM((1, 2, 2), 2, hidden=21), ValueError, "hidden must be at most 20"),
    (lambda: RBM((1, 2, 2), 2, hidden=0), ValueError, "hidden"),
    (lambda: RBM((1, 2, 2), 2, cd_steps=0), ValueError, "cd_steps"),
    (lambda: RBM((1, 2, 2), 2, persistent=-1), ValueError, "persistent"),
    (lambda: RBM((1, 2, 2), 2).free_energy(torch.full((2, 1, 2, 2), 2.0)), ValueError, "x"),
    (lambda: RBM((1, 2, 2), 2).gibbs(torch.zeros(2, 1, 2, 2), steps=0), ValueError, "steps"),
    (lambda: RBM((1, 2, 2), 2).ais_log_partition(betas=1), ValueError, "betas"),
    (lambda: RBM((1, 2, 2), 2).log_partition(chunk=0), ValueError, "chunk"),
])
def test_bad_input_is_named(call, error, match):
    with pytest.raises(error, match=match):
        call()
