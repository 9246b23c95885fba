"""Cases of the graded exercise ex6_evaluation: its functions (the promised
signatures) and typical mistakes, each with the test cells it must
fail (tests/test_exercises.py runs them in-process; the end-to-end
grading test grades one submission with a mistake per function)."""

FUNCTIONS = {
    'tpr_fpr': 'tp, fp, tn, fn',
    'roc_points': 'scores, same',
    'tpr_at_fpr': 'scores, same, target_fpr',
    'recall_at_k': 'D, labels, k',
    'map_at_r': 'D, labels',
}

# label: ({solution cell id: replacement code}, {test cells that fail})
MISTAKES = {
    'FPR divided by the accepted pairs (FP + TP)': ({
        'tpr_fpr': """
def tpr_fpr(tp, fp, tn, fn):
    return tp / (tp + fn), fp / (fp + tp)""",
    }, ['test_tpr_fpr']),
    'ties not grouped (one ROC point per pair)': ({
        'roc_points': """
def roc_points(scores, same):
    s = np.asarray(scores, dtype=float)
    g = np.asarray(same, dtype=bool)[np.argsort(-s, kind="stable")]
    tpr = np.r_[0, np.cumsum(g)] / g.sum()
    fpr = np.r_[0, np.cumsum(~g)] / (~g).sum()
    return fpr, tpr""",
    }, ['test_roc_points']),
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
    'queries without a match counted as misses': ({
        'recall_at_k': """
def recall_at_k(D, labels, k):
    D = np.array(D, dtype=float)
    labels = np.asarray(labels)
    np.fill_diagonal(D, np.inf)
    nearest = np.argsort(D, axis=1, kind="stable")[:, :k]
    return float((labels[nearest] == labels[:, None]).any(1).mean())""",
    }, ['test_recall_at_k']),
    'Recall@K with a loop over queries': ({
        'recall_at_k': """
def recall_at_k(D, labels, k):
    D = np.asarray(D, dtype=float)
    labels = np.asarray(labels)
    hits = []
    for q in range(len(labels)):
        others = [j for j in np.argsort(D[q], kind="stable") if j != q]
        if (labels[others] == labels[q]).any():
            hits.append((labels[others[:k]] == labels[q]).any())
    return float(np.mean(hits))""",
    }, ['test_recall_at_k_is_vectorised']),
    'AP@R divided by the hits found, not by R': ({
        'map_at_r': """
def map_at_r(D, labels):
    D = np.array(D, dtype=float)
    labels = np.asarray(labels)
    n = len(labels)
    np.fill_diagonal(D, np.inf)
    rel = labels[np.argsort(D, axis=1, kind="stable")[:, :n - 1]] \\
        == labels[:, None]
    R = rel.sum(1)
    P = np.cumsum(rel, axis=1) / np.arange(1, n)
    hit = rel & (np.arange(n - 1)[None, :] < R[:, None])
    valid = R > 0
    found = np.maximum(hit.sum(1), 1)
    return float(((P * hit).sum(1) / found)[valid].mean())""",
    }, ['test_map_at_r']),
    'every rank counted (mAP, not MAP@R)': ({
        'map_at_r': """
def map_at_r(D, labels):
    D = np.array(D, dtype=float)
    labels = np.asarray(labels)
    n = len(labels)
    np.fill_diagonal(D, np.inf)
    rel = labels[np.argsort(D, axis=1, kind="stable")[:, :n - 1]] \\
        == labels[:, None]
    R = rel.sum(1)
    P = np.cumsum(rel, axis=1) / np.arange(1, n)
    valid = R > 0
    return float(((P * rel).sum(1)[valid] / R[valid]).mean())""",
    }, ['test_map_at_r']),
    'MAP@R with a loop over queries': ({
        'map_at_r': """
def map_at_r(D, labels):
    D = np.asarray(D, dtype=float)
    labels = np.asarray(labels)
    scores = []
    for q in range(len(labels)):
        others = np.array([j for j in np.argsort(D[q], kind="stable")
                           if j != q])
        rel = labels[others] == labels[q]
        R = int(rel.sum())
        if R:
            P = np.cumsum(rel[:R]) / np.arange(1, R + 1)
            scores.append((P * rel[:R]).sum() / R)
    return float(np.mean(scores))""",
    }, ['test_map_at_r_is_vectorised']),
    'TPR@FPR returned as a one-element array, not a number': ({
        'tpr_at_fpr': """
def tpr_at_fpr(scores, same, target_fpr):
    fpr, tpr = roc_points(scores, same)
    return tpr[fpr <= target_fpr].max(keepdims=True)""",
    }, ['test_tpr_at_fpr', 'test_tpr_at_fpr_boundary']),
    'Recall@K sets the diagonal of the caller\'s D (no copy)': ({
        'recall_at_k': """
def recall_at_k(D, labels, k):
    D = np.asarray(D, dtype=float)
    labels = np.asarray(labels)
    np.fill_diagonal(D, np.inf)
    nearest = np.argsort(D, axis=1, kind="stable")[:, :k]
    hit = (labels[nearest] == labels[:, None]).any(1)
    has_match = (labels[:, None] == labels[None, :]).sum(1) > 1
    return float(hit[has_match].mean())""",
    }, ['test_recall_at_k_leaves_query_out']),
    'MAP@R sets the diagonal of the caller\'s D (no copy)': ({
        'map_at_r': """
def map_at_r(D, labels):
    D = np.asarray(D, dtype=float)
    labels = np.asarray(labels)
    n = len(labels)
    np.fill_diagonal(D, np.inf)
    order = np.argsort(D, axis=1, kind="stable")[:, :n - 1]
    rel = labels[order] == labels[:, None]
    R = rel.sum(1)
    P = np.cumsum(rel, axis=1) / np.arange(1, n)
    in_top_R = np.arange(n - 1)[None, :] < R[:, None]
    ap = (P * rel * in_top_R).sum(1)
    valid = R > 0
    return float((ap[valid] / R[valid]).mean())""",
    }, ['test_map_at_r']),
}
