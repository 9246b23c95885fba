"""Cases of the graded exercise ex1_distances: its functions (the promised
signatures) and typical mistakes, each with the test cells it must
fail (tests/test_exercises.py runs them in-process; the end-to-end
grading test grades one submission with a mistake per function)."""

FUNCTIONS = {
    'euclidean_distance': 'a, b',
    'cosine_distance': 'a, b',
    'pairwise_sq_euclidean': 'X, Y',
    'mahalanobis_pairwise': 'X, W',
}

# label: ({solution cell id: replacement code}, {test cells that fail})
MISTAKES = {
    'squared instead of plain distance': ({
        'euclidean_distance': """
def euclidean_distance(a, b):
    return float(((a - b) ** 2).sum())""",
    }, ['test_euclidean_distance']),
    'cosine similarity instead of distance': ({
        'cosine_distance': """
def cosine_distance(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))""",
    }, ['test_cosine_distance']),
    'plain instead of squared distances': ({
        'pairwise_sq_euclidean': """
def pairwise_sq_euclidean(X, Y):
    G = (X * X).sum(1)[:, None] + (Y * Y).sum(1)[None] - 2 * X @ Y.T
    return np.sqrt(np.maximum(G, 0))""",
    }, ['test_pairwise_sq_euclidean_values']),
    'a Python loop': ({
        'pairwise_sq_euclidean': """
def pairwise_sq_euclidean(X, Y):
    D = np.empty((len(X), len(Y)))
    for i in range(len(X)):
        D[i] = ((X[i] - Y) ** 2).sum(1)
    return D""",
    }, ['test_pairwise_sq_euclidean_is_vectorised']),
    'mutates its input': ({
        'pairwise_sq_euclidean': """
def pairwise_sq_euclidean(X, Y):
    x2, y2 = (X * X).sum(1)[:, None], (Y * Y).sum(1)[None]
    X *= -2.0
    return np.maximum(x2 + y2 + X @ Y.T, 0)""",
    }, ['test_pairwise_sq_euclidean_keeps_inputs',
        'test_pairwise_sq_euclidean_values']),
    'W instead of W^T (z = x W)': ({
        'mahalanobis_pairwise': """
def mahalanobis_pairwise(X, W):
    Z = X @ W
    s = (Z * Z).sum(1)
    return np.maximum(s[:, None] + s[None] - 2 * Z @ Z.T, 0)""",
    }, ['test_mahalanobis_pairwise_values']),
    'M = W W^T instead of W^T W': ({
        'mahalanobis_pairwise': """
def mahalanobis_pairwise(X, W):
    M = W @ W.T
    s = np.einsum('id,de,ie->i', X, M, X)
    return np.maximum(s[:, None] + s[None] - 2 * X @ M @ X.T, 0)""",
    }, ['test_mahalanobis_pairwise_values']),
    'plain Mahalanobis distances (square root)': ({
        'mahalanobis_pairwise': """
def mahalanobis_pairwise(X, W):
    Z = X @ W.T
    s = (Z * Z).sum(1)
    return np.sqrt(np.maximum(s[:, None] + s[None] - 2 * Z @ Z.T, 0))""",
    }, ['test_mahalanobis_pairwise_values']),
    'a loop over pairs in the Mahalanobis matrix': ({
        'mahalanobis_pairwise': """
def mahalanobis_pairwise(X, W):
    D = np.empty((len(X), len(X)))
    for i in range(len(X)):
        for j in range(len(X)):
            v = W @ (X[i] - X[j])
            D[i, j] = v @ v
    return D""",
    }, ['test_mahalanobis_pairwise_is_vectorised']),
    # caught only by the records of the hidden tests (the grader's verdict)
    'the distance as a (1,) array, not a number': ({
        'euclidean_distance': """
def euclidean_distance(a, b):
    return np.sqrt(np.sum((a - b) ** 2, keepdims=True))""",
    }, ['test_euclidean_distance']),
    'centres its inputs in place (right values)': ({
        'pairwise_sq_euclidean': """
def pairwise_sq_euclidean(X, Y):
    m = X.mean(0)
    X -= m
    Y -= m
    return np.maximum((X * X).sum(1)[:, None] + (Y * Y).sum(1)[None]
                      - 2 * X @ Y.T, 0)""",
    }, ['test_pairwise_sq_euclidean_keeps_inputs']),
    'no clamp at 0 (round-off gives tiny negative squared distances)': ({
        'pairwise_sq_euclidean': """
def pairwise_sq_euclidean(X, Y):
    return (X * X).sum(1)[:, None] + (Y * Y).sum(1)[None] - 2 * X @ Y.T""",
    }, ['test_pairwise_sq_euclidean_values']),
    'Mahalanobis without the clamp at 0': ({
        'mahalanobis_pairwise': """
def mahalanobis_pairwise(X, W):
    Z = X @ W.T
    s = (Z * Z).sum(1)
    return s[:, None] + s[None] - 2 * Z @ Z.T""",
    }, ['test_mahalanobis_pairwise_values']),
}
