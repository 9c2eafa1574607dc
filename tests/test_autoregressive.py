"""Autoregressive models of chapter 03: the autoregressive property (by gradients), normalisation,
samples that follow the model's own probabilities, MADE connectivity, bad inputs."""

import itertools

import pytest
import torch
from scipy import stats

from course_lib.models.autoregressive import (FVSBN, MADE, NADE, CausalConvSequence, GatedPixelCNN, GRUSequence,
                                              PixelCNN, _gated_activation, discretized_logistic_mixture)
from course_lib.nn import CausalConv1d, MaskedConv2d, MaskedLinear, made_masks

SMALL = {
    "fvsbn": lambda shape, levels: FVSBN(shape, levels),
    "nade": lambda shape, levels: NADE(shape, levels, hidden=16),
    "made": lambda shape, levels: MADE(shape, levels, hidden=(32, 32)),
    "made_ensemble": lambda shape, levels: MADE(shape, levels, hidden=(32, 32), n_masks=3),
    "pixelcnn": lambda shape, levels: PixelCNN(shape, levels, channels=8, layers=3, first_kernel=3),
    "pixelcnn_logistic": lambda shape, levels: PixelCNN(shape, levels, channels=8, layers=3, first_kernel=3,
                                                        output="logistic", mixtures=2),
    "gated": lambda shape, levels: GatedPixelCNN(shape, levels, channels=8, layers=3),
    "causal_conv": lambda shape, levels: CausalConvSequence(shape, levels, channels=8, dilations=(1, 2, 4)),
    "gru": lambda shape, levels: GRUSequence(shape, levels, hidden=8, embedding=4),
}
# Models whose network reads the scaled pixel values (gradients w.r.t. them show what each output sees);
# the GRU reads an embedding of each level instead: its dependencies are found by changing pixels.
GRADIENT_READABLE = [n for n in SMALL if n not in ("made_ensemble", "gru")]


def dependencies(model, x):
    """For every pixel d: the set of input pixels whose value changes pixel d's distribution (by gradients)."""
    width = model.image_shape[2]
    scaled = model.scaled(x).clone().requires_grad_(True)
    model.scaled = lambda _: scaled  # feed the network our differentiable input
    try:
        log_probs = model.log_probs(x)
        found = {}
        for d in range(model.pixels):
            (grad,) = torch.autograd.grad(log_probs[0, :, d // width, d % width].sum(), scaled, retain_graph=True)
            found[d] = set((grad[0, 0].flatten() != 0).nonzero().flatten().tolist())
    finally:
        del model.scaled
    return found


@pytest.mark.parametrize("name", GRADIENT_READABLE)
def test_output_depends_only_on_earlier_pixels(name):
    torch.manual_seed(0)
    model = SMALL[name]((1, 5, 5), 4)
    x = torch.randint(0, 4, (1, 1, 5, 5)).float()
    rank = {int(p): t for t, p in enumerate(model.order)}
    for d, inputs in dependencies(model, x).items():
        assert all(rank[j] < rank[d] for j in inputs), f"{name}: pixel {d} depends on later pixels {inputs}"


def test_made_with_any_order_is_autoregressive_in_that_order():
    model = MADE((1, 4, 4), 3, hidden=(64, 64), n_masks=4, seed=1)
    x = torch.randint(0, 3, (1, 1, 4, 4)).float()
    for k in range(4):
        model.use_mask(k)
        rank = {int(p): t for t, p in enumerate(model.order)}
        for d, inputs in dependencies(model, x).items():
            assert all(rank[j] < rank[d] for j in inputs)
    assert len({tuple(o.tolist()) for o in model.orders}) == 4  # four different orders


@pytest.mark.parametrize("seed", range(5))
def test_made_masks_connect_exactly_the_allowed_pairs(seed):
    gen = torch.Generator().manual_seed(seed)
    d = 7
    order = torch.randperm(d, generator=gen)                  # order[i] = rank of input i
    masks = made_masks(order, [64, 64], outputs_per_input=2, generator=gen)
    paths = masks[0]
    for mask in masks[1:]:
        paths = mask @ paths                                   # number of paths from input j to output i
    allowed = (order.repeat(2)[:, None] > order[None, :])
    assert torch.equal(paths > 0, allowed)                    # with 64 hidden units every allowed pair is wired
    assert tuple(masks[-1].shape) == (2 * d, 64)


def test_plain_pixelcnn_has_a_blind_spot_and_gated_does_not():
    torch.manual_seed(0)
    x = torch.randint(0, 17, (1, 1, 8, 8)).float()
    target = 4 * 8 + 4                                         # pixel (4, 4)
    plain = dependencies(PixelCNN(channels=8, layers=6, first_kernel=3), x)[target]
    gated = dependencies(GatedPixelCNN(channels=8, layers=6), x)[target]
    earlier = set(range(target))
    blind = {2 * 8 + 7, 3 * 8 + 6, 3 * 8 + 7}                  # up and to the right of (4, 4)
    assert blind <= earlier - plain                            # within reach, yet never seen
    assert gated == earlier                                    # every earlier pixel


def test_gated_unit_is_tanh_of_the_first_half_times_sigmoid_of_the_second():
    torch.manual_seed(0)
    a = 4 * torch.randn(3, 6, 5, 2, dtype=torch.float64)                     # (B, 2C, ...): saturated values too
    reference = torch.tanh(a[:, :3]) * torch.sigmoid(a[:, 3:])
    assert torch.allclose(_gated_activation(a), reference, rtol=0, atol=1e-14)
    layer = GatedPixelCNN(channels=3, layers=1).layers[0]
    assert torch.allclose(layer.gate(a), reference, rtol=0, atol=1e-14)    # the gated PixelCNN's layers use it


def test_causal_convolution_receptive_field_arithmetic():
    model = CausalConvSequence(channels=8, dilations=(1, 2, 4, 8, 16, 32))
    assert model.receptive_field == 65
    torch.manual_seed(0)
    seen = dependencies(model, torch.randint(0, 17, (1, 1, 8, 8)).float())
    assert seen[63] == set(range(63))
    short = CausalConvSequence(channels=8, dilations=(1, 2))
    seen_short = dependencies(short, torch.randint(0, 17, (1, 1, 8, 8)).float())
    assert seen_short[40] == set(range(40 - short.receptive_field, 40))


@pytest.mark.parametrize("name", list(SMALL))
def test_probabilities_of_all_images_sum_to_one(name):
    torch.manual_seed(0)
    model = SMALL[name]((1, 3, 3), 2).eval()
    every = torch.tensor(list(itertools.product(range(2), repeat=9)), dtype=torch.float32).reshape(-1, 1, 3, 3)
    with torch.no_grad():
        assert model.log_prob(every).exp().sum().item() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("name", ["nade", "made_ensemble", "gated", "pixelcnn_logistic", "causal_conv", "gru"])
def test_samples_follow_the_models_own_probabilities(name):
    torch.manual_seed(1)
    model = SMALL[name]((1, 2, 2), 3).eval()
    every = torch.tensor(list(itertools.product(range(3), repeat=4)), dtype=torch.float32).reshape(-1, 1, 2, 2)
    with torch.no_grad():
        probs = model.log_prob(every).exp().double()
    samples = model.sample(20000, generator=torch.Generator().manual_seed(2))
    index = (samples.reshape(-1, 4).long() * torch.tensor([27, 9, 3, 1])).sum(1)
    counts = torch.bincount(index, minlength=81).double()
    expected = probs * 20000
    keep = expected >= 5                                       # χ² needs enough expected counts per cell
    statistic = (((counts[keep] - expected[keep]) ** 2) / expected[keep]).sum().item()
    statistic += (((counts[~keep].sum() - expected[~keep].sum()) ** 2) / max(expected[~keep].sum(), 1e-9)).item()
    p_value = stats.chi2.sf(statistic, int(keep.sum()))
    assert p_value > 1e-3, f"{name}: samples do not follow log_prob (χ² p = {p_value:.2g})"


@pytest.mark.parametrize("name", [n for n in SMALL if SMALL[n]((1, 4, 5), 3).rows_suffice])
def test_sampling_on_the_top_rows_only_draws_what_whole_images_draw(name):
    """rows_suffice: the network runs on rows 0..r for a pixel of row r; the samples (and a completion) must be
    those of the whole-image passes, and the flag must be on for the convolutional models it speeds up."""
    torch.manual_seed(0)
    model = SMALL[name]((1, 4, 5), 3).eval()
    shown = torch.randint(0, 3, (6, 1, 4, 5)).float()
    known = torch.zeros(1, 4, 5, dtype=torch.bool)
    known[:, 1, :3] = True
    drawn = {}
    for rows_suffice in (True, False):
        model.rows_suffice = rows_suffice
        drawn[rows_suffice] = (model.sample(6, generator=torch.Generator().manual_seed(3)),
                               model.sample(6, generator=torch.Generator().manual_seed(4), observed=shown, known=known))
    assert torch.equal(drawn[True][0], drawn[False][0]) and torch.equal(drawn[True][1], drawn[False][1])


def test_the_row_shortcut_is_on_for_the_masked_convolution_models_only():
    """The gated PixelCNN and the WaveNet-style model have cached samplers of their own (below)."""
    on = {n for n in SMALL if SMALL[n]((1, 4, 5), 3).rows_suffice}
    assert on == {"pixelcnn", "pixelcnn_logistic"}


CACHED = {
    "gated": lambda: GatedPixelCNN((1, 6, 5), 7, channels=8, layers=3),
    "gated, kernel 5, logistic": lambda: GatedPixelCNN((1, 6, 5), 7, channels=8, layers=3, kernel=5,
                                                       output="logistic", mixtures=2),
    "gated, class-conditional": lambda: GatedPixelCNN((1, 6, 5), 7, channels=8, layers=3, classes=3),
    "causal conv": lambda: CausalConvSequence((1, 6, 5), 7, channels=8, dilations=(1, 2, 4, 8, 16)),
    "causal conv, short": lambda: CausalConvSequence((1, 6, 5), 7, channels=8, dilations=(3, 1)),
    "nade": lambda: NADE((1, 6, 5), 7, hidden=8),
    "pixelcnn, logistic": lambda: PixelCNN((1, 6, 5), 7, channels=8, layers=3, first_kernel=3, output="logistic",
                                           mixtures=2),
    "made": lambda: MADE((1, 6, 5), 7, hidden=(16, 16)),
    "made, 3 orders": lambda: MADE((1, 6, 5), 7, hidden=(16, 16), n_masks=3),     # mask 0 in use: the raster order
}


def whole_image_probs(model, x, context, step):
    """The level probabilities of pixel ``step`` (raster order) from one pass of the whole network, (n, L)."""
    return model.log_probs(x, context=context).flatten(2)[:, :, step].exp()


@pytest.mark.parametrize("name", list(CACHED))
def test_cached_samplers_give_the_whole_network_probabilities_at_every_step(name):
    """The gated PixelCNN's cached stacks, the WaveNet-style model's kept activations and NADE's running
    pre-activation must reproduce what one
    pass of the whole network gives, pixel by pixel, while the image is being filled in (x changes in place)."""
    torch.manual_seed(0)
    model = CACHED[name]().eval()
    for parameter in model.parameters():                       # far from uniform, so that mistakes show
        torch.nn.init.normal_(parameter, std=0.5)
    context = torch.tensor([0, 2, 1, 1]) if model.context_classes else None
    x = torch.zeros(4, 1, 6, 5)
    final = torch.randint(0, 7, (4, 1, 6, 5)).float()
    with torch.no_grad():
        pixel_probs = model._pixel_sampler(x, context)
        for step in range(model.pixels):
            probs = pixel_probs(step, model.order[step].view(1))
            expected = whole_image_probs(model, final * (torch.arange(30) < step).reshape(1, 1, 6, 5), context, step)
            assert torch.allclose(probs, expected, atol=1e-5), f"{name}: step {step} differs"
            x.view(4, -1)[:, step] = final.view(4, -1)[:, step]    # the sampler's loop writes the drawn pixel


@pytest.mark.parametrize("name", list(CACHED))
def test_cached_samplers_draw_what_whole_network_passes_draw(name):
    """Same generator, same samples and completions as the generic sampler (one whole pass per pixel)."""
    from course_lib.models.autoregressive import AutoregressiveImageModel
    torch.manual_seed(0)
    model = CACHED[name]().eval()
    context = torch.tensor([0, 2, 1, 1, 0, 2]) if model.context_classes else None
    shown = torch.randint(0, 7, (6, 1, 6, 5)).float()
    known = torch.zeros(1, 6, 5, dtype=torch.bool)
    known[:, 2, :3] = True
    drawn = []
    for sampler in (type(model)._pixel_sampler, AutoregressiveImageModel._pixel_sampler):
        model._pixel_sampler = sampler.__get__(model)
        drawn.append((model.sample(6, generator=torch.Generator().manual_seed(3), context=context),
                      model.sample(6, generator=torch.Generator().manual_seed(4), context=context, observed=shown,
                                   known=known)))
    assert torch.equal(drawn[0][0], drawn[1][0]) and torch.equal(drawn[0][1], drawn[1][1])


def test_the_logistic_pixelcnn_turns_the_mixture_into_levels_for_the_pixel_drawn_only(monkeypatch):
    """Its passes run the network on rows 0..r, but the mixture's L bins are computed for one position a pass."""
    from course_lib.models import autoregressive
    positions, mixture = [], autoregressive._discretized_logistic_mixture

    def counted(params, levels):
        positions.append(params.shape[2] * params.shape[3])
        return mixture(params, levels)

    monkeypatch.setattr(autoregressive, "_discretized_logistic_mixture", counted)
    CACHED["pixelcnn, logistic"]().sample(3, generator=torch.Generator().manual_seed(0))
    assert positions == [1] * 30


def test_cached_samplers_compute_one_row_or_one_position_per_pixel():
    """What the caches save: the gated PixelCNN's head runs on the pixel's row only (W positions per pixel, not
    (r + 1) W), the WaveNet-style model's on one position."""
    gated, wavenet = CACHED["gated"]().eval(), CACHED["causal conv"]().eval()
    for model, head, per_pass in ((gated, gated.head, 5), (wavenet, wavenet.out, 1)):
        positions = []
        hook = head.register_forward_hook(lambda module, inputs, output: positions.append(output[0, 0].numel()))
        model.sample(2, generator=torch.Generator().manual_seed(0))
        hook.remove()
        assert positions == [per_pass] * model.pixels


def test_gru_conditionals_change_with_earlier_pixels_only():
    """Changing pixel j leaves the distributions of pixels ≤ j unchanged, and changes those after it (teacher
    forcing reads the true previous pixels; the state carries them on)."""
    torch.manual_seed(0)
    model = GRUSequence((1, 3, 4), 5, hidden=16, embedding=4).eval()
    x = torch.randint(0, 5, (1, 1, 3, 4)).float()
    with torch.no_grad():
        base = model.log_probs(x).flatten(2)[0]                         # (L, D)
        for j in range(model.pixels):
            changed = x.clone().view(-1)
            changed[j] = (changed[j] + 1) % 5
            moved = (model.log_probs(changed.view(1, 1, 3, 4)).flatten(2)[0] - base).abs().amax(0)   # (D,)
            assert (moved[:j + 1] == 0).all(), f"pixel {j} changes the distribution of an earlier or its own pixel"
            assert (moved[j + 1:] > 0).all(), f"pixel {j} does not reach every later pixel"


def test_gru_sampling_is_one_recurrent_step_per_pixel_and_teacher_forcing_one_call():
    model = GRUSequence((1, 3, 3), 4, hidden=8, embedding=4).eval()
    lengths = []
    hook = model.gru.register_forward_hook(lambda module, inputs, output: lengths.append(inputs[0].shape[1]))
    model.sample(5, generator=torch.Generator().manual_seed(0))
    assert lengths == [1] * 9                                           # free-running: 9 steps of length 1
    lengths.clear()
    model.log_prob(torch.zeros(5, 1, 3, 3))
    hook.remove()
    assert lengths == [9]                                               # teacher forcing: one call over 9 steps


def test_class_conditional_gru_is_a_distribution_for_every_label_and_the_labels_matter():
    torch.manual_seed(0)
    model = GRUSequence((1, 2, 2), 3, hidden=8, embedding=4, classes=3).eval()
    with torch.no_grad():
        model.label.weight.mul_(3.0)
        every = torch.tensor(list(itertools.product(range(3), repeat=4)), dtype=torch.float32).reshape(-1, 1, 2, 2)
        probs = torch.stack([model.log_prob(every, context=torch.full((81,), y)).exp() for y in range(3)])
    assert torch.allclose(probs.sum(1), torch.ones(3), atol=1e-5)
    assert (0.5 * (probs[0] - probs[1]).abs().sum()) > 0.01


def test_completion_keeps_each_images_own_known_pixels():
    """``known`` may differ per image; kept pixels are copied, the others drawn (that they follow
    p(missing | shown) is checked by χ² in test_model_contract.py)."""
    model = SMALL["gated"]((1, 4, 4), 5).eval()
    observed = torch.full((2, 1, 4, 4), 4.0)
    known = torch.zeros(2, 1, 4, 4, dtype=torch.bool)
    known[0, :, :2] = True                                     # image 0: the top half is given
    known[1, :, :, 3] = True                                   # image 1: the last column is given
    completed = model.sample(2, observed=observed, known=known, generator=torch.Generator().manual_seed(0))
    assert torch.equal(completed[known], observed[known])
    # All-4 images are unlikely under an untrained model: the 16 + 12 drawn pixels are not all copies of 4.
    assert (completed[~known] != 4).sum() > 10


def test_discretized_logistic_mixture_is_normalised_and_peaks_at_the_mean():
    params = torch.zeros(2, 3 * 2, 1, 1)
    params[:, 2:4] = 0.5                                       # both components' means at +0.5
    params[:, 4:6] = -3.0                                      # narrow
    log_p = discretized_logistic_mixture(params, 17)
    assert torch.allclose(log_p.exp().sum(1), torch.ones(2, 1, 1))
    assert log_p[0, :, 0, 0].argmax().item() == 12             # level 12 ↔ 2·12/16 − 1 = 0.5


def test_class_conditional_gated_pixelcnn_is_a_distribution_for_every_label():
    torch.manual_seed(0)
    model = GatedPixelCNN((1, 2, 2), 3, channels=8, layers=2, classes=4).eval()
    with torch.no_grad():
        model.class_bias.weight.normal_()          # labels that matter (the embedding starts near zero anyway)
    every = torch.tensor(list(itertools.product(range(3), repeat=4)), dtype=torch.float32).reshape(-1, 1, 2, 2)
    with torch.no_grad():
        probs = torch.stack([model.log_prob(every, context=torch.full((81,), label)).exp() for label in range(4)])
    assert torch.allclose(probs.sum(1), torch.ones(4), atol=1e-5)        # p(x | y) sums to one for each y
    total_variation = 0.5 * (probs[:, None] - probs[None]).abs().sum(-1)  # (4, 4) between labels
    assert total_variation[~torch.eye(4, dtype=torch.bool)].min() > 0.01  # and the labels change it


def test_fit_trains_a_class_conditional_model_with_the_labels_as_context():
    """Two classes, each always the same 2×2 image: p(x | y) can be learned exactly, p(x) only up to ln 2."""
    from course_lib.data import Dataset
    from course_lib.evaluation import mean_nll
    from course_lib.train import fit

    y = torch.arange(200) % 2
    x = torch.where(y.view(-1, 1, 1, 1) == 1, torch.full((200, 1, 2, 2), 2.0), torch.zeros(200, 1, 2, 2))
    torch.manual_seed(0)
    model = GatedPixelCNN((1, 2, 2), 3, channels=16, layers=2, classes=2)
    fit(model, Dataset(x, y), epochs=150, batch_size=50, lr=1e-2, labels_as_context=True, progress=False)
    assert not model.training
    assert mean_nll(model, x, context=y) < 0.05                     # the right label: the image is certain
    assert mean_nll(model, x, context=1 - y) > 5.0                  # the wrong label: the image is unlikely
    with pytest.raises(ValueError, match="class-conditional .*pass context=labels"):
        fit(model, x, epochs=1, progress=False)                     # the labels cannot be forgotten
    samples = model.sample(40, context=torch.arange(40) % 2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(samples, x[:40])                             # class 0 → zeros, class 1 → twos


@pytest.mark.parametrize("call, error, message", [
    (lambda: FVSBN((1, 8), 17), ValueError, r"image_shape must be three positive ints \(C, H, W\)"),
    (lambda: FVSBN((1, 4, 4), 1), ValueError, r"levels must be ≥ 2"),
    (lambda: NADE(hidden=0), ValueError, r"hidden must be ≥ 1"),
    (lambda: MADE(n_masks=0), ValueError, r"n_masks must be ≥ 1"),
    (lambda: MADE().use_mask(1), ValueError, r"k must be an int in \[0, 0\]"),
    (lambda: PixelCNN(output="gaussian"), ValueError, r"output must be 'categorical' or 'logistic'"),
    (lambda: MaskedConv2d(1, 4, 4, "A"), ValueError, r"kernel_size must be odd"),
    (lambda: MaskedConv2d(1, 4, 3, "C"), ValueError, r"mask_type must be 'A' or 'B'"),
    (lambda: MaskedLinear(3, 2, torch.ones(3, 3)), ValueError, r"mask must have shape \(2, 3\)"),
    (lambda: FVSBN((1, 4, 4), 3).log_prob(torch.zeros(2, 1, 4, 5)), ValueError, r"x must have shape \(B, 1, 4, 4\)"),
    (lambda: FVSBN((1, 4, 4), 3).log_prob(torch.full((2, 1, 4, 4), 3.0)), ValueError, r"x must hold integer grey levels in \[0, 2\]"),
    (lambda: FVSBN((1, 4, 4), 3).log_prob(torch.full((2, 1, 4, 4), 0.5)), ValueError, r"x must hold integer grey levels in \[0, 2\]"),
    (lambda: FVSBN((1, 4, 4), 3).sample(0), ValueError, r"n must be ≥ 1"),
    (lambda: FVSBN((1, 4, 4), 3).sample(2, observed=torch.zeros(2, 1, 4, 4)), TypeError, r"known must be a boolean tensor saying which pixels of observed to keep"),
    (lambda: FVSBN((1, 4, 4), 3).sample(3, observed=torch.zeros(2, 1, 4, 4),
                                        known=torch.ones(1, 4, 4, dtype=torch.bool)), ValueError, r"observed must hold n=3 images"),
])
def test_autoregressive_models_reject_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_causal_conv1d_shift():
    conv = CausalConv1d(1, 1, 2, exclude_current=True)
    x = torch.zeros(1, 1, 6, requires_grad=True)
    conv(x)[0, 0, 3].backward()
    assert (x.grad[0, 0] != 0).nonzero().flatten().tolist() == [1, 2]


def test_made_ensemble_trains_one_mask_a_batch_and_validates_the_mixture():
    """Training batches cycle through the masks; in evaluation mode the loss is the mixture's exact NLL and
    leaves the mask in use alone (so validating between epochs does not change which masks training sees)."""
    model = MADE((1, 3, 3), 3, hidden=(16, 16), n_masks=3)
    x = torch.randint(0, 3, (5, 1, 3, 3)).float()
    used = []
    for _ in range(4):
        model.loss(x)
        used.append(model.current.item())
    assert used == [1, 2, 0, 1]
    model.eval()
    with torch.no_grad():
        assert model.loss(x).item() == pytest.approx(-model.log_prob(x).mean().item(), rel=1e-6)
        assert model.loss(x).item() != pytest.approx(-super(MADE, model)._log_prob(x, None).mean().item(), rel=1e-3)
    assert model.current.item() == 1


def test_made_ensemble_log_likelihood_can_be_differentiated():
    """log p(x) of a mask ensemble mixes K forward passes: back-propagating it must work, and reach every layer."""
    model = MADE((1, 3, 3), 3, hidden=(16, 16), n_masks=3)
    x = torch.randint(0, 3, (5, 1, 3, 3)).float()
    model.log_prob(x).mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    assert model.current.item() == 0                 # evaluating all K masks leaves the one in use unchanged
