"""LogisticRegression's objectives, as scikit-learn's lbfgs solver minimises them (binary, and multinomial
for three classes or more), with their gradients; a fit starts from the nearest solution already found.
The fast CV (``fast_cv``) fits one per candidate and fold."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from ml_pipeline.training.model import MAX_ITER

LBFGS_TOL = 1e-4  # LogisticRegression's default tol


def objective_for(features: np.ndarray, labels: np.ndarray, classes: int):
    """LogisticRegression's objective for these rows: binary for two classes, else multinomial."""
    return (
        LogisticObjective(features, labels)
        if classes == 2
        else MultinomialObjective(features, labels, classes)
    )


class LogisticObjective:
    """LogisticRegression's L2-penalised objective and its gradient, for one design matrix.

    Reuses its row-sized work arrays across evaluations: an L-BFGS fit evaluates it dozens of times.
    """

    def __init__(self, features: np.ndarray, labels: np.ndarray):
        self.features, self.target = features, labels.astype(np.float64)
        self.raw, self.work, self.spare = (np.empty(len(labels)) for _ in range(3))
        self.l2 = 0.0
        self.last_point, self.last_data_gradient = None, None

    def widen(self, solution: np.ndarray | None) -> np.ndarray:
        """A start for this many components from a solution with one fewer: a zero weight added."""
        size = self.features.shape[1] + 1
        if solution is None:
            return np.zeros(size)
        return np.insert(solution, -1, np.zeros(size - len(solution)))

    def predict(self, features: np.ndarray, solution: np.ndarray) -> np.ndarray:
        return (features @ solution[:-1] + solution[-1] > 0).astype(np.int8)

    def decision(self, features: np.ndarray, solution: np.ndarray) -> np.ndarray:
        return features @ solution[:-1] + solution[-1]

    def __call__(self, parameters: np.ndarray) -> tuple[float, np.ndarray]:
        rows = len(self.target)
        weights, intercept = parameters[:-1], parameters[-1]
        raw, work, spare = self.raw, self.work, self.spare
        np.matmul(self.features, weights, out=raw)
        raw += intercept
        # log(1 + e^z) as max(z, 0) + log1p(e^-|z|), NumPy's own logaddexp(0, z) written in its
        # vectorised exp and log1p: logaddexp and expit, element by element, cost 8 times the matmuls.
        np.exp(np.negative(np.abs(raw, out=work), out=work), out=work)
        softplus = np.maximum(raw, 0.0, out=spare).sum() + np.log1p(work, out=work).sum()
        loss = softplus / rows - self.target @ raw / rows
        with np.errstate(over="ignore"):  # e^-z = inf far below 0: 1 / (1 + inf) = 0, expit's answer
            sigmoid = np.reciprocal(
                np.add(np.exp(np.negative(raw, out=work), out=work), 1.0, out=work), out=work
            )
        residual = np.subtract(sigmoid, self.target, out=work)
        gradient = np.empty_like(parameters)
        gradient[:-1] = np.dot(self.features.T, residual) / rows  # matmul would hold the GIL
        gradient[-1] = residual.mean()
        self.last_point, self.last_data_gradient = parameters.copy(), gradient.copy()
        gradient[:-1] += self.l2 * weights
        return loss + 0.5 * self.l2 * (weights @ weights), gradient

    def minimise(self, C: float, start: np.ndarray) -> np.ndarray:
        """Weights and intercept at the optimum for C, with LogisticRegression's L-BFGS settings."""
        self.l2 = 1.0 / (C * len(self.features))
        if self._converged_at(start):
            return start
        return minimize(
            self,
            start,
            method="L-BFGS-B",
            jac=True,
            options={"maxiter": MAX_ITER, "maxls": 50, "gtol": LBFGS_TOL, "ftol": 64 * np.finfo(float).eps},
        ).x

    def _converged_at(self, point: np.ndarray) -> bool:
        """L-BFGS-B's own first test, answered without evaluating the objective again.

        Along the C path, a start is often the previous C's optimum: the loss part of its gradient is
        known, only the penalty changed. When the gradient is already within tolerance there,
        L-BFGS-B would stop at its first evaluation; this returns the same answer without it.
        """
        if self.last_point is None or not np.array_equal(point, self.last_point):
            return False
        gradient = self.last_data_gradient.copy()
        gradient[:-1] += self.l2 * point[:-1]
        return float(np.max(np.abs(gradient))) <= LBFGS_TOL


class MultinomialObjective(LogisticObjective):
    """LogisticRegression's multinomial objective (three classes or more): one weight vector and one
    intercept per class, the softmax cross-entropy, and the L2 penalty on the weights.

    Parameters are flattened from a (components + 1) x classes array whose last row is the intercepts.
    The row-sized work is laid out class by class (classes x rows): the softmax's max and sum over
    classes are then sums of whole rows, not reductions along a short axis.
    """

    def __init__(self, features: np.ndarray, labels: np.ndarray, classes: int):
        rows = len(labels)
        self.features, self.classes = features, classes
        self.columns = features.T  # contiguous rows when the projection is column-major
        self.target = np.zeros((classes, rows))
        self.target[labels, np.arange(rows)] = 1.0
        self.raw = np.empty((classes, rows))
        self.largest, self.total = np.empty(rows), np.empty(rows)
        self.l2 = 0.0
        self.last_point, self.last_data_gradient = None, None

    def _shaped(self, parameters: np.ndarray) -> np.ndarray:
        return parameters.reshape(self.features.shape[1] + 1, self.classes)

    def __call__(self, parameters: np.ndarray) -> tuple[float, np.ndarray]:
        rows = self.raw.shape[1]
        shaped = self._shaped(parameters)
        weights = shaped[:-1]
        raw = np.dot(weights.T, self.columns, out=self.raw)
        raw += shaped[-1][:, None]
        chosen = float(np.vdot(self.target, raw))  # each row's raw score for its own class, summed
        largest = np.max(raw, axis=0, out=self.largest)
        raw -= largest
        np.exp(raw, out=raw)
        total = np.sum(raw, axis=0, out=self.total)
        loss = (largest.sum() + np.log(total, out=largest).sum() - chosen) / rows
        raw /= total  # the class probabilities
        raw -= self.target
        gradient = np.empty_like(shaped)
        gradient[:-1] = np.dot(self.columns, raw.T) / rows
        gradient[-1] = raw.sum(axis=1) / rows
        self.last_point, self.last_data_gradient = parameters.copy(), gradient.ravel().copy()
        gradient[:-1] += self.l2 * weights
        return loss + 0.5 * self.l2 * float((weights * weights).sum()), gradient.ravel()

    def widen(self, solution: np.ndarray | None) -> np.ndarray:
        size = self.features.shape[1] + 1
        if solution is None:
            return np.zeros(size * self.classes)
        shaped = solution.reshape(-1, self.classes)
        return np.insert(shaped, -1, np.zeros((size - len(shaped), self.classes)), axis=0).ravel()

    def predict(self, features: np.ndarray, solution: np.ndarray) -> np.ndarray:
        return self.decision(features, solution).argmax(axis=1).astype(np.int8)

    def decision(self, features: np.ndarray, solution: np.ndarray) -> np.ndarray:
        shaped = self._shaped(solution)
        return features @ shaped[:-1] + shaped[-1]

    def _converged_at(self, point: np.ndarray) -> bool:
        if self.last_point is None or not np.array_equal(point, self.last_point):
            return False
        gradient = self._shaped(self.last_data_gradient.copy())
        gradient[:-1] += self.l2 * self._shaped(point)[:-1]
        return float(np.max(np.abs(gradient))) <= LBFGS_TOL
