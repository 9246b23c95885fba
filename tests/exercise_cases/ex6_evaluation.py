"""Cases of the graded exercise ex6_evaluation: its functions (the promised
signatures) and typical mistakes, each with the test cells it must
fail (tests/test_exercises.py runs them in-process; the end-to-end
grading test grades one submission with a mistake per function)."""

FUNCTIONS = {
    'tpr_fpr': 'tp, fp, tn, fn',
    'roc_points': 'scores, same',
    'tpr_at_fpr': 'scores, same, target_fpr',
    'recall_at_k': 'D, labels, k',
}

# label: ({solution cell id: replacement code}, {test cells that fail})
MISTAKES = {
    '< instead of <=': ({
        'tpr_at_fpr': """
def tpr_at_fpr(scores, same, target_fpr):
    fpr, tpr = roc_points(scores, same)
    return float(tpr[fpr < target_fpr].max())""",
    }, ['test_tpr_at_fpr', 'test_tpr_at_fpr_boundary']),
    'query counted as its own neighbour': ({
        'recall_at_k': """
def recall_at_k(D, labels, k):
    nearest = np.argsort(D, axis=1, kind="stable")[:, :k]
    return float((labels[nearest] == labels[:, None]).any(1).mean())""",
    }, ['test_recall_at_k', 'test_recall_at_k_leaves_query_out']),
}
