"""Cases of the graded exercise ex7_weak: its functions (the promised
signatures) and typical mistakes, each with the test cells it must
fail (tests/test_exercises.py runs them in-process; the end-to-end
grading test grades one submission with a mistake per function)."""

FUNCTIONS = {
    'uniformity_penalty': 'logits, C',
    'uniformity_penalty_grad': 'logits, C',
    'neighborhood_purity': 'X, y, k',
}

# label: ({solution cell id: replacement code}, {test cells that fail})
MISTAKES = {
    'naive softmax': ({
        'uniformity_penalty': """
def uniformity_penalty(logits, C):
    P = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    p = P.mean(0)
    return float(np.sum(p * np.log(C * p)))""",
    }, ['test_uniformity_penalty_stable']),
    'KL the wrong way round (uniform || p_bar)': ({
        'uniformity_penalty': """
def uniformity_penalty(logits, C):
    Z = np.asarray(logits, dtype=float)
    Z = Z - Z.max(1, keepdims=True)
    P = np.exp(Z) / np.exp(Z).sum(1, keepdims=True)
    p = P.mean(0)
    with np.errstate(divide="ignore"):
        return float(np.sum(-np.log(C * p)) / C)""",
    }, ['test_uniformity_penalty', 'test_uniformity_penalty_stable']),
    'gradient summed over the batch (no 1/N)': ({
        'uniformity_penalty_grad': """
def uniformity_penalty_grad(logits, C):
    Z = np.asarray(logits, dtype=float)
    Z = Z - Z.max(1, keepdims=True)
    S = np.exp(Z) / np.exp(Z).sum(1, keepdims=True)
    p_bar = S.mean(0)
    ell = np.where(p_bar > 0, np.log(np.where(p_bar > 0, p_bar, 1) * C), 0)
    return S * (ell - (S * ell).sum(1, keepdims=True))""",
    }, ['test_uniformity_penalty_grad',
        'test_uniformity_penalty_grad_stable']),
    'gradient without the off-diagonal softmax Jacobian': ({
        'uniformity_penalty_grad': """
def uniformity_penalty_grad(logits, C):
    Z = np.asarray(logits, dtype=float)
    Z = Z - Z.max(1, keepdims=True)
    S = np.exp(Z) / np.exp(Z).sum(1, keepdims=True)
    p_bar = S.mean(0)
    ell = np.where(p_bar > 0, np.log(np.where(p_bar > 0, p_bar, 1) * C), 0)
    return S * (ell + 1) / len(S)""",
    }, ['test_uniformity_penalty_grad',
        'test_uniformity_penalty_grad_stable']),
    'gradient takes the log of p_bar = 0': ({
        'uniformity_penalty_grad': """
def uniformity_penalty_grad(logits, C):
    Z = np.asarray(logits, dtype=float)
    Z = Z - Z.max(1, keepdims=True)
    S = np.exp(Z) / np.exp(Z).sum(1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        ell = np.log(C * S.mean(0))
        return S * (ell - (S * ell).sum(1, keepdims=True)) / len(S)""",
    }, ['test_uniformity_penalty_grad_stable']),
    'gradient with a loop over samples': ({
        'uniformity_penalty_grad': """
def uniformity_penalty_grad(logits, C):
    Z = np.asarray(logits, dtype=float)
    Z = Z - Z.max(1, keepdims=True)
    S = np.exp(Z) / np.exp(Z).sum(1, keepdims=True)
    p_bar = S.mean(0)
    ell = np.where(p_bar > 0, np.log(np.where(p_bar > 0, p_bar, 1) * C), 0)
    G = np.zeros_like(S)
    for n in range(len(S)):
        G[n] = S[n] * (ell - S[n] @ ell) / len(S)
    return G""",
    }, ['test_uniformity_penalty_grad']),
    'point counted as its own neighbour': ({
        'neighborhood_purity': """
def neighborhood_purity(X, y, k):
    D = ((X[:, None] - X[None]) ** 2).sum(-1)
    nearest = np.argsort(D, axis=1, kind="stable")[:, :k]
    return float((y[nearest] == y[:, None]).mean())""",
    }, ['test_neighborhood_purity', 'test_neighborhood_purity_leaves_point_out']),
    'purity with a loop over points': ({
        'neighborhood_purity': """
def neighborhood_purity(X, y, k):
    X, y = np.asarray(X, dtype=float), np.asarray(y)
    D = ((X[:, None] - X[None]) ** 2).sum(-1)
    np.fill_diagonal(D, np.inf)
    total = 0.0
    for i in range(len(X)):
        nearest = np.argsort(D[i], kind="stable")[:k]
        total += np.mean(y[nearest] == y[i])
    return total / len(X)""",
    }, ['test_neighborhood_purity']),
    # caught only by the records of the hidden tests (the grader's verdict)
    'penalty as a (1,) array, not a number': ({
        'uniformity_penalty': """
def uniformity_penalty(logits, C):
    Z = np.asarray(logits, dtype=float)
    Z = Z - Z.max(1, keepdims=True)
    P = np.exp(Z) / np.exp(Z).sum(1, keepdims=True)
    p = P.mean(0)
    t = np.where(p > 0, p * np.log(np.where(p > 0, p, 1) * C), 0.0)
    return np.sum(t, keepdims=True)""",
    }, ['test_uniformity_penalty', 'test_uniformity_penalty_stable']),
    'gradient as a (C, N) array': ({
        'uniformity_penalty_grad': """
def uniformity_penalty_grad(logits, C):
    Z = np.asarray(logits, dtype=float)
    Z = Z - Z.max(1, keepdims=True)
    S = np.exp(Z) / np.exp(Z).sum(1, keepdims=True)
    p_bar = S.mean(0)
    ell = np.where(p_bar > 0, np.log(np.where(p_bar > 0, p_bar, 1) * C), 0)
    return (S * (ell - (S * ell).sum(1, keepdims=True)) / len(S)).T""",
    }, ['test_uniformity_penalty_grad',
        'test_uniformity_penalty_grad_stable']),
    'purity per point, not averaged': ({
        'neighborhood_purity': """
def neighborhood_purity(X, y, k):
    X, y = np.asarray(X, dtype=float), np.asarray(y)
    D = ((X[:, None] - X[None]) ** 2).sum(-1)
    np.fill_diagonal(D, np.inf)
    nearest = np.argsort(D, axis=1, kind="stable")[:, :k]
    return (y[nearest] == y[:, None]).mean(1)""",
    }, ['test_neighborhood_purity',
        'test_neighborhood_purity_leaves_point_out']),
}
