"""Cases of the graded exercise ex5_multitask: its functions (the promised
signatures) and typical mistakes, each with the test cells it must
fail (tests/test_exercises.py runs them in-process; the end-to-end
grading test grades one submission with a mistake per function)."""

FUNCTIONS = {
    'multitask_loss': 'losses, weights',
    'weighted_gradient_norms': 'grads, weights',
    'dominant_by_gradient': 'grads, weights',
    'uncertainty_optimum': 'L, kind',
    'pcgrad': 'G1, G2',
}

# label: ({solution cell id: replacement code}, {test cells that fail})
MISTAKES = {
    'mutates its input': ({
        'multitask_loss': """
def multitask_loss(losses, weights):
    total = 0.0
    while weights:
        t, w = weights.popitem()
        total += w * losses[t]
    return total""",
    }, ['test_multitask_loss', 'test_multitask_loss_keeps_inputs']),
    'gradient norm without the weight': ({
        'weighted_gradient_norms': """
def weighted_gradient_norms(grads, weights):
    return {t: float(np.linalg.norm(np.ravel(grads[t]))) for t in weights}""",
    }, ['test_weighted_gradient_norms']),
    'squared norm instead of the norm': ({
        'weighted_gradient_norms': """
def weighted_gradient_norms(grads, weights):
    return {t: float(np.sum((weights[t] * np.ravel(grads[t])) ** 2))
            for t in weights}""",
    }, ['test_weighted_gradient_norms']),
    'dominant task ranked without the weights': ({
        'dominant_by_gradient': """
def dominant_by_gradient(grads, weights):
    return max(weights, key=lambda t: np.linalg.norm(np.ravel(grads[t])))""",
    }, ['test_dominant_by_gradient']),
    'dominant task ranked by the largest entry': ({
        'dominant_by_gradient': """
def dominant_by_gradient(grads, weights):
    return max(weights,
               key=lambda t: weights[t] * np.max(np.abs(grads[t])))""",
    }, ['test_dominant_by_gradient']),
    'regression optimum used for classification too': ({
        'uncertainty_optimum': """
def uncertainty_optimum(L, kind):
    return np.log(np.asarray(L, dtype=float))""",
    }, ['test_uncertainty_optimum']),
    'sign error in the optimum': ({
        'uncertainty_optimum': """
def uncertainty_optimum(L, kind):
    scale = 1.0 if kind == "regression" else 2.0
    return -np.log(scale * np.asarray(L, dtype=float))""",
    }, ['test_uncertainty_optimum']),
    'wrong sign in the projection': ({
        'pcgrad': """
def pcgrad(G1, G2):
    dot = np.sum(G1 * G2, axis=1, keepdims=True)
    sq = np.sum(G2 * G2, axis=1, keepdims=True)
    coef = np.where(dot < 0, dot / np.where(sq > 0, sq, 1.0), 0.0)
    return G1 + coef * G2""",
    }, ['test_pcgrad', 'test_pcgrad_is_vectorised']),
    'projects rows that do not conflict': ({
        'pcgrad': """
def pcgrad(G1, G2):
    dot = np.sum(G1 * G2, axis=1, keepdims=True)
    sq = np.sum(G2 * G2, axis=1, keepdims=True)
    return G1 - dot / np.where(sq > 0, sq, 1.0) * G2""",
    }, ['test_pcgrad']),
    'a loop over rows': ({
        'pcgrad': """
def pcgrad(G1, G2):
    out = G1.copy()
    for i in range(len(G1)):
        d = G1[i] @ G2[i]
        if d < 0:
            out[i] = G1[i] - d / (G2[i] @ G2[i]) * G2[i]
    return out""",
    }, ['test_pcgrad_is_vectorised']),
    # mutated inputs, a wrong type or shape: the records catch them
    'losses weighted in place': ({
        'multitask_loss': """
def multitask_loss(losses, weights):
    for t in weights:
        losses[t] = weights[t] * losses[t]
    return float(sum(losses[t] for t in weights))""",
    }, ['test_multitask_loss', 'test_multitask_loss_keeps_inputs']),
    'gradients scaled in place': ({
        'weighted_gradient_norms': """
def weighted_gradient_norms(grads, weights):
    out = {}
    for t, w in weights.items():
        g = grads[t]
        g *= abs(w)
        out[t] = float(np.linalg.norm(g))
    return out""",
    }, ['test_weighted_gradient_norms']),
    'dominant task as its position, not its name': ({
        'dominant_by_gradient': """
def dominant_by_gradient(grads, weights):
    names = list(weights)
    return int(np.argmax([abs(weights[t]) * np.linalg.norm(np.ravel(grads[t]))
                          for t in names]))""",
    }, ['test_dominant_by_gradient']),
    'PCGrad projects G1 in place': ({
        'pcgrad': """
def pcgrad(G1, G2):
    dot = np.sum(G1 * G2, axis=1, keepdims=True)
    sq = np.sum(G2 * G2, axis=1, keepdims=True)
    G1 -= np.where(dot < 0, dot / np.where(sq > 0, sq, 1.0), 0.0) * G2
    return G1""",
    }, ['test_pcgrad']),
    'PCGrad returns the rows flattened': ({
        'pcgrad': """
def pcgrad(G1, G2):
    dot = np.sum(G1 * G2, axis=1, keepdims=True)
    sq = np.sum(G2 * G2, axis=1, keepdims=True)
    coef = np.where(dot < 0, dot / np.where(sq > 0, sq, 1.0), 0.0)
    return (G1 - coef * G2).ravel()""",
    }, ['test_pcgrad', 'test_pcgrad_is_vectorised']),
}
