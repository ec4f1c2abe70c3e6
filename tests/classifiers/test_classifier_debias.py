"""The presence + absence explanation penalty: its formula, and what it removes from a linear classifier."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from retinacodec.classifiers import digits, train_classifier
from retinacodec.classifiers.debias import add_patch, explanation_penalty


def test_add_patch_follows_the_class_probabilities():
    x, y = torch.zeros(20, 1, 8, 8), torch.arange(20) % 2
    out, masks, has = add_patch(x, y, {0: 1.0, 1: 0.0}, size=2, value=5.0, corner=(0, 0), dilate=1)
    assert torch.equal(has, y == 0)
    assert float(out[y == 0, :, :2, :2].min()) == 5.0 and float(out[y == 1].abs().max()) == 0.0
    assert torch.equal(masks[0, 0, :3, :3], torch.ones(3, 3)) and float(masks[0].sum()) == 9  # dilated by 1 px
    assert float(masks[1].sum()) == 0


def test_penalty_is_the_official_formula_on_a_linear_model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    x, y = torch.randn(4, 1, 4, 4), torch.tensor([0, 1, 1, 0])
    mask = torch.zeros(4, 1, 4, 4)
    mask[:, :, :2, :2] = 1
    w = model[1].weight.detach().reshape(2, 1, 4, 4)  # the input gradient of logit k is w[k]
    presence = ((x * w[y]).abs() * mask).sum() / (mask.sum() + 1e-5)
    flipped = ((x * w[1 - y]).abs() * mask).sum() / (mask.sum() + 1e-5)
    only = explanation_penalty(model, x, y, mask, absence=False)
    assert float(only.detach()) == pytest.approx(float(presence), rel=1e-5)
    both = explanation_penalty(model, x, y, mask)
    assert float(both.detach()) == pytest.approx(float((presence + flipped) / 2), rel=1e-5)
    both.backward()
    assert model[1].weight.grad is not None and float(model[1].weight.grad.abs().sum()) > 0
    assert float(explanation_penalty(model, x, y, torch.zeros_like(mask)).detach()) == 0.0
    with pytest.raises(ValueError, match="binary"):
        explanation_penalty(nn.Sequential(nn.Flatten(), nn.Linear(16, 3)), x, y, mask)
    runner = explanation_penalty(nn.Sequential(nn.Flatten(), nn.Linear(16, 3)), x, y, mask, other="runner_up")
    assert torch.isfinite(runner)


def test_absence_penalty_removes_a_shortcut_that_presence_alone_leaves():
    """A linear two-logit classifier of 1 vs 7 whose training 1s all carry a patch.

    The presence penalty (labelled logit only) acts on the patch images, all labelled 1, so it
    silences the patch in the '1' logit; the '7' logit may still read the patch as evidence
    against a 7 (an encoded absence), and the decision, logit 7 − logit 1, keeps using it.
    Penalising both logits removes the patch from the decision.
    """
    x, y = digits(8)
    keep = (y == 1) | (y == 7)
    x, y = x[keep], (y[keep] == 7).long()
    patched, masks, _ = add_patch(x, y, {0: 1.0, 1: 0.0}, size=2, value=3.0, dilate=0)

    def patch_weight(absence: bool | None) -> float:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(64, 2))
        penalty = None if absence is None else (
            lambda m, a, b, c: explanation_penalty(m, a, b, c, absence=absence))
        train_classifier(model, patched, y, epochs=30, lr=1e-2, weight_decay=0.0, penalty=penalty,
                         penalty_weight=10.0, masks=masks)
        w = model[1].weight.detach().reshape(2, 8, 8)
        return float((w[1] - w[0])[:2, :2].abs().mean() / (w[1] - w[0]).abs().mean())

    none, presence, both = patch_weight(None), patch_weight(False), patch_weight(True)
    print(f"patch share of the decision weights: none {none:.3f}, presence {presence:.3f}, both {both:.3f}")
    assert both < 0.5 * presence and both < 0.5 * none
