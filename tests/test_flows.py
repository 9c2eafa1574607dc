"""Flows as density models (chapter 05): exact discrete probabilities of an image flow, by quadrature in logit space."""

import math

import pytest
import torch
from scipy import stats

from course_lib.models import ImageFlow, VariationalDequantizer, realnvp_image_body

SHAPE, LEVELS = (1, 1, 2), 4


def _image_flow(dequantizer: bool) -> ImageFlow:
    torch.manual_seed(0)
    model = ImageFlow(realnvp_image_body(SHAPE, hidden=8, couplings=2, scales=1), SHAPE, LEVELS,
                      dequantizer=VariationalDequantizer(SHAPE, LEVELS, hidden=4) if dequantizer else None)
    images = torch.cartesian_prod(torch.arange(4.0), torch.arange(4.0)).reshape(-1, *SHAPE).repeat(8, 1, 1, 1)
    with torch.no_grad():
        model.train().loss(images)                               # ActNorm initialises on its first batch
        for parameter in model.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    return model.eval()


def exact_probabilities(model: ImageFlow) -> torch.Tensor:
    """P(x) for the 16 images: the flow's density in logit space y, integrated over each image's cell.

    v = L (sigmoid(y) − α)/(1 − 2α) is the dequantized image; the cell of x is ⌊v⌋ = x. A 2001² grid on
    [−20, 20]² (spacing 0.02) covers the mass; in y the density is smooth, unlike in v near the cell edges.
    """
    side = torch.linspace(-20, 20, 2001, dtype=torch.float64)
    y = torch.cartesian_prod(side, side).float().reshape(-1, *SHAPE)
    body = model.transform.transforms[1]
    with torch.no_grad():
        z, logabsdet = body(y)
        density = (-0.5 * (z.reshape(len(z), -1) ** 2).sum(1) - math.log(2 * math.pi) + logabsdet).double().exp()
        alpha = model.transform.transforms[0].alpha
        v = LEVELS * (torch.sigmoid(y.double()) - alpha) / (1 - 2 * alpha)
    cell = torch.floor(v).clamp(0, LEVELS - 1).long().reshape(len(v), -1)
    index = cell[:, 0] * LEVELS + cell[:, 1]
    return torch.zeros(LEVELS ** 2, dtype=torch.float64).index_add_(0, index, density) * 0.02 ** 2


@pytest.mark.parametrize("dequantizer", [False, True], ids=["uniform", "variational"])
def test_image_flow_is_a_distribution_over_images_and_its_samples_follow_it(dequantizer):
    model = _image_flow(dequantizer)
    probs = exact_probabilities(model)
    assert probs.sum().item() == pytest.approx(1.0, abs=2e-3)       # no mass outside the levels' range
    samples = model.sample(20000, generator=torch.Generator().manual_seed(1)).reshape(-1, 2).long()
    counts = torch.bincount(samples[:, 0] * LEVELS + samples[:, 1], minlength=16).double()
    keep = probs * 20000 >= 5
    statistic = ((counts[keep] - 20000 * probs[keep]) ** 2 / (20000 * probs[keep])).sum().item()
    assert stats.chi2.sf(statistic, int(keep.sum()) - 1) > 1e-3


@pytest.mark.parametrize("dequantizer", [False, True], ids=["uniform", "variational"])
def test_dequantization_bound_is_below_log_p_and_tightens_with_k(dequantizer):
    model = _image_flow(dequantizer)
    images = torch.cartesian_prod(torch.arange(4.0), torch.arange(4.0)).reshape(-1, *SHAPE)
    exact = torch.log(exact_probabilities(model)).float()
    with torch.no_grad():
        gaps = {k: torch.stack([exact - model.log_prob(images, k=k, generator=torch.Generator().manual_seed(s))
                                for s in range(64)]) for k in (1, 100)}          # (64 draws, 16 images)
    mean, standard_error = gaps[1].mean(0), gaps[1].std(0) / 8
    assert (mean > -3 * standard_error).all()                  # a lower bound on log P(x), in expectation
    assert gaps[100].mean() < 0.5 * gaps[1].mean() and (gaps[100].mean(0) > -0.05).all()   # and it tightens with k
