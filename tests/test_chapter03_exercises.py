"""Chapter 03's exercise checks accept the solution and reject plausible wrong answers (and the stub), and
say what is off for the typical ones."""

from pathlib import Path

import pytest

from exercise_harness import ExerciseFailed, exercise_tests, run_checks

CHAPTER = Path(__file__).resolve().parents[1] / "chapters" / "03_autoregressive.py"

NADE_HEAD = """
def nade(x, W, c, V, b):
    contributions = x[:, :, None] * W.T[None]
"""

WRONG = {
    1: {
        "inclusive cumulative sum (h_d sees x_d)": NADE_HEAD + """
    h = torch.sigmoid(c + torch.cumsum(contributions, dim=1))
    logits = (h * V).sum(-1) + b
    return torch.sigmoid(logits), (x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)).sum(1)
""",
        "no sigmoid on the hidden units": NADE_HEAD + """
    h = c + torch.cumsum(contributions, dim=1) - contributions
    logits = (h * V).sum(-1) + b
    return torch.sigmoid(logits), (x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)).sum(1)
""",
        "cumulative sum over the hidden units instead of the pixels": NADE_HEAD + """
    h = torch.sigmoid(c + torch.cumsum(contributions, dim=2) - contributions)
    logits = (h * V).sum(-1) + b
    return torch.sigmoid(logits), (x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)).sum(1)
""",
        "log p(x_d = 1) for every pixel, whatever its value": NADE_HEAD + """
    h = torch.sigmoid(c + torch.cumsum(contributions, dim=1) - contributions)
    logits = (h * V).sum(-1) + b
    return torch.sigmoid(logits), F.logsigmoid(logits).sum(1)
""",
        "log-likelihood summed over the batch": NADE_HEAD + """
    h = torch.sigmoid(c + torch.cumsum(contributions, dim=1) - contributions)
    logits = (h * V).sum(-1) + b
    return torch.sigmoid(logits), (x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)).sum(0)
""",
        "the hidden units without their bias c": NADE_HEAD + """
    h = torch.sigmoid(torch.cumsum(contributions, dim=1) - contributions)
    logits = (h * V).sum(-1) + b
    return torch.sigmoid(logits), (x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)).sum(1)
""",
    },
    2: {
        "strict > in the hidden layers too": """
def masks_from_degree_vectors(input_degrees, hidden_degrees, output_degrees):
    degrees = [input_degrees, *hidden_degrees, output_degrees]
    return [(later[:, None] > earlier[None, :]).float() for earlier, later in zip(degrees[:-1], degrees[1:])]
""",
        "≥ into the outputs (the output for x_d sees x_d)": """
def masks_from_degree_vectors(input_degrees, hidden_degrees, output_degrees):
    degrees = [input_degrees, *hidden_degrees, output_degrees]
    return [(later[:, None] >= earlier[None, :]).float() for earlier, later in zip(degrees[:-1], degrees[1:])]
""",
        "the comparison the wrong way round": """
def masks_from_degree_vectors(input_degrees, hidden_degrees, output_degrees):
    degrees = [input_degrees, *hidden_degrees]
    masks = [(later[:, None] <= earlier[None, :]).float() for earlier, later in zip(degrees[:-1], degrees[1:])]
    return masks + [(output_degrees[:, None] < degrees[-1][None, :]).float()]
""",
        "transposed masks (below × above)": """
def masks_from_degree_vectors(input_degrees, hidden_degrees, output_degrees):
    degrees = [input_degrees, *hidden_degrees]
    masks = [(later[None, :] >= earlier[:, None]).float() for earlier, later in zip(degrees[:-1], degrees[1:])]
    return masks + [(output_degrees[None, :] > degrees[-1][:, None]).float()]
""",
        "no mask into the outputs": """
def masks_from_degree_vectors(input_degrees, hidden_degrees, output_degrees):
    degrees = [input_degrees, *hidden_degrees]
    masks = [(later[:, None] >= earlier[None, :]).float() for earlier, later in zip(degrees[:-1], degrees[1:])]
    return masks + [torch.ones(len(output_degrees), len(degrees[-1]))]
""",
    },
    3: {
        "A and B swapped": """
def pixelcnn_mask(k, mask_type):
    mask = torch.zeros(k, k)
    mask[:k // 2] = 1
    mask[k // 2, :k // 2] = 1
    if mask_type == "A":
        mask[k // 2, k // 2] = 1
    return mask
""",
        "the whole centre row kept (reads pixels to the right)": """
def pixelcnn_mask(k, mask_type):
    mask = torch.zeros(k, k)
    mask[:k // 2 + 1] = 1
    if mask_type == "A":
        mask[k // 2, k // 2] = 0
    return mask
""",
        "the rows below instead of above": """
def pixelcnn_mask(k, mask_type):
    mask = torch.zeros(k, k)
    mask[k // 2 + 1:] = 1
    mask[k // 2, :k // 2] = 1
    if mask_type == "B":
        mask[k // 2, k // 2] = 1
    return mask
""",
        "off by one on the centre row (left pixel dropped)": """
def pixelcnn_mask(k, mask_type):
    mask = torch.zeros(k, k)
    mask[:k // 2] = 1
    mask[k // 2, :k // 2 - 1] = 1
    if mask_type == "B":
        mask[k // 2, k // 2] = 1
    return mask
""",
    },
    4: {
        "not shifted (the horizontal stack sees the current row)": """
def vertical_stack(v, weight):
    half = weight.shape[-1] // 2
    features = F.conv2d(F.pad(v, (half, half, half, 0)), weight)
    return features, features
""",
        "padded at the bottom (reads the rows below)": """
def vertical_stack(v, weight):
    half = weight.shape[-1] // 2
    features = F.conv2d(F.pad(v, (half, half, 0, half)), weight)
    return features, F.pad(features, (0, 0, 1, 0))[:, :, :v.shape[2]]
""",
        "shifted up instead of down": """
def vertical_stack(v, weight):
    half = weight.shape[-1] // 2
    features = F.conv2d(F.pad(v, (half, half, half, 0)), weight)
    return features, F.pad(features, (0, 0, 0, 1))[:, :, 1:]
""",
        "columns padded on the left only (the blind spot is back)": """
def vertical_stack(v, weight):
    half = weight.shape[-1] // 2
    features = F.conv2d(F.pad(v, (2 * half, 0, half, 0)), weight)
    return features, F.pad(features, (0, 0, 1, 0))[:, :, :v.shape[2]]
""",
        "both outputs shifted": """
def vertical_stack(v, weight):
    half = weight.shape[-1] // 2
    features = F.conv2d(F.pad(v, (half, half, half, 0)), weight)
    shifted = F.pad(features, (0, 0, 1, 0))[:, :, :v.shape[2]]
    return shifted, shifted
""",
    },
    5: {
        "the current input not counted": """
def receptive_field_size(kernel_size, dilations):
    return sum((kernel_size - 1) * d for d in dilations)
""",
        "k taps times the dilation per layer": """
def receptive_field_size(kernel_size, dilations):
    return 1 + sum(kernel_size * d for d in dilations)
""",
        "the kernel size ignored": """
def receptive_field_size(kernel_size, dilations):
    return 1 + sum(dilations)
""",
        "only the largest dilation counts": """
def receptive_field_size(kernel_size, dilations):
    return 1 + (kernel_size - 1) * max(dilations)
""",
        "the product of the layers' spans": """
def receptive_field_size(kernel_size, dilations):
    span = 1
    for d in dilations:
        span *= 1 + (kernel_size - 1) * d
    return span
""",
    },
}
STUBS = {1: "nade", 2: "masks_from_degree_vectors", 3: "pixelcnn_mask", 4: "vertical_stack",
         5: "receptive_field_size"}


test_the_solution_passes_its_checks, test_a_wrong_answer_fails_its_check, test_the_stub_fails_its_check = \
    exercise_tests(CHAPTER, WRONG, STUBS)


# The message says what is off, not only "not close".
TEACHING = [
    (1, "inclusive cumulative sum", r"changes with x_d itself: .*exclusive cumulative sum",
     WRONG[1]["inclusive cumulative sum (h_d sees x_d)"]),
    (1, "x_d = 0 ignored", r"log\(1 − p\) when x_d = 0", WRONG[1]["log p(x_d = 1) for every pixel, whatever its value"]),
    (1, "no hidden sigmoid", r"a sigmoid on the hidden units", WRONG[1]["no sigmoid on the hidden units"]),
    (2, "strict hidden comparison", r"one input too few: .*\(≥, not >\)", WRONG[2]["strict > in the hidden layers too"]),
    (2, "≥ into the outputs", r"reaches x_d itself: into the outputs, the comparison is strict",
     WRONG[2]["≥ into the outputs (the output for x_d sees x_d)"]),
    (2, "reversed comparison", r"the comparison is the wrong way round", WRONG[2]["the comparison the wrong way round"]),
    (3, "A and B swapped", r"mask A must drop the centre tap", WRONG[3]["A and B swapped"]),
    (3, "reads to the right", r"comes \*after\* \(i, j\) in the raster order",
     WRONG[3]["the whole centre row kept (reads pixels to the right)"]),
    (4, "not shifted", r"shift the vertical features down one row",
     WRONG[4]["not shifted (the horizontal stack sees the current row)"]),
    (4, "padded at the bottom", r"pad the top of the image, not the bottom",
     WRONG[4]["padded at the bottom (reads the rows below)"]),
    (4, "left padding only", r"pad k//2 columns on \*each\* side",
     WRONG[4]["columns padded on the left only (the blind spot is back)"]),
    (5, "current input not counted", r"one short everywhere: count the output's own position",
     WRONG[5]["the current input not counted"]),
]


@pytest.mark.parametrize("number, mistake, words, source", TEACHING, ids=[t[1] for t in TEACHING])
def test_the_check_names_the_mistake(number, mistake, words, source):
    with pytest.raises(ExerciseFailed, match=words):
        run_checks(CHAPTER, number, source)


def test_a_loop_over_pixels_gives_the_right_answer_and_passes():
    """The checks judge the numbers and the dependencies, not the style: h_d computed afresh for every d passes."""
    run_checks(CHAPTER, 1, """
def nade(x, W, c, V, b):
    logits = torch.stack([b[d] + torch.sigmoid(c + x[:, :d] @ W[:, :d].T) @ V[d] for d in range(x.shape[1])], dim=1)
    return torch.sigmoid(logits), (x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)).sum(1)
""")


def test_an_answer_autograd_cannot_follow_is_told_so():
    with pytest.raises(ExerciseFailed, match=r"no \.detach\(\), \.numpy\(\) or torch\.no_grad\(\)"):
        run_checks(CHAPTER, 1, """
def nade(x, W, c, V, b):
    x = x.detach()
    contributions = x[:, :, None] * W.T[None]
    h = torch.sigmoid(c + torch.cumsum(contributions, dim=1) - contributions)
    logits = (h * V).sum(-1) + b
    return torch.sigmoid(logits), (x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)).sum(1)
""")
