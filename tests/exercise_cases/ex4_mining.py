"""Cases of the graded exercise ex4_mining: its functions (the promised
signatures) and typical mistakes, each with the test cells it must
fail (tests/test_exercises.py runs them in-process; the end-to-end
grading test grades one submission with a mistake per function)."""

FUNCTIONS = {
    'classify_triplets': 'd_ap, d_an, margin',
    'batch_hard_triplet_loss': 'D, labels, margin',
    'semi_hard_negatives': 'D, labels, margin',
}

# the semi-hard miner of the reference solution with one line changed
_SEMI = """
def semi_hard_negatives(D, labels, margin):
    D = np.asarray(D, dtype=float)
    labels = np.asarray(labels)
    same = labels[:, None] == labels[None, :]
    pos = {pos}
    neg = ~same
    a, p = np.nonzero(pos)
    d_ap = D[a, p][:, None]
    d_an = np.where(neg[a], D[a], np.inf)
    window = {window}
    semi = np.where(window, d_an, np.inf).argmin(1)
    hardest = d_an.argmin(1)
    n = {n}
    keep = {keep}
    return a[keep], p[keep], n[keep]
"""
_OK = dict(pos="same & ~np.eye(len(labels), dtype=bool)",
           window="(d_an >= d_ap) & (d_an < d_ap + margin)",
           n="np.where(window.any(1), semi, hardest)",
           keep="neg[a].any(1)")


def _semi(**change):
    return _SEMI.format(**{**_OK, **change})


_SEMI_TESTS = ['test_semi_hard_negatives',
               'test_semi_hard_negatives_boundaries',
               'test_semi_hard_negatives_fallback']

# label: ({solution cell id: replacement code}, {test cells that fail})
MISTAKES = {
    '> vs >= at a boundary': ({
        'classify_triplets': """
def classify_triplets(d_ap, d_an, margin):
    return np.where(d_an <= d_ap, "hard",
                    np.where(d_an <= d_ap + margin, "semi-hard", "easy"))""",
    }, ['test_classify_triplets_boundaries']),
    'anchor as its own positive': ({
        'batch_hard_triplet_loss': """
def batch_hard_triplet_loss(D, labels, margin):
    same = labels[:, None] == labels[None, :]
    d_ap = np.where(same, D, -np.inf).max(1)
    d_an = np.where(~same, D, np.inf).min(1)
    return float(np.maximum(d_ap - d_an + margin, 0)[(~same).any(1)].mean())
""",
    }, ['test_batch_hard_skips_anchors_without_positive']),
    'semi-hard: > instead of >= (a tie d_an = d_ap left out)': ({
        'semi_hard_negatives': _semi(
            window="(d_an > d_ap) & (d_an < d_ap + margin)"),
    }, ['test_semi_hard_negatives_boundaries']),
    'semi-hard: <= at the upper end (d_an = d_ap + m kept)': ({
        'semi_hard_negatives': _semi(
            window="(d_an >= d_ap) & (d_an <= d_ap + margin)"),
    }, ['test_semi_hard_negatives_boundaries']),
    'semi-hard: anchor as its own positive': ({
        'semi_hard_negatives': _semi(pos="same"),
    }, ['test_semi_hard_negatives']),
    'semi-hard: no fallback (argmin of an empty window)': ({
        'semi_hard_negatives': _semi(n="semi"),
    }, _SEMI_TESTS),
    'semi-hard: pairs without a semi-hard negative dropped': ({
        'semi_hard_negatives': _semi(keep="window.any(1)"),
    }, _SEMI_TESTS),
    'semi-hard: fallback to the farthest negative': ({
        'semi_hard_negatives': _semi(
            n="np.where(window.any(1), semi, "
              "np.where(neg[a], D[a], -np.inf).argmax(1))"),
    }, _SEMI_TESTS),
    'semi-hard: a loop over the positive pairs': ({
        'semi_hard_negatives': """
def semi_hard_negatives(D, labels, margin):
    D = np.asarray(D, dtype=float)
    labels = np.asarray(labels)
    out = []
    for a in range(len(labels)):
        neg = labels != labels[a]
        if not neg.any():
            continue
        for p in range(len(labels)):
            if p == a or labels[p] != labels[a]:
                continue
            d = np.where(neg, D[a], np.inf)
            window = (d >= D[a, p]) & (d < D[a, p] + margin)
            n = (np.where(window, d, np.inf).argmin() if window.any()
                 else d.argmin())
            out.append((a, p, n))
    a, p, n = (np.array(t, dtype=int) for t in zip(*out))
    return a, p, n
""",
    }, ['test_semi_hard_negatives_is_vectorised']),
}

# mistakes that only the records catch (the values are compared outside
# the kernel, with their shape, dtype and order; inputs after the call)
MISTAKES.update({
    'types as a column (the wrong shape)': ({
        'classify_triplets': """
def classify_triplets(d_ap, d_an, margin):
    d_ap = np.asarray(d_ap, dtype=float)[:, None]
    d_an = np.asarray(d_an, dtype=float)[:, None]
    return np.where(d_an < d_ap, "hard",
                    np.where(d_an < d_ap + margin, "semi-hard", "easy"))""",
    }, ['test_classify_triplets', 'test_classify_triplets_boundaries']),
    'batch-hard: the caller\'s D changed in place': ({
        'batch_hard_triplet_loss': """
def batch_hard_triplet_loss(D, labels, margin):
    labels = np.asarray(labels)
    same = labels[:, None] == labels[None, :]
    np.fill_diagonal(D, -np.inf)        # in place: the caller's D
    d_ap = np.where(same, D, -np.inf).max(1)
    d_an = np.where(~same, D, np.inf).min(1)
    valid = np.isfinite(d_ap) & np.isfinite(d_an)
    return float(np.maximum(d_ap - d_an + margin, 0.0)[valid].mean())
""",
    }, ['test_batch_hard_triplet_loss']),
    'batch-hard: the loss as a (1,) array': ({
        'batch_hard_triplet_loss': """
def batch_hard_triplet_loss(D, labels, margin):
    D = np.asarray(D, dtype=float)
    labels = np.asarray(labels)
    same = labels[:, None] == labels[None, :]
    pos = same & ~np.eye(len(labels), dtype=bool)
    d_ap = np.where(pos, D, -np.inf).max(1)
    d_an = np.where(~same, D, np.inf).min(1)
    valid = pos.any(1) & (~same).any(1)
    return np.maximum(d_ap - d_an + margin, 0.0)[valid].mean(keepdims=True)
""",
    }, ['test_batch_hard_triplet_loss',
        'test_batch_hard_skips_anchors_without_positive']),
    'semi-hard: pairs sorted by p, then a': ({
        # a permutation as the kept index (every test batch has negatives)
        'semi_hard_negatives': _semi(keep="np.lexsort((a, p))"),
    }, ['test_semi_hard_negatives']),
    'semi-hard: a and p as float arrays': ({
        'semi_hard_negatives': _semi().replace(
            "return a[keep], p[keep], n[keep]",
            "return a[keep] * 1.0, p[keep] * 1.0, n[keep]"),
        # the fallback test indexes the labels with a (as its visible test)
    }, ['test_semi_hard_negatives', 'test_semi_hard_negatives_fallback']),
    'semi-hard: the caller\'s D changed in place': ({
        'semi_hard_negatives': _semi().replace(
            "    labels = np.asarray(labels)\n",
            "    labels = np.asarray(labels)\n"
            "    np.fill_diagonal(D, np.inf)     # in place: the caller's D\n"),
    }, ['test_semi_hard_negatives']),
})
