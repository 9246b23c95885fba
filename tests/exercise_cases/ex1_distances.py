"""Cases of the graded exercise ex1_distances: its functions (the promised
signatures) and typical mistakes, each with the test cells it must
fail (tests/test_exercises.py runs them in-process; the end-to-end
grading test grades one submission with a mistake per function)."""

FUNCTIONS = {
    'euclidean_distance': 'a, b',
    'cosine_distance': 'a, b',
    'pairwise_sq_euclidean': 'X, Y',
}

# label: ({solution cell id: replacement code}, {test cells that fail})
MISTAKES = {
    'squared instead of plain distance': ({
        'euclidean_distance': """
def euclidean_distance(a, b):
    return float(((a - b) ** 2).sum())""",
    }, ['test_euclidean_distance']),
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
    }, ['test_pairwise_sq_euclidean_keeps_inputs', 'test_pairwise_sq_euclidean_values']),
}
