"""Cases of the graded exercise ex2_linear: its functions (the promised
signatures) and typical mistakes, each with the test cells it must
fail (tests/test_exercises.py runs them in-process; the end-to-end
grading test grades one submission with a mistake per function)."""

FUNCTIONS = {
    'mahalanobis_distance': 'x, y, M',
    'lmnn_loss_grad': 'W, X, y, targets, mu=0.5, margin=1.0',
    'nca_probabilities': 'W, X',
}

# label: ({solution cell id: replacement code}, {test cells that fail})
MISTAKES = {
    'squared Mahalanobis': ({
        'mahalanobis_distance': """
def mahalanobis_distance(x, y, M):
    return float((x - y) @ M @ (x - y))""",
    }, ['test_mahalanobis_distance']),
    'hinge dropped': ({
        'lmnn_loss_grad': """
def lmnn_loss_grad(W, X, y, targets, mu=0.5, margin=1.0):
    Z = X @ W.T
    d2 = ((Z[:, None] - Z[None]) ** 2).sum(-1)
    loss = 0.0
    for i in range(len(X)):
        for j in targets[i]:
            loss += (1 - mu) * d2[i, j]
            for l in range(len(X)):
                if y[l] != y[i]:
                    loss += mu * (margin + d2[i, j] - d2[i, l])
    return loss, np.zeros_like(W)""",
    }, ['test_lmnn_gradient', 'test_lmnn_hinge', 'test_lmnn_loss']),
    'naive softmax': ({
        'nca_probabilities': """
def nca_probabilities(W, X):
    Z = X @ W.T
    E = np.exp(-((Z[:, None] - Z[None]) ** 2).sum(-1))
    np.fill_diagonal(E, 0.0)
    return E / E.sum(1, keepdims=True)""",
    }, ['test_nca_probabilities_stable']),
}
