"""Cases of the graded exercise ex3_losses: its functions (the promised
signatures) and typical mistakes, each with the test cells it must
fail (tests/test_exercises.py runs them in-process; the end-to-end
grading test grades one submission with a mistake per function)."""

FUNCTIONS = {
    'contrastive_loss': 'd, same, margin=1.0',
    'triplet_loss': 'd_ap, d_an, margin=0.2',
    'npairs_loss': 'anchor, positive, negatives',
    'triplet_loss_grad': 'a, p, n, margin=0.2',
}

# label: ({solution cell id: replacement code}, {test cells that fail})
MISTAKES = {
    'hinge dropped': ({
        'contrastive_loss': """
def contrastive_loss(d, same, margin=1.0):
    s = np.asarray(same, dtype=float)
    return s * d ** 2 + (1 - s) * (margin - d) ** 2""",
    }, ['test_contrastive_hinge', 'test_contrastive_loss']),
    'squared distances': ({
        'triplet_loss': """
def triplet_loss(d_ap, d_an, margin=0.2):
    return np.maximum(np.square(d_ap) - np.square(d_an) + margin, 0.0)""",
    }, ['test_triplet_loss']),
    'naive log(sum(exp))': ({
        'npairs_loss': """
def npairs_loss(anchor, positive, negatives):
    s_p, s_n = anchor @ positive, negatives @ anchor
    return float(np.log(np.exp(s_p) + np.exp(s_n).sum()) - s_p)""",
    }, ['test_npairs_loss_stable']),
    'triplet gradient without the hinge': ({
        'triplet_loss_grad': """
def triplet_loss_grad(a, p, n, margin=0.2):
    u, v = a - p, a - n
    u = u / np.linalg.norm(u, axis=-1, keepdims=True)
    v = v / np.linalg.norm(v, axis=-1, keepdims=True)
    return u - v, -u, v""",
    }, ['test_triplet_loss_grad']),
    'triplet gradient of squared distances': ({
        'triplet_loss_grad': """
def triplet_loss_grad(a, p, n, margin=0.2):
    u, v = a - p, a - n
    on = ((u * u).sum(-1, keepdims=True) - (v * v).sum(-1, keepdims=True)
          + margin) > 0
    return on * (2 * u - 2 * v), on * (-2 * u), on * (2 * v)""",
    }, ['test_triplet_loss_grad']),
    'triplet gradient with the wrong sign on n': ({
        'triplet_loss_grad': """
def triplet_loss_grad(a, p, n, margin=0.2):
    u, v = a - p, a - n
    d_ap = np.linalg.norm(u, axis=-1, keepdims=True)
    d_an = np.linalg.norm(v, axis=-1, keepdims=True)
    on = (d_ap - d_an + margin) > 0
    return on * (u / d_ap - v / d_an), on * (-u / d_ap), on * (-v / d_an)""",
    }, ['test_triplet_loss_grad']),
    'triplet gradient in a loop over triplets': ({
        'triplet_loss_grad': """
def triplet_loss_grad(a, p, n, margin=0.2):
    shape = np.shape(a)
    a, p, n = [np.atleast_2d(np.asarray(x, dtype=float)) for x in (a, p, n)]
    g_a, g_p, g_n = np.zeros_like(a), np.zeros_like(p), np.zeros_like(n)
    for t in range(len(a)):
        d_ap = np.linalg.norm(a[t] - p[t])
        d_an = np.linalg.norm(a[t] - n[t])
        if d_ap - d_an + margin > 0:
            g_p[t] = (p[t] - a[t]) / d_ap
            g_n[t] = (a[t] - n[t]) / d_an
            g_a[t] = -g_p[t] - g_n[t]
    return g_a.reshape(shape), g_p.reshape(shape), g_n.reshape(shape)""",
    }, ['test_triplet_loss_grad_is_vectorised']),
    # caught only by the records of the hidden tests (the grader's verdict)
    'triplet gradients returned as a list': ({
        'triplet_loss_grad': """
def triplet_loss_grad(a, p, n, margin=0.2):
    u, v = a - p, a - n
    d_ap = np.linalg.norm(u, axis=-1, keepdims=True)
    d_an = np.linalg.norm(v, axis=-1, keepdims=True)
    on = (d_ap - d_an + margin) > 0
    return [on * (u / d_ap - v / d_an), on * (-u / d_ap), on * (v / d_an)]""",
    }, ['test_triplet_loss_grad']),
    'contrastive loss averaged over the pairs': ({
        'contrastive_loss': """
def contrastive_loss(d, same, margin=1.0):
    s = np.asarray(same, dtype=float)
    return np.mean(s * d ** 2 + (1 - s) * np.maximum(margin - d, 0) ** 2)""",
    }, ['test_contrastive_loss', 'test_contrastive_hinge']),
}
