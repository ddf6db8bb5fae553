"""A small logistic-regression head fitted on a theme's own example sentences.

Prototype similarity alone knows only "which written sentence is nearest". The head learns
which *directions* of the embedding separate a theme from its near misses, from the same
sentences, so it generalises past the exact wording of the examples. It is fitted in a few
milliseconds when the themes are loaded; nothing is trained on analyst data.
"""

from __future__ import annotations

import numpy as np

__all__ = ["LogisticHead", "fit_logistic"]


class LogisticHead:
    """``logit(x) = x · w + b`` for rows of ``x``."""

    def __init__(self, weights: np.ndarray, bias: float):
        self.weights = weights.astype(np.float32)
        self.bias = float(bias)

    def logits(self, x: np.ndarray) -> np.ndarray:
        return x @ self.weights + self.bias


def fit_logistic(
    x: np.ndarray, y: np.ndarray, *, l2: float = 1e-3, max_iter: int = 100, tol: float = 1e-8
) -> LogisticHead:
    """Fit an L2-regularised, class-balanced logistic regression by Newton's method.

    Class-balanced because a theme has tens of examples against hundreds of negatives, and
    the head should not learn "almost nothing matches" from that ratio alone. The problem is
    strictly convex (the penalty covers the weights), so Newton converges in a few steps and
    the result is deterministic: the same sentences always give the same head.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n, d = x.shape
    pos = y.sum()
    if pos == 0 or pos == n:
        raise ValueError("need both positive and negative sentences to fit a head")
    sample_w = np.where(y > 0, n / (2 * pos), n / (2 * (n - pos))) / n
    xb = np.hstack([x, np.ones((n, 1))])
    penalty = np.full(d + 1, 2 * l2)
    penalty[-1] = 0.0  # the bias is not shrunk
    theta = np.zeros(d + 1)
    for _ in range(max_iter):
        z = xb @ theta
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
        grad = xb.T @ (sample_w * (p - y)) + penalty * theta
        hess = (xb * (sample_w * p * (1 - p))[:, None]).T @ xb + np.diag(penalty + 1e-12)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if float(np.abs(step).max()) < tol:
            break
    return LogisticHead(theta[:-1], float(theta[-1]))
