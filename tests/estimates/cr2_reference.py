"""A dense, direct CR2 / Bell-McCaffrey computation, the reference for the fast one.

It forms the whole n x n hat matrix and each researcher's (I - H_gg)^(-1/2) by an eigen
decomposition, exactly as the formulas are written (Pustejovsky and Tipton 2018, with the
working model of independent errors of equal variance), so it is only for small test data.
"""

import math

import numpy as np


def dense_cr2(y, exog, clusters, coef: int) -> tuple[float, float, float]:
    """(beta, CR2 se, Bell-McCaffrey df) of column `coef` of the OLS of y on `exog`."""
    x = np.asarray(exog, dtype=float)
    y = np.asarray(y, dtype=float)
    n = x.shape[0]
    m = np.linalg.pinv(x.T @ x)
    beta = m @ x.T @ y
    resid = y - x @ beta
    residual_maker = np.eye(n) - x @ m @ x.T
    c = np.zeros(x.shape[1])
    c[coef] = 1.0
    variance = 0.0
    columns = []
    clusters = np.asarray(clusters)
    for label in np.unique(clusters):
        rows = np.flatnonzero(clusters == label)
        values, vectors = np.linalg.eigh(residual_maker[np.ix_(rows, rows)])
        keep = values > 1e-12
        root_inv = (vectors * np.where(keep, 1 / np.sqrt(np.where(keep, values, 1)), 0)) @ vectors.T
        p = root_inv @ x[rows] @ m @ c
        variance += float(p @ resid[rows]) ** 2
        columns.append(residual_maker[rows, :].T @ p)
    g = np.column_stack(columns)
    gtg = g.T @ g
    df = float(np.trace(gtg) ** 2 / np.sum(gtg * gtg))
    return float(beta[coef]), math.sqrt(variance), df


def researcher_dummies(clusters) -> np.ndarray:
    codes = np.unique(np.asarray(clusters), return_inverse=True)[1].ravel()
    return np.eye(codes.max() + 1)[codes]
