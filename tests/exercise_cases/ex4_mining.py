"""Cases of the graded exercise ex4_mining: its functions (the promised
signatures) and typical mistakes, each with the test cells it must
fail (tests/test_exercises.py runs them in-process; the end-to-end
grading test grades one submission with a mistake per function)."""

FUNCTIONS = {
    'classify_triplets': 'd_ap, d_an, margin',
    'batch_hard_triplet_loss': 'D, labels, margin',
}

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
}
