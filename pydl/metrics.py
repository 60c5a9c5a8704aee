"""Metrics on NumPy arrays: accuracy, and the confusion matrix, per-class precision/recall/F1 and a
text classification report as scikit-learn computes and lays them out."""
import numpy as np

from ._args import check_int

__all__ = ["accuracy", "classification_report", "confusion_matrix", "plot_confusion_matrix",
           "precision_recall_f1", "to_labels"]


def to_labels(y):
    """Class labels (N,) from labels, one-hot/probability rows (N, C) or single probabilities (N,)/(N, 1).

    Integer labels pass through, and so do float labels holding whole numbers (``y.astype(float)`` of
    class labels, as ``Network.evaluate`` reads them); other floats in a column are probabilities,
    thresholded at 0.5; rows of several columns take the arg-max.
    """
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return np.argmax(y, axis=1)
    y = y.reshape(-1)
    if np.issubdtype(y.dtype, np.floating):
        if np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            return y.astype(np.int64)
        return (y > 0.5).astype(np.int64)
    return y.astype(np.int64, copy=False)


def accuracy(y_true, y_pred):
    """Fraction of samples whose predicted class equals the true class.

    Both sides may be integer labels, one-hot/probability rows (arg-max) or single probabilities
    (threshold 0.5), e.g. ``accuracy(y, net.predict_proba(x))`` or ``accuracy(y, net.predict(x))``.
    """
    t, p = to_labels(y_true), to_labels(y_pred)
    if t.shape != p.shape:
        raise ValueError(f"accuracy: {t.shape[0]} true labels but {p.shape[0]} predictions")
    if t.size == 0:
        raise ValueError("accuracy: no samples")
    return float(np.mean(t == p))


# ---- classification metrics (scikit-learn's conventions) -----------------------------------------

_MAX_CLASSES = 1 << 16  # a confusion matrix of more classes is a label mix-up (or needs num_classes)


def _class_labels(y, name, fn):
    """(labels, columns): class labels of ``y`` (see :func:`to_labels`) and its number of columns when it
    holds one-hot/probability rows (else 0)."""
    a = np.asarray(y)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{fn}: {name} must hold numbers (class labels, one-hot/probability rows or single "
                        f"probabilities), got dtype {a.dtype}")
    if a.ndim > 2:
        raise ValueError(f"{fn}: {name} must be labels (N,) or rows (N, C), got shape {a.shape}")
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        raise ValueError(f"{fn}: {name} holds NaN or inf")
    labels = to_labels(a)
    if labels.size and labels.min() < 0:
        raise ValueError(f"{fn}: {name} holds a negative class label ({labels.min()})")
    return labels, (a.shape[1] if a.ndim == 2 and a.shape[1] > 1 else 0)


def _label_pair(y_true, y_pred, num_classes, fn):
    """(true labels, predicted labels, number of classes, whether that number was given)."""
    t, t_cols = _class_labels(y_true, "y_true", fn)
    p, p_cols = _class_labels(y_pred, "y_pred", fn)
    if t.shape != p.shape:
        raise ValueError(f"{fn}: {t.shape[0]} true labels but {p.shape[0]} predictions")
    if t.size == 0:
        raise ValueError(f"{fn}: no samples")
    largest = int(max(t.max(), p.max()))
    if num_classes is None:
        k = max(largest + 1, t_cols, p_cols)
        if k > _MAX_CLASSES:
            raise ValueError(f"{fn}: a class label of {largest} makes a {k}-class problem; pass num_classes if "
                             f"that is meant (at most {_MAX_CLASSES})")
        return t, p, k, False
    k = check_int(f"{fn}: num_classes", num_classes, 1, _MAX_CLASSES)
    if largest >= k:
        raise ValueError(f"{fn}: class label {largest} is out of range for num_classes={k}")
    for name, cols in (("y_true", t_cols), ("y_pred", p_cols)):
        if cols and cols != k:
            raise ValueError(f"{fn}: {name} has {cols} columns but num_classes={k}")
    return t, p, k, True


def _confusion(t, p, k):
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k)


def confusion_matrix(y_true, y_pred, num_classes=None):
    """The (K, K) count matrix ``C[i, j]`` = number of samples of true class i predicted as class j (rows
    true, columns predicted, as scikit-learn's).

    Both sides may be labels, one-hot/probability rows (arg-max) or single probabilities (threshold
    0.5), as in :func:`accuracy`. K is ``num_classes`` or, without it, the largest label + 1 (at least
    the number of columns of probability rows); rows and columns are indexed by class.
    """
    t, p, k, _ = _label_pair(y_true, y_pred, num_classes, "confusion_matrix")
    return _confusion(t, p, k)


def _ratio(a, b):
    """a / b elementwise, 0 where b is 0 (scikit-learn's zero_division=0, without its warning)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b != 0)


def _scores(cm):
    """Per-class (precision, recall, f1, support) of a confusion matrix."""
    tp = np.diag(cm)
    predicted, support = cm.sum(axis=0), cm.sum(axis=1)
    return _ratio(tp, predicted), _ratio(tp, support), _ratio(2 * tp, predicted + support), support


_AVERAGES = (None, "micro", "macro", "weighted")


def _averaged(cm, average, classes):
    """(precision, recall, f1) averaged over ``classes`` (indices) the way ``average`` says."""
    precision, recall, f1, support = _scores(cm)
    if average == "micro":  # single-label: every score is the accuracy
        tp = np.trace(cm)
        return tuple(float(x) for x in (_ratio(tp, cm.sum()), _ratio(tp, cm.sum()), _ratio(2 * tp, 2 * cm.sum())))
    scores = np.stack([precision, recall, f1])[:, classes]
    if average == "macro":
        return tuple(float(x) for x in scores.mean(axis=1))
    weights = support[classes]
    return tuple(float(x) for x in _ratio(scores @ weights, weights.sum()))


def _classes(cm, given):
    """The classes averages run over: all K when the number was given, else those that occur."""
    k = cm.shape[0]
    if given:
        return np.arange(k)
    return np.flatnonzero(cm.sum(axis=0) + cm.sum(axis=1))


def precision_recall_f1(y_true, y_pred, average=None, num_classes=None):
    """Precision, recall and F1 score, per class or averaged (scikit-learn's
    ``precision_recall_fscore_support`` without the support).

    - ``average=None``: three float arrays of length K indexed by class (K as in :func:`confusion_matrix`).
    - ``"micro"``: from the total counts; for single-label classification all three equal the accuracy.
    - ``"macro"``: the unweighted mean over the classes; ``"weighted"``: the mean weighted by each class's
      support (its number of true samples). The classes are those that occur in ``y_true`` or ``y_pred``,
      or all ``num_classes`` when it is given (scikit-learn's ``labels=range(num_classes)``).

    A ratio whose denominator is 0 (a class never predicted, or never present) counts as 0, as
    scikit-learn's default does, without a warning. Inputs as for :func:`confusion_matrix`.
    """
    if average not in _AVERAGES:
        raise ValueError(f"precision_recall_f1: average must be None, 'micro', 'macro' or 'weighted', got {average!r}")
    t, p, k, given = _label_pair(y_true, y_pred, num_classes, "precision_recall_f1")
    cm = _confusion(t, p, k)
    if average is None:
        return _scores(cm)[:3]
    return _averaged(cm, average, _classes(cm, given))


def classification_report(y_true, y_pred, target_names=None, digits=2, num_classes=None):
    """A text report of per-class precision, recall, F1 and support with the accuracy and the macro and
    weighted averages, laid out as scikit-learn's ``classification_report``::

                      precision    recall  f1-score   support

                 cat       0.50      1.00      0.67         1
                 dog       0.00      0.00      0.00         1
                bird       1.00      0.67      0.80         3

            accuracy                           0.60         5
           macro avg       0.50      0.56      0.49         5
        weighted avg       0.70      0.60      0.61         5

    Rows are the classes that occur in ``y_true`` or ``y_pred``, named by their label, or, with
    ``target_names`` (one name per class, class i named ``target_names[i]``) or ``num_classes``, every
    class. ``digits`` sets the decimals. Inputs as for :func:`confusion_matrix`.
    """
    fn = "classification_report"
    digits = check_int(f"{fn}: digits", digits, 0, 20)
    if target_names is not None:
        if isinstance(target_names, str) or not hasattr(target_names, "__len__"):
            raise TypeError(f"{fn}: target_names must be a list of class names, got {type(target_names).__name__}")
        target_names = [str(name) for name in target_names]
        if not target_names:
            raise ValueError(f"{fn}: target_names is empty")
        if num_classes is not None and check_int(f"{fn}: num_classes", num_classes, 1, _MAX_CLASSES) != \
                len(target_names):
            raise ValueError(f"{fn}: {len(target_names)} target_names but num_classes={num_classes}")
        num_classes = len(target_names)
    t, p, k, given = _label_pair(y_true, y_pred, num_classes, fn)
    cm = _confusion(t, p, k)
    classes = _classes(cm, given)
    names = [target_names[c] if target_names is not None else str(c) for c in classes]
    precision, recall, f1, support = _scores(cm)
    total = int(support.sum())

    heading = "weighted avg"
    width = max(max(len(name) for name in names), len(heading), digits)
    report = f"{'':>{width}s} " + "".join(f" {h:>9}" for h in ("precision", "recall", "f1-score", "support"))
    report += "\n\n"
    row = "{:>{width}s} " + " {:>9.{digits}f}" * 3 + " {:>9}\n"
    for name, c in zip(names, classes):
        report += row.format(name, precision[c], recall[c], f1[c], int(support[c]), width=width, digits=digits)
    report += "\n"
    accuracy_row = "{:>{width}s} " + " {:>9}" * 2 + " {:>9.{digits}f} {:>9}\n"
    report += accuracy_row.format("accuracy", "", "", _averaged(cm, "micro", classes)[2], total,
                                  width=width, digits=digits)
    for average in ("macro", "weighted"):
        report += row.format(f"{average} avg", *_averaged(cm, average, classes), total, width=width, digits=digits)
    return report


def plot_confusion_matrix(cm, class_names=None, normalize=False, path=None, title=None, cmap="Blues"):
    """Draw a confusion matrix (from :func:`confusion_matrix`) as a colored grid with the value in each
    cell, true class down, predicted class across; save it to ``path`` or, without one, show it. Returns
    the matplotlib Figure. Needs matplotlib (``pip install matplotlib``).

    ``normalize``: False shows counts; True or "true" divides each row by its total (recall on the
    diagonal), "pred" each column (precision), "all" the whole matrix.
    """
    fn = "plot_confusion_matrix"
    cm = np.asarray(cm)
    if cm.dtype.kind not in "iuf":
        raise TypeError(f"{fn}: cm must be a matrix of counts, got dtype {cm.dtype}")
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise ValueError(f"{fn}: cm must be a square (K, K) matrix, got shape {cm.shape}")
    if not np.all(np.isfinite(cm)) or np.any(cm < 0):
        raise ValueError(f"{fn}: cm must hold finite non-negative counts")
    k = cm.shape[0]
    if class_names is None:
        class_names = [str(i) for i in range(k)]
    elif isinstance(class_names, str) or len(class_names) != k:
        raise ValueError(f"{fn}: class_names must name each of the {k} classes, got {class_names!r}")
    if normalize is True:
        normalize = "true"
    if normalize is not False and normalize not in ("true", "pred", "all"):
        raise ValueError(f"{fn}: normalize must be False, True, 'true', 'pred' or 'all', got {normalize!r}")
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(f"{fn} needs matplotlib: pip install matplotlib (or pip install pydl[plot])") from None
    values = cm.astype(np.float64)
    if normalize == "true":
        values = _ratio(values, values.sum(axis=1, keepdims=True))
    elif normalize == "pred":
        values = _ratio(values, values.sum(axis=0, keepdims=True))
    elif normalize == "all":
        values = _ratio(values, values.sum())
    size = max(4.0, 0.6 * k + 2)
    if path is None:
        import matplotlib.pyplot as plt
        fig = plt.figure(figsize=(size + 1, size))
    else:
        fig = Figure(figsize=(size + 1, size))
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(values, interpolation="nearest", cmap=cmap)
    fig.colorbar(image, ax=ax)
    ax.set_xticks(range(k), labels=[str(n) for n in class_names], rotation=45, ha="right")
    ax.set_yticks(range(k), labels=[str(n) for n in class_names])
    ax.set_xlabel("Predicted label")
    ax.set_ylabel("True label")
    if title:
        ax.set_title(title)
    if k <= 30:
        threshold = (values.max() + values.min()) / 2
        counts = cm.dtype.kind in "iu"
        for i in range(k):
            for j in range(k):
                text = f"{values[i, j]:.2f}" if normalize else str(cm[i, j]) if counts else f"{cm[i, j]:g}"
                ax.text(j, i, text, ha="center", va="center",
                        color="white" if values[i, j] > threshold else "black")
    fig.tight_layout()
    if path is None:
        plt.show()
    else:
        fig.savefig(path)
    return fig
