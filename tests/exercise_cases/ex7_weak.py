"""Cases of the graded exercise ex7_weak: its functions (the promised
signatures) and typical mistakes, each with the test cells it must
fail (tests/test_exercises.py runs them in-process; the end-to-end
grading test grades one submission with a mistake per function)."""

FUNCTIONS = {
    'uniformity_penalty': 'logits, C',
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
    'point counted as its own neighbour': ({
        'neighborhood_purity': """
def neighborhood_purity(X, y, k):
    D = ((X[:, None] - X[None]) ** 2).sum(-1)
    nearest = np.argsort(D, axis=1, kind="stable")[:, :k]
    return float((y[nearest] == y[:, None]).mean())""",
    }, ['test_neighborhood_purity', 'test_neighborhood_purity_leaves_point_out']),
}
