"""Classification metrics (pydl.metrics): confusion matrix, precision/recall/F1, the text report and the
confusion-matrix plot, against hand-computed values and, when installed, scikit-learn."""
import sys
import warnings

import numpy as np
import pytest

from pydl import metrics
from pydl.metrics import classification_report, confusion_matrix, plot_confusion_matrix, precision_recall_f1

# scikit-learn's documentation example for classification_report, computed by hand below.
Y_TRUE = [0, 1, 2, 2, 2]
Y_PRED = [0, 0, 2, 2, 1]
SKLEARN_REPORT = """\
              precision    recall  f1-score   support

     class 0       0.50      1.00      0.67         1
     class 1       0.00      0.00      0.00         1
     class 2       1.00      0.67      0.80         3

    accuracy                           0.60         5
   macro avg       0.50      0.56      0.49         5
weighted avg       0.70      0.60      0.61         5
"""


# ---- confusion_matrix ----------------------------------------------------------------------------

def test_confusion_matrix_rows_are_true_classes_and_columns_predictions():
    cm = confusion_matrix([2, 0, 2, 2, 0, 1], [0, 0, 2, 2, 0, 2])  # scikit-learn's example
    np.testing.assert_array_equal(cm, [[2, 0, 0], [0, 0, 1], [1, 0, 2]])
    assert cm.dtype.kind == "i"


def test_confusion_matrix_reads_one_hot_rows_probabilities_and_single_probabilities():
    labels = np.array([2, 0, 2, 2, 0, 1])
    probabilities = np.eye(3)[[0, 0, 2, 2, 0, 2]] * 0.8 + 0.05
    np.testing.assert_array_equal(confusion_matrix(np.eye(3)[labels], probabilities),
                                  [[2, 0, 0], [0, 0, 1], [1, 0, 2]])
    np.testing.assert_array_equal(confusion_matrix(np.array([1.0, 0.0, 1.0]), np.array([[0.7], [0.6], [0.2]])),
                                  [[0, 1], [1, 1]])
    # Probability rows of 4 columns make 4 classes even when class 3 never occurs.
    assert confusion_matrix([0, 1], np.array([[0.9, 0.1, 0, 0], [0.2, 0.5, 0.3, 0]])).shape == (4, 4)


def test_num_classes_pads_the_matrix_and_bounds_the_labels():
    np.testing.assert_array_equal(confusion_matrix([0, 1], [1, 1], num_classes=3), [[0, 1, 0], [0, 1, 0], [0, 0, 0]])
    with pytest.raises(ValueError, match="confusion_matrix: class label 3 is out of range for num_classes=3"):
        confusion_matrix([0, 3], [0, 1], num_classes=3)
    with pytest.raises(ValueError, match="confusion_matrix: y_pred has 4 columns but num_classes=3"):
        confusion_matrix([0, 1], np.full((2, 4), 0.25), num_classes=3)


@pytest.mark.parametrize("y_true,y_pred,kw,error,message", [
    ([0, 1], [0, 1, 1], {}, ValueError, "confusion_matrix: 2 true labels but 3 predictions"),
    ([], [], {}, ValueError, "confusion_matrix: no samples"),
    ([0, -1], [0, 1], {}, ValueError, "confusion_matrix: y_true holds a negative class label \\(-1\\)"),
    ([0, 1], [0.2, np.nan], {}, ValueError, "confusion_matrix: y_pred holds NaN or inf"),
    (["a", "b"], [0, 1], {}, TypeError, "confusion_matrix: y_true must hold numbers"),
    (np.zeros((2, 2, 2)), [0, 1], {}, ValueError, "confusion_matrix: y_true must be labels \\(N,\\) or rows"),
    ([0, 10**9], [0, 1], {}, ValueError, "confusion_matrix: a class label of 1000000000 makes a"),
    ([0, 1], [0, 1], {"num_classes": 0}, ValueError, "confusion_matrix: num_classes must be in \\[1"),
    ([0, 1], [0, 1], {"num_classes": 2.0}, TypeError, "confusion_matrix: num_classes must be an integer"),
])
def test_bad_inputs_raise_naming_the_argument(y_true, y_pred, kw, error, message):
    with pytest.raises(error, match=message):
        confusion_matrix(y_true, y_pred, **kw)


# ---- precision, recall, F1 -----------------------------------------------------------------------

def test_per_class_scores_by_hand():
    precision, recall, f1 = precision_recall_f1(Y_TRUE, Y_PRED)
    # class 0: tp 1, predicted 2, true 1; class 1: tp 0, predicted 1, true 1; class 2: tp 2, predicted 2, true 3
    np.testing.assert_allclose(precision, [1 / 2, 0, 1])
    np.testing.assert_allclose(recall, [1, 0, 2 / 3])
    np.testing.assert_allclose(f1, [2 / 3, 0, 0.8])


def test_averages_by_hand():
    np.testing.assert_allclose(precision_recall_f1(Y_TRUE, Y_PRED, average="macro"),
                               [1.5 / 3, (1 + 2 / 3) / 3, (2 / 3 + 0.8) / 3])
    np.testing.assert_allclose(precision_recall_f1(Y_TRUE, Y_PRED, average="weighted"),
                               [(0.5 + 3) / 5, (1 + 2) / 5, (2 / 3 + 2.4) / 5])
    assert precision_recall_f1(Y_TRUE, Y_PRED, average="micro") == pytest.approx((0.6, 0.6, 0.6))
    assert all(isinstance(v, float) for v in precision_recall_f1(Y_TRUE, Y_PRED, average="macro"))


def test_zero_division_counts_as_zero_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        precision, recall, f1 = precision_recall_f1([0, 0, 1], [0, 0, 0], num_classes=3)
    np.testing.assert_array_equal(precision, [2 / 3, 0, 0])  # class 1 never predicted, class 2 never anywhere
    np.testing.assert_array_equal(recall, [1, 0, 0])
    np.testing.assert_allclose(f1, [0.8, 0, 0])


def test_macro_averages_over_the_classes_that_occur_unless_num_classes_is_given():
    # Class 1 occurs in neither side: left out of the macro average unless num_classes names it.
    p = precision_recall_f1([0, 0, 2], [0, 2, 2], average="macro")
    np.testing.assert_allclose(p, [(1 + 0.5) / 2, (0.5 + 1) / 2, (2 / 3 + 2 / 3) / 2])
    q = precision_recall_f1([0, 0, 2], [0, 2, 2], average="macro", num_classes=3)
    np.testing.assert_allclose(q, np.array(p) * 2 / 3)
    assert len(precision_recall_f1([0, 0, 2], [0, 2, 2])[0]) == 3  # per-class arrays are indexed by class


def test_average_must_be_one_of_the_names():
    with pytest.raises(ValueError, match="precision_recall_f1: average must be None, 'micro', 'macro' or "
                                         "'weighted', got 'binary'"):
        precision_recall_f1([0, 1], [0, 1], average="binary")


# ---- classification_report -----------------------------------------------------------------------

def test_report_is_laid_out_as_scikit_learns():
    assert classification_report(Y_TRUE, Y_PRED, target_names=["class 0", "class 1", "class 2"]) == SKLEARN_REPORT


def test_report_names_classes_by_label_and_takes_digits():
    report = classification_report([0, 0, 2], [0, 2, 2], digits=3)
    lines = report.splitlines()
    assert lines[0].split() == ["precision", "recall", "f1-score", "support"]
    assert lines[2].split() == ["0", "1.000", "0.500", "0.667", "2"]
    assert lines[3].split() == ["2", "0.500", "1.000", "0.667", "1"]  # class 1 occurs nowhere: no row
    assert lines[5].split() == ["accuracy", "0.667", "3"]
    assert lines[6].split() == ["macro", "avg", "0.750", "0.750", "0.667", "3"]
    every = classification_report([0, 0, 2], [0, 2, 2], num_classes=3).splitlines()
    assert every[3].split() == ["1", "0.00", "0.00", "0.00", "0"]


def test_report_target_names_must_name_every_class():
    with pytest.raises(ValueError, match="classification_report: class label 2 is out of range for num_classes=2"):
        classification_report([0, 1, 2], [0, 1, 1], target_names=["a", "b"])
    with pytest.raises(ValueError, match="classification_report: 2 target_names but num_classes=3"):
        classification_report([0, 1], [0, 1], target_names=["a", "b"], num_classes=3)
    with pytest.raises(TypeError, match="classification_report: target_names must be a list of class names"):
        classification_report([0, 1], [0, 1], target_names="ab")
    with pytest.raises(ValueError, match="classification_report: digits must be in \\[0"):
        classification_report([0, 1], [0, 1], digits=-1)


# ---- against scikit-learn ------------------------------------------------------------------------

def test_agrees_with_scikit_learn():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(7)
    for n, k in [(50, 2), (200, 5), (30, 10)]:
        y_true, y_pred = rng.integers(0, k, n), rng.integers(0, k, n)
        np.testing.assert_array_equal(confusion_matrix(y_true, y_pred, num_classes=k),
                                      sk.confusion_matrix(y_true, y_pred, labels=range(k)))
        for average in (None, "micro", "macro", "weighted"):
            ours = precision_recall_f1(y_true, y_pred, average=average)
            theirs = sk.precision_recall_fscore_support(y_true, y_pred, average=average, zero_division=0)[:3]
            np.testing.assert_allclose(ours, theirs, rtol=1e-12)
        assert classification_report(y_true, y_pred, digits=4) == \
            sk.classification_report(y_true, y_pred, digits=4, zero_division=0)


# ---- plot_confusion_matrix -----------------------------------------------------------------------

def test_plot_saves_a_figure(tmp_path):
    pytest.importorskip("matplotlib")
    cm = confusion_matrix([2, 0, 2, 2, 0, 1], [0, 0, 2, 2, 0, 2])
    fig = plot_confusion_matrix(cm, class_names=["cat", "dog", "bird"], path=tmp_path / "cm.png")
    assert (tmp_path / "cm.png").stat().st_size > 0
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ["2", "0", "0", "0", "0", "1", "1", "0", "2"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog", "bird"]
    fig = plot_confusion_matrix(cm, normalize=True, path=tmp_path / "cm_norm.png")
    assert [t.get_text() for t in fig.axes[0].texts][:3] == ["1.00", "0.00", "0.00"]
    assert [t.get_text() for t in fig.axes[0].texts][6:] == ["0.33", "0.00", "0.67"]


def test_plot_checks_its_arguments():
    with pytest.raises(ValueError, match="plot_confusion_matrix: cm must be a square \\(K, K\\) matrix"):
        plot_confusion_matrix(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="plot_confusion_matrix: cm must hold finite non-negative counts"):
        plot_confusion_matrix(np.array([[1, -1], [0, 1]]))
    with pytest.raises(ValueError, match="plot_confusion_matrix: class_names must name each of the 2 classes"):
        plot_confusion_matrix(np.eye(2), class_names=["a"])
    with pytest.raises(ValueError, match="plot_confusion_matrix: normalize must be False, True, 'true', 'pred'"):
        plot_confusion_matrix(np.eye(2), normalize="rows")


def test_plot_without_matplotlib_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match="plot_confusion_matrix needs matplotlib: pip install matplotlib"):
        plot_confusion_matrix(np.eye(2))


def test_every_metric_is_exported():
    assert {"confusion_matrix", "precision_recall_f1", "classification_report",
            "plot_confusion_matrix"} <= set(metrics.__all__)
