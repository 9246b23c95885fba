"""Cases of the graded exercise ex5_multitask: its functions (the promised
signatures) and typical mistakes, each with the test cells it must
fail (tests/test_exercises.py runs them in-process; the end-to-end
grading test grades one submission with a mistake per function)."""

FUNCTIONS = {
    'multitask_loss': 'losses, weights',
    'dominant_task': 'losses, weights',
}

# label: ({solution cell id: replacement code}, {test cells that fail})
MISTAKES = {
    'weights ignored': ({
        'dominant_task': """
def dominant_task(losses, weights):
    return max(losses, key=losses.get)""",
    }, ['test_dominant_task']),
    'mutates its input': ({
        'multitask_loss': """
def multitask_loss(losses, weights):
    total = 0.0
    while weights:
        t, w = weights.popitem()
        total += w * losses[t]
    return total""",
    }, ['test_multitask_loss', 'test_multitask_loss_keeps_inputs']),
}
