"""Cases of the graded exercise ex3_losses: its functions (the promised
signatures) and typical mistakes, each with the test cells it must
fail (tests/test_exercises.py runs them in-process; the end-to-end
grading test grades one submission with a mistake per function)."""

FUNCTIONS = {
    'contrastive_loss': 'd, same, margin=1.0',
    'triplet_loss': 'd_ap, d_an, margin=0.2',
    'npairs_loss': 'anchor, positive, negatives',
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
}
