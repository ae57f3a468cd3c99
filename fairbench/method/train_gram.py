"""The Gramian of a batch's per-cell *training*-loss gradients, and per-cell weights as sample weights.

Bargaining without meta-learning (Nash-MTL, Navon et al., ICML 2022; FairGrad, Ban & Ji, ICML 2024;
docs/method.md §6) plays over the gradients of the batch's per-cell mean training losses

    L_c(theta) = (1 / n_c) sum_{j in c} CE_j(theta),   cell c = 2 * group + y   (K = 2 * n_groups cells),

in parameter space. Everything they need is the K x K Gramian M[c, c'] = <grad L_c, grad L_c'>. A weighted
sum of cell losses is a per-sample weighting, sum_c alpha_c L_c = sum_j (alpha_{c(j)} / n_{c(j)}) CE_j, so
these methods fit the trainer's weights interface once the step provides M.

For the MLP, M = A Kmat A^T with A the K x B cell-averaging matrix of the batch and Kmat the per-example
gradient kernel, which factorises layer by layer exactly as the hypergradients do
(:func:`fairbench.method.meta.hypergradients`):

    <grad CE_i, grad CE_j> = sum_l (delta_{l,i} . delta_{l,j}) (a_{l,i} . a_{l,j} + 1).

For any other model, K reverse passes through the real step's graph give the cell gradients.
A cell absent from the batch has a zero row and column.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from fairbench.models import backprop
from fairbench.models.functional_mlp import DropoutMasks, MLPParams


def batch_cells(y: Tensor, group: Tensor) -> Tensor:
    """Cell index 2 * group + y of each row (the validation set's cell convention)."""
    return group * 2 + y


def cell_mean_matrix(cells: Tensor, n_cells: int, dtype: torch.dtype) -> Tensor:
    """A (K x B): row c averages the batch rows of cell c; the row of an absent cell is zero."""
    one_hot = F.one_hot(cells, n_cells).T.to(dtype)
    sizes = one_hot.sum(dim=1, keepdim=True)
    return one_hot / sizes.clamp(min=1)


@torch.no_grad()
def mlp_train_gram(params: MLPParams, x: Tensor, y: Tensor, masks: DropoutMasks, cells: Tensor,
                   n_cells: int) -> Tensor:
    """M (K x K, float64) of the MLP at ``params`` with the real pass's dropout ``masks`` (module docstring)."""
    fp = backprop.forward(params, x, y, masks)
    d3 = torch.exp(fp.log_probs) - F.one_hot(y, fp.log_probs.shape[1]).to(x.dtype)
    grad_a2 = d3 @ params.w3
    d2 = (grad_a2 if masks.h2 is None else grad_a2 * masks.h2) * (fp.h2 > 0).to(x.dtype)
    grad_a1 = d2 @ params.w2
    d1 = (grad_a1 if masks.h1 is None else grad_a1 * masks.h1) * (fp.h1 > 0).to(x.dtype)
    A = cell_mean_matrix(cells, n_cells, torch.float64)
    gram = torch.zeros(n_cells, n_cells, dtype=torch.float64, device=x.device)
    for a, d in ((fp.x, d1), (fp.a1, d2), (fp.a2, d3)):
        a64, d64 = a.double(), d.double()
        kernel = (d64 @ d64.T) * (a64 @ a64.T + 1.0)
        gram += A @ kernel @ A.T
    return gram


def autograd_train_gram(losses: Tensor, params: tuple[Tensor, ...], cells: Tensor, n_cells: int) -> Tensor:
    """M (K x K, float64) by K reverse passes of the cell losses through the graph of ``losses``
    (per-sample CE, differentiable in ``params``); the graph is kept for the real step."""
    cell_losses = cell_mean_matrix(cells, n_cells, losses.dtype) @ losses
    rows = []
    for c in range(n_cells):
        grads = torch.autograd.grad(cell_losses[c], params, retain_graph=True, allow_unused=True)
        rows.append(torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1)
                               for p, g in zip(params, grads, strict=True)]))
    flat = torch.stack(rows).double()
    return flat @ flat.T


def cell_weights_to_samples(alpha: Tensor, cells: Tensor, n_cells: int) -> Tensor:
    """Sample weights w_j = alpha_{c(j)} / n_{c(j)}, scaled to ||w||_2 = 1 (ERM's 1/sqrt(B) has norm 1, so a
    learning rate means the same for both); all-zero stays zero."""
    counts = torch.bincount(cells, minlength=n_cells).to(torch.float64)
    per_cell = torch.where(counts > 0, alpha.to(torch.float64) / counts.clamp(min=1), torch.zeros_like(counts))
    w = per_cell[cells]
    norm = torch.linalg.vector_norm(w)
    return w / norm if norm > 0 else w


def present_cells(gramian: Tensor) -> Tensor:
    """Indices of the cells with a nonzero gradient (M_cc > 0): the players of a training-gradient bargain
    (a cell absent from the batch has no loss, hence no say)."""
    return torch.nonzero(torch.diagonal(gramian) > 0).flatten()


def expand_alpha(alpha_present: Tensor, present: Tensor, n_cells: int) -> Tensor:
    """Weights of all K cells from those of the present ones (absent cells get 0)."""
    alpha = torch.zeros(n_cells, dtype=alpha_present.dtype)
    alpha[present] = alpha_present
    return alpha
