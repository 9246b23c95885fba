"""dml.widgets.multitask: the weight explorer follows its sliders."""
import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from dml.widgets.multitask import MultiTaskWeightExplorer  # noqa: E402


def test_starts_at_the_worked_example():
    ex = MultiTaskWeightExplorer()
    assert ex.state["total"] == pytest.approx(1.0 * 2.5 + 2.0 * 0.8
                                              + 5.0 * 0.3)
    assert ex.state["total"] == pytest.approx(5.6)
    assert ex.state["largest_term"] == "cls"
    assert ex.state["dominant"] is None and ex.state["grad_terms"] is None
    heights = [p.get_height() for p in ex.figure.axes[0].patches]
    assert heights == pytest.approx([2.5, 1.6, 1.5])
    assert "largest term: cls" in ex.figure.axes[0].get_title()
    assert "loss-size" in ex.figure.axes[1].get_title()


def test_moving_gamma_makes_the_triplet_term_the_largest():
    ex = MultiTaskWeightExplorer()
    ex.controls["triplet"].value = 10.0            # 3.0 > 2.5 > 1.6
    assert ex.state["terms"]["triplet"] == pytest.approx(3.0)
    assert ex.state["largest_term"] == "triplet"
    total = 2.5 + 1.6 + 3.0
    shares = [p.get_height() for p in ex.figure.axes[1].patches]
    assert shares == pytest.approx([2.5 / total, 1.6 / total, 3.0 / total])
    # the stacked bars sit on top of each other
    bottoms = [p.get_y() for p in ex.figure.axes[0].patches]
    assert bottoms == pytest.approx([0.0, 2.5, 4.1])


def test_gradient_norms_rank_the_tasks_against_the_loss_sizes():
    # a small loss with a large gradient, as measured in chapter 5
    norms = {"cls": 0.16, "seg": 0.06, "triplet": 0.50}
    ex = MultiTaskWeightExplorer(losses={"cls": 2.3, "seg": 0.7,
                                         "triplet": 0.18},
                                 weights=(1.0, 1.0, 1.0), grad_norms=norms)
    assert ex.state["largest_term"] == "cls"
    assert ex.state["dominant"] == "triplet"
    heights = [p.get_height() for p in ex.figure.axes[1].patches]
    assert heights == pytest.approx([0.16, 0.06, 0.50])
    assert "dominant triplet" in ex.figure.axes[1].get_title()
    # the weight scales the gradient: w_cls = 4 makes cls dominant
    ex.controls["cls"].value = 4.0
    assert ex.state["grad_terms"]["cls"] == pytest.approx(0.64)
    assert ex.state["dominant"] == "cls"


def test_zero_weight_removes_a_task_and_custom_losses():
    ex = MultiTaskWeightExplorer(losses={"cls": 1.0, "seg": 1.0,
                                         "triplet": 0.0})
    ex.controls["cls"].value = 0.0
    assert ex.state["terms"]["triplet"] == 0.0     # a zero loss stays zero
    assert ex.state["total"] == pytest.approx(2.0)
    assert ex.state["largest_term"] == "seg"
    assert ex.state["shares"]["seg"] == pytest.approx(1.0)


def test_rejects_other_task_names_and_negative_norms():
    with pytest.raises(ValueError, match="must name the tasks"):
        MultiTaskWeightExplorer(losses={"a": 1.0, "b": 1.0, "c": 1.0})
    with pytest.raises(ValueError, match="grad_norms must name the tasks"):
        MultiTaskWeightExplorer(grad_norms={"cls": 1.0})
    with pytest.raises(ValueError, match="must be >= 0"):
        MultiTaskWeightExplorer(grad_norms={"cls": 1.0, "seg": -1.0,
                                            "triplet": 0.0})
