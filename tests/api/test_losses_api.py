"""pydl.losses: values, gradients, names and target preparation."""
import numpy as np
import pytest

from pydl import losses


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_mse_is_the_mean_of_squared_errors_with_gradient(rng):
    pred, target = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    loss = losses.MSELoss()
    assert loss(pred, target) == pytest.approx(np.mean((pred - target) ** 2))
    np.testing.assert_allclose(loss.backward(), 2 * (pred - target) / pred.size)


def test_bce_on_probabilities(rng):
    p, t = rng.uniform(0.1, 0.9, (5, 1)), rng.integers(0, 2, (5, 1)).astype(float)
    expected = -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))
    assert losses.BCELoss()(p, t) == pytest.approx(expected)


def test_bce_clips_probabilities_to_eps():
    loss = losses.BCELoss(eps=1e-3)
    assert loss(np.array([[0.0]]), np.array([[1.0]])) == pytest.approx(-np.log(1e-3))


def test_bce_with_logits_equals_bce_of_sigmoid(rng):
    z, t = rng.standard_normal((6, 2)), rng.integers(0, 2, (6, 2)).astype(float)
    assert losses.BCEWithLogitsLoss()(z, t) == pytest.approx(losses.BCELoss()(sigmoid(z), t))


def test_cross_entropy_with_labels_equals_one_hot(rng):
    z, labels = rng.standard_normal((5, 4)), np.array([0, 3, 1, 2, 3])
    one_hot = np.eye(4)[labels]
    log_softmax = z - np.log(np.exp(z).sum(1, keepdims=True))
    expected = -np.mean(log_softmax[np.arange(5), labels])
    ce = losses.CrossEntropyLoss()
    assert ce(z, labels) == pytest.approx(expected)
    assert ce(z, one_hot) == pytest.approx(expected)


def test_multi_bce_gradient_is_sigmoid_minus_target_over_elements(rng):
    z, labels = rng.standard_normal((3, 4)), np.array([1, 0, 3])
    loss = losses.MultiBCELoss()
    loss(z, labels)
    np.testing.assert_allclose(loss.backward(), (sigmoid(z) - np.eye(4)[labels]) / z.size, rtol=1e-6)


@pytest.mark.parametrize("name,cls", [("mse", losses.MSELoss), ("bce", losses.BCELoss),
                                      ("bce_with_logits", losses.BCEWithLogitsLoss),
                                      ("cross_entropy", losses.CrossEntropyLoss), ("multi_bce", losses.MultiBCELoss)])
def test_string_names(name, cls):
    assert type(losses.get(name)) is cls


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown loss 'hinge'; known: bce, bce_with_logits"):
        losses.get("hinge")


def test_probabilities_follow_the_loss_link(rng):
    z = rng.standard_normal((3, 4))
    np.testing.assert_allclose(losses.CrossEntropyLoss().probabilities(z).sum(axis=1), 1.0)
    np.testing.assert_allclose(losses.BCEWithLogitsLoss().probabilities(z), sigmoid(z), rtol=1e-6)
    assert losses.BCELoss().probabilities(z) is z


def test_labels_threshold_a_single_output_and_argmax_several():
    assert losses.BCELoss().labels(np.array([[0.2], [0.7]])).tolist() == [0, 1]
    assert losses.BCEWithLogitsLoss().labels(np.array([[-0.1], [0.1]])).tolist() == [0, 1]
    assert losses.CrossEntropyLoss().labels(np.array([[0.1, 2.0], [3.0, 1.0]])).tolist() == [1, 0]


def test_prepare_target_turns_a_label_column_into_the_output_shape():
    t = losses.BCELoss().prepare_target(np.array([0, 1, 1]), (1,), np.float32)
    assert t.shape == (3, 1) and t.dtype == np.float32


def test_prepare_target_one_hot_encodes_labels_for_several_mse_outputs():
    t = losses.MSELoss().prepare_target(np.array([2, 0]), (3,), np.float64)
    np.testing.assert_array_equal(t, [[0, 0, 1], [1, 0, 0]])


def test_prepare_target_accepts_whole_float_labels_for_cross_entropy():
    t = losses.CrossEntropyLoss().prepare_target(np.array([1.0, 0.0]), (2,), np.float32)
    assert t.dtype == np.int64 and t.tolist() == [1, 0]


def test_prepare_target_accepts_a_column_of_labels_for_cross_entropy():
    t = losses.CrossEntropyLoss().prepare_target(np.array([[2], [0]]), (3,), np.float32)
    assert t.tolist() == [2, 0]


def test_labels_out_of_range_are_rejected():
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\] for 3 classes, got range \[0, 3\]"):
        losses.CrossEntropyLoss().prepare_target(np.array([0, 3]), (3,), np.float32)


def test_bce_targets_outside_unit_interval_are_rejected():
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 1\]"):
        losses.BCELoss().prepare_target(np.array([0.0, 2.0]), (1,), np.float32)
