"""The course's Dropout draws the very mask of torch's nn.Dropout from the same random state, so outputs,
gradients and the generator's state afterwards are identical, and the models train to the same weights."""

import pytest
import torch
from torch import nn

from course_lib import randomness
from course_lib.models import CausalConvSequence
from course_lib.nn import Dropout


def _inputs():
    """Input layouts that visit memory in different orders: a mask drawn in another order would differ."""
    gen = torch.Generator().manual_seed(0)
    return {"contiguous (B, C, T)": torch.randn(64, 64, 64, generator=gen),
            "channels-last (B, C, H, W)": torch.randn(8, 16, 8, 8, generator=gen).to(memory_format=torch.channels_last),
            "transposed view": torch.randn(40, 30, generator=gen).T,
            "float64": torch.randn(50, 20, dtype=torch.float64, generator=gen),
            "bfloat16": torch.randn(50, 20, generator=gen).to(torch.bfloat16),
            "expanded (stride 0)": torch.randn(1, 30, generator=gen).expand(40, 30)}


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5])
@pytest.mark.parametrize("layout", list(_inputs()))
def test_same_output_gradient_and_generator_state_as_torch(layout, p):
    x = _inputs()[layout]
    results = []
    for layer in (Dropout(p), nn.Dropout(p)):
        torch.manual_seed(7)
        x_leaf = x.detach().clone(memory_format=torch.preserve_format).requires_grad_()
        y = layer(x_leaf)
        upstream = torch.randn(y.shape, dtype=y.dtype)
        y.backward(upstream)
        results.append((y.detach(), x_leaf.grad, torch.rand(3)))       # torch.rand: the generator's state after
    (ours, our_grad, our_next), (theirs, their_grad, their_next) = results
    assert torch.equal(ours, theirs)
    assert torch.equal(our_grad, their_grad)
    assert torch.equal(our_next, their_next)
    dropped = (ours == 0).double().mean().item()
    assert abs(dropped - p) < 0.1                         # it really drops (x has no zeros of its own)


def test_a_model_trains_to_the_same_weights_with_either_layer():
    def trained(dropout_layer):
        torch.manual_seed(0)
        model = CausalConvSequence((1, 4, 4), 5, channels=8, dilations=(1, 2, 4), dropout=0.3)
        model.dropout = dropout_layer
        optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
        images = torch.randint(5, (32, 1, 4, 4), generator=torch.Generator().manual_seed(1)).float()
        for _ in range(5):
            optimiser.zero_grad()
            (-model.log_prob(images).mean()).backward()
            optimiser.step()
        return model.state_dict()
    ours, theirs = trained(Dropout(0.3)), trained(nn.Dropout(0.3))
    assert all(torch.equal(ours[name], theirs[name]) for name in theirs)


def test_identity_in_evaluation_and_at_rate_zero():
    x = torch.randn(6, 5)
    assert torch.equal(Dropout(0.4).eval()(x), x)
    assert torch.equal(Dropout(0.0)(x), x)
    assert Dropout(0.4)(torch.empty(0, 3)).shape == (0, 3)


def test_the_cases_torch_treats_apart_are_torchs():
    x = torch.randn(6, 5)
    layer = Dropout(0.3)
    layer.p = 1.0                                   # set after construction: all dropped, as torch does (no 0/0)
    assert torch.equal(layer(x), torch.zeros_like(x))
    ours, theirs = x.clone(), x.clone()
    torch.manual_seed(3)
    Dropout(0.3, inplace=True)(ours)
    torch.manual_seed(3)
    nn.Dropout(0.3, inplace=True)(theirs)
    assert torch.equal(ours, theirs) and not torch.equal(ours, x)


@pytest.mark.parametrize("make, error, message", [
    (lambda: Dropout(1.0), ValueError, "p must be < 1"),
    (lambda: Dropout(-0.1), ValueError, "p must be"),
    (lambda: Dropout("0.3"), TypeError, "p must be a number"),
    (lambda: Dropout(0.3)([1.0, 2.0]), TypeError, "x must be a torch.Tensor"),
])
def test_bad_inputs(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_uniform_like_keeps_the_layout_and_follows_its_generator():
    x = torch.zeros(4, 3, 5, 5).to(memory_format=torch.channels_last)
    noise = randomness.uniform_like(x, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    assert noise.shape == x.shape and noise.dtype == torch.float64 and noise.stride() == x.stride()
    assert 0 <= noise.min() and noise.max() < 1
    in_memory_order = torch.empty(4, 5, 5, 3, dtype=torch.float64).uniform_(generator=torch.Generator().manual_seed(3))
    assert torch.equal(noise, in_memory_order.permute(0, 3, 1, 2))       # element k of memory is draw k
    again = randomness.uniform_like(x, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    assert torch.equal(noise, again)
