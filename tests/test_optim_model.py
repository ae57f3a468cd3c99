"""The functional SGD step equals torch.optim.SGD; the MLP matches nn.Linear / nn.Dropout semantics."""

from __future__ import annotations

import torch

from fairbench.models.functional_mlp import NO_DROPOUT, draw_dropout_masks, init_mlp, mlp_logits
from fairbench.models.optim import SGDConfig, sgd_step


def test_sgd_step_equals_torch_optim_sgd() -> None:
    g = torch.Generator().manual_seed(0)
    params = init_mlp(5, generator=g)
    reference = [p.clone().requires_grad_(True) for p in params]
    cfg = SGDConfig(lr=0.05, momentum=0.9, weight_decay=5e-4)
    optimiser = torch.optim.SGD(reference, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    buf = None
    for _ in range(4):
        grads = [torch.randn(p.shape, generator=g) for p in params]
        params, buf = sgd_step(params, type(params)(*grads), buf, cfg)
        for p, gr in zip(reference, grads):
            p.grad = gr.clone()
        optimiser.step()
    for ours, theirs in zip(params, reference):
        assert torch.equal(ours, theirs.detach())


def test_init_is_deterministic_and_bounded() -> None:
    a = init_mlp(9, generator=torch.Generator().manual_seed(1))
    b = init_mlp(9, generator=torch.Generator().manual_seed(1))
    c = init_mlp(9, generator=torch.Generator().manual_seed(2))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a.w1, c.w1)
    assert a.w1.shape == (128, 9) and a.w2.shape == (64, 128) and a.w3.shape == (2, 64)
    assert float(a.w1.abs().max()) <= 1 / 3 and float(a.w2.abs().max()) <= 128 ** -0.5


def test_forward_matches_nn_sequential_in_eval_mode() -> None:
    params = init_mlp(6, generator=torch.Generator().manual_seed(0))
    net = torch.nn.Sequential(torch.nn.Linear(6, 128), torch.nn.ReLU(), torch.nn.Dropout(0.5),
                              torch.nn.Linear(128, 64), torch.nn.ReLU(), torch.nn.Dropout(0.5),
                              torch.nn.Linear(64, 2)).eval()
    with torch.no_grad():
        for layer, (w, b) in zip([net[0], net[3], net[6]], [(params.w1, params.b1), (params.w2, params.b2), (params.w3, params.b3)]):
            layer.weight.copy_(w)
            layer.bias.copy_(b)
    x = torch.randn(10, 6)
    torch.testing.assert_close(mlp_logits(params, x, NO_DROPOUT), net(x))


def test_dropout_masks_are_inverted_and_reproducible() -> None:
    m1 = draw_dropout_masks(1000, 0.25, torch.Generator().manual_seed(3))
    m2 = draw_dropout_masks(1000, 0.25, torch.Generator().manual_seed(3))
    assert torch.equal(m1.h1, m2.h1)
    values = set(m1.h1.unique().tolist())
    assert values == {0.0, torch.tensor(1 / 0.75).item()}
    assert abs(float((m1.h1 > 0).float().mean()) - 0.75) < 0.01
    assert draw_dropout_masks(4, 0.0, torch.Generator()) == NO_DROPOUT
