"""Spectral normalization: the power iteration finds the top singular value; normalised layers are 1-Lipschitz
and agree with torch's own spectral_norm."""

import pytest
import torch
from torch import nn

from course_lib.nn.spectral import power_iteration, spectral_norm


@pytest.mark.parametrize("shape", [(7, 5), (6, 3, 3, 3)])
def test_power_iteration_converges_to_the_top_singular_value(shape):
    gen = torch.Generator().manual_seed(0)
    weight = torch.randn(*shape, generator=gen)
    u = torch.randn(shape[0], generator=gen)
    sigma, u, v = power_iteration(weight, u, iterations=200)
    matrix = weight.reshape(shape[0], -1)
    assert torch.allclose(sigma, torch.linalg.matrix_norm(matrix, ord=2), rtol=1e-4)
    assert torch.allclose(matrix @ v, sigma * u, atol=1e-4)              # a singular pair: W v = σ u
    one_step, _, _ = power_iteration(weight, torch.randn(shape[0], generator=gen), iterations=1)
    assert one_step <= sigma + 1e-5                                     # uᵀWv never exceeds σ


@pytest.mark.parametrize("layer", [lambda: nn.Linear(6, 4), lambda: nn.Conv2d(3, 5, 3)])
def test_spectral_norm_makes_the_weight_unit_norm_like_torch(layer):
    torch.manual_seed(0)
    ours, theirs = layer(), layer()
    theirs.load_state_dict(ours.state_dict())
    spectral_norm(ours, generator=torch.Generator().manual_seed(1))
    torch.nn.utils.parametrizations.spectral_norm(theirs)
    x = torch.randn(2, 6) if isinstance(ours, nn.Linear) else torch.randn(2, 3, 6, 6)
    for _ in range(30):                                   # training-mode passes refine u
        ours(x), theirs(x)
    ours_w, theirs_w = ours.weight.reshape(len(ours.weight), -1), theirs.weight.reshape(len(theirs.weight), -1)
    assert torch.allclose(torch.linalg.matrix_norm(ours_w, ord=2), torch.tensor(1.0), atol=1e-4)
    assert torch.allclose(ours_w, theirs_w, atol=1e-4)


def test_spectral_norm_trains_and_round_trips():
    torch.manual_seed(0)
    layer = spectral_norm(nn.Linear(4, 3))
    layer(torch.randn(5, 4)).sum().backward()
    assert layer.parametrizations.weight.original.grad is not None
    copy = spectral_norm(nn.Linear(4, 3))
    copy.load_state_dict(layer.state_dict())
    layer.eval(), copy.eval()
    assert torch.equal(layer.weight, copy.weight)          # u is a buffer: saved and restored
    before = layer.parametrizations.weight[0].u.clone()
    layer(torch.randn(5, 4))
    assert torch.equal(before, layer.parametrizations.weight[0].u)   # eval mode leaves u alone


@pytest.mark.parametrize("call, error, message", [
    (lambda: spectral_norm("layer"), TypeError, "module must be a torch.nn.Module"),
    (lambda: spectral_norm(nn.Linear(3, 2), name="bias"), ValueError, "Linear.bias must be a weight with at least 2"),
    (lambda: spectral_norm(nn.Linear(3, 2), iterations=0), ValueError, "iterations must be"),
    (lambda: power_iteration(torch.zeros(3, 2), torch.zeros(4)), ValueError, "u must have 3 entries"),
    (lambda: power_iteration(torch.zeros(3), torch.zeros(3)), ValueError, "weight must have at least 2 dimensions"),
    (lambda: power_iteration([[1.0]], torch.zeros(1)), TypeError, "weight must be a torch.Tensor"),
])
def test_spectral_norm_rejects_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()
