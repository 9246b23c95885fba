"""Cases of the graded exercise ex2_linear: its functions (the promised
signatures) and typical mistakes, each with the test cells it must
fail (tests/test_exercises.py runs them in-process; the end-to-end
grading test grades one submission with a mistake per function)."""

FUNCTIONS = {
    'mahalanobis_distance': 'x, y, M',
    'lmnn_loss_grad': 'W, X, y, targets, mu=0.5, margin=1.0',
    'nca_probabilities': 'W, X',
    'nca_gradient': 'W, X, y',
}

# The chapter's loop version of the LMNN loss and gradient: right values,
# but not vectorised.
_LMNN_LOOPS = """
def lmnn_loss_grad(W, X, y, targets, mu=0.5, margin=1.0):
    Z = X @ W.T
    loss, grad = 0.0, np.zeros_like(W)
    for i in range(len(X)):
        for j in targets[i]:
            d_ij2 = np.sum((Z[i] - Z[j]) ** 2)
            g_ij = 2 * np.outer(Z[i] - Z[j], X[i] - X[j])
            loss += (1 - mu) * d_ij2
            grad += (1 - mu) * g_ij
            for l in np.flatnonzero(y != y[i]):
                d_il2 = np.sum((Z[i] - Z[l]) ** 2)
                hinge = margin + d_ij2 - d_il2
                if hinge > 0:
                    loss += mu * hinge
                    grad += mu * (g_ij - 2 * np.outer(Z[i] - Z[l],
                                                      X[i] - X[l]))
    return loss, grad"""

# The reference vectorised solution with one change marked by {change}.
_LMNN_VECTOR = """
def lmnn_loss_grad(W, X, y, targets, mu=0.5, margin=1.0):
    N, k = targets.shape
    Z = X @ W.T
    d2 = ((Z[:, None, :] - Z[None, :, :]) ** 2).sum(-1)
    rows = np.repeat(np.arange(N), k)
    cols = targets.ravel()
    d_ij2 = d2[rows, cols]
    impostor = {impostor}
    h = margin + d_ij2[:, None] - d2[rows]
    active = (h > 0) & impostor
    loss = (1 - mu) * d_ij2.sum() + mu * (h * active).sum()
    A = np.zeros((N, N))
    np.add.at(A, (rows, cols), (1 - mu) + mu * active.sum(1))
    np.add.at(A, rows, -mu * active)
    S = A + A.T
    G_Z = {factor} * (np.diag(S.sum(1)) - S) @ Z
    return float(loss), G_Z.T @ X"""

_NCA_GRADIENT = """
def nca_gradient(W, X, y):
    P = nca_probabilities(W, X)
    same = y[:, None] == y[None, :]
    p = (P * same).sum(1)
    A = P * (same - p[:, None])
    S = A + A.T
    G_Z = 2 * (np.diag(S.sum(1)) - S) @ (X @ W.T)
    return {sign}G_Z.T @ X"""

# The reference solution with the first line of its body ({pre}) and its
# return value ({ret}) replaced.
_LMNN_EDIT = """
def lmnn_loss_grad(W, X, y, targets, mu=0.5, margin=1.0):
    {pre}N, k = targets.shape
    Z = X @ W.T
    d2 = ((Z[:, None, :] - Z[None, :, :]) ** 2).sum(-1)
    rows = np.repeat(np.arange(N), k)
    cols = targets.ravel()
    d_ij2 = d2[rows, cols]
    impostor = y[rows][:, None] != y[None, :]
    h = margin + d_ij2[:, None] - d2[rows]
    active = (h > 0) & impostor
    loss = (1 - mu) * d_ij2.sum() + mu * (h * active).sum()
    A = np.zeros((N, N))
    np.add.at(A, (rows, cols), (1 - mu) + mu * active.sum(1))
    np.add.at(A, rows, -mu * active)
    S = A + A.T
    G_Z = 2 * (np.diag(S.sum(1)) - S) @ Z
    return float(loss), {ret}"""

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
    same = y[:, None] == y[None]
    d_ij2 = np.take_along_axis(d2, targets, 1)
    push = (margin + d_ij2[:, :, None] - d2[:, None, :]) * ~same[:, None, :]
    loss = (1 - mu) * d_ij2.sum() + mu * push.sum()
    return float(loss), np.zeros_like(W)""",
    }, ['test_lmnn_gradient', 'test_lmnn_hinge', 'test_lmnn_loss',
        'test_lmnn_no_loops']),
    'the chapter loop, not vectorised': ({
        'lmnn_loss_grad': _LMNN_LOOPS,
    }, ['test_lmnn_no_loops']),
    'gradient without the factor 2': ({
        'lmnn_loss_grad': _LMNN_VECTOR.format(
            impostor="y[rows][:, None] != y[None, :]", factor="1"),
    }, ['test_lmnn_gradient', 'test_lmnn_no_loops']),
    'same-class points counted as impostors': ({
        'lmnn_loss_grad': _LMNN_VECTOR.format(
            impostor="np.arange(N)[None, :] != rows[:, None]", factor="2"),
    }, ['test_lmnn_gradient', 'test_lmnn_hinge', 'test_lmnn_loss',
        'test_lmnn_no_loops']),
    'naive softmax': ({
        'nca_probabilities': """
def nca_probabilities(W, X):
    Z = X @ W.T
    E = np.exp(-((Z[:, None] - Z[None]) ** 2).sum(-1))
    np.fill_diagonal(E, 0.0)
    return E / E.sum(1, keepdims=True)""",
    }, ['test_nca_probabilities_stable']),
    'NCA gradient of f, not of the loss -f': ({
        'nca_gradient': _NCA_GRADIENT.format(sign="-"),
    }, ['test_nca_gradient']),
    'NCA gradient with a loop over anchors': ({
        'nca_gradient': """
def nca_gradient(W, X, y):
    P = nca_probabilities(W, X)
    B = np.zeros((X.shape[1], X.shape[1]))
    for i in range(len(X)):
        X_i = X[i] - X
        same = y == y[i]
        p_i = P[i, same].sum()
        B += p_i * (P[i, :, None] * X_i).T @ X_i
        B -= (P[i, same, None] * X_i[same]).T @ X_i[same]
    return -2 * W @ B""",
    }, ['test_nca_gradient_no_loops']),
    # right values, wrong shape or arguments: the records catch them
    # (values are recorded with their shapes)
    'distance as a 1-element array': ({
        'mahalanobis_distance': """
def mahalanobis_distance(x, y, M):
    diff = np.asarray(x, dtype=float) - np.asarray(y, dtype=float)
    return np.sqrt(np.atleast_1d(diff @ M @ diff))""",
    }, ['test_mahalanobis_distance']),
    'LMNN gradient transposed, (D, L)': ({
        'lmnn_loss_grad': _LMNN_EDIT.format(pre="", ret="X.T @ G_Z"),
    }, ['test_lmnn_gradient', 'test_lmnn_no_loops']),
    'mu and margin arguments ignored': ({
        'lmnn_loss_grad': _LMNN_EDIT.format(
            pre="mu, margin = 0.5, 1.0\n    ", ret="G_Z.T @ X"),
    }, ['test_lmnn_loss', 'test_lmnn_no_loops']),
    'NCA probabilities with p_ii kept': ({
        'nca_probabilities': """
def nca_probabilities(W, X):
    Z = X @ W.T
    logits = -((Z[:, None] - Z[None]) ** 2).sum(-1)
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)""",
    }, ['test_nca_probabilities', 'test_nca_probabilities_stable',
        'test_nca_gradient']),
    'NCA gradient transposed, (D, L)': ({
        'nca_gradient': _NCA_GRADIENT.replace("G_Z.T @ X", "X.T @ G_Z").format(
            sign=""),
    }, ['test_nca_gradient', 'test_nca_gradient_no_loops']),
}
