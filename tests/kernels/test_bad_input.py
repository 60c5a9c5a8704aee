"""Bad input to a kernel raises a clear TypeError/ValueError naming the problem; it never crashes."""
import numpy as np
import pytest

from pydl import kernels as K
from pydl import reference as R

BACKENDS = pytest.mark.parametrize("B", [K, R], ids=["cpp", "numpy"])


@BACKENDS
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.float16, np.complex64, bool])
def test_unsupported_dtype_is_a_type_error(B, dtype):
    with pytest.raises(TypeError, match=r"sigmoid: x must have dtype float32 or float64, got"):
        B.sigmoid(np.ones(4, dtype=dtype))


@BACKENDS
def test_a_list_is_a_type_error_naming_the_type(B):
    with pytest.raises(TypeError, match=r"sigmoid: x must be a numpy.ndarray .* got list"):
        B.sigmoid([1.0, 2.0])


@BACKENDS
def test_mismatched_dtypes_are_a_type_error_naming_both(B):
    with pytest.raises(TypeError, match=r"dy has dtype float32 but y has float64"):
        B.sigmoid_backward(np.ones(3), np.ones(3, np.float32))
    with pytest.raises(TypeError, match=r"target has dtype float64 but pred has float32"):
        B.mse_loss(np.ones(3, np.float32), np.ones(3))


@BACKENDS
def test_wrong_shape_names_expected_and_actual(B):
    with pytest.raises(ValueError, match=r"dy must have shape \(2, 3\), got \(3, 2\)"):
        B.tanh_backward(np.ones((2, 3)), np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"out must have shape \(4,\), got \(5,\)"):
        B.relu(np.ones(4), out=np.ones(5))


@BACKENDS
def test_softmax_needs_a_matrix(B):
    with pytest.raises(ValueError, match=r"softmax: x must be 2-D, got shape \(4,\)"):
        B.softmax(np.ones(4))


@BACKENDS
def test_non_contiguous_input_is_a_value_error(B):
    x = np.ones((4, 6))[:, ::2]
    with pytest.raises(ValueError, match=r"relu: x with shape \(4, 3\) is not C-contiguous"):
        B.relu(x)


@BACKENDS
def test_non_contiguous_output_is_rejected_not_silently_copied(B):
    out = np.zeros((4, 6))[:, ::2]
    with pytest.raises(ValueError, match=r"out .* not C-contiguous"):
        B.relu(np.ones((4, 3)), out=out)


@BACKENDS
def test_output_of_the_wrong_dtype_is_rejected_not_silently_copied(B):
    with pytest.raises(TypeError, match=r"out must have dtype float64, got float32"):
        B.sigmoid(np.ones(3), out=np.zeros(3, np.float32))


@BACKENDS
def test_read_only_output_is_a_value_error(B):
    out = np.zeros(3)
    out.flags.writeable = False
    with pytest.raises(ValueError, match=r"out is read-only"):
        B.sigmoid(np.ones(3), out=out)


@BACKENDS
def test_read_only_parameter_cannot_be_updated(B):
    p = np.zeros(3)
    p.flags.writeable = False
    with pytest.raises(ValueError, match=r"param is read-only"):
        B.sgd_step(p, np.ones(3), lr=0.1)


@BACKENDS
def test_empty_array_is_a_value_error(B):
    with pytest.raises(ValueError, match=r"sigmoid: x is empty \(shape \(0, 3\)\)"):
        B.sigmoid(np.ones((0, 3)))


@BACKENDS
@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu"])
def test_nan_input_is_a_value_error(B, name):
    x = np.array([1.0, np.nan, 2.0], np.float32)
    with pytest.raises(ValueError, match=rf"{name}: x with shape \(3,\) contains NaN"):
        getattr(B, name)(x)


@BACKENDS
def test_nan_in_a_loss_input_is_a_value_error(B):
    with pytest.raises(ValueError, match=r"bce_with_logits_loss: logits .* contains NaN"):
        B.bce_with_logits_loss(np.array([[np.nan]]), np.array([[1.0]]))


@BACKENDS
def test_nan_gradient_in_an_update_is_a_value_error(B):
    with pytest.raises(ValueError, match=r"grad with shape \(2,\) contains NaN"):
        B.adam_step(np.zeros(2), np.array([np.nan, 1]), np.zeros(2), np.zeros(2), step=1)


@BACKENDS
@pytest.mark.parametrize("labels", [[0, 3], [-1, 0]])
def test_label_out_of_range_is_a_value_error(B, labels):
    with pytest.raises(ValueError, match=r"out of range for 3 classes|must lie in \[0, 2\]"):
        B.softmax_cross_entropy(np.zeros((2, 3)), np.array(labels))


@BACKENDS
def test_label_count_must_match_the_batch(B):
    with pytest.raises(ValueError, match=r"labels must have shape \(2,\) .* got \(3,\)"):
        B.softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 1, 2]))


@BACKENDS
def test_bce_target_outside_zero_one_is_a_value_error(B):
    with pytest.raises(ValueError, match=r"target values must lie in \[0, 1\]"):
        B.bce_loss(np.full((2, 1), 0.5), np.array([[0.0], [2.0]]))


@BACKENDS
def test_optimizer_state_of_the_wrong_shape_is_a_value_error(B):
    with pytest.raises(ValueError, match=r"exp_avg must have shape \(3,\), got \(2,\)"):
        B.adam_step(np.zeros(3), np.ones(3), np.zeros(2), np.zeros(3), step=1)


@BACKENDS
def test_missing_momentum_buffer_is_a_value_error(B):
    with pytest.raises(ValueError, match=r"momentum_buf is required"):
        B.sgd_step(np.zeros(3), np.ones(3), lr=0.1, momentum=0.9)


@BACKENDS
def test_impossible_hyperparameters_are_value_errors(B):
    with pytest.raises(ValueError, match=r"lr must be >= 0"):
        B.sgd_step(np.zeros(3), np.ones(3), lr=-1.0)
    with pytest.raises(ValueError, match=r"step must be >= 1"):
        B.adam_step(np.zeros(3), np.ones(3), np.zeros(3), np.zeros(3), step=0)
    with pytest.raises(ValueError, match=r"Nesterov momentum requires momentum > 0"):
        B.sgd_step(np.zeros(3), np.ones(3), lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match=r"eps must lie in \(0, 0.5\)"):
        B.bce_loss(np.full(2, 0.5), np.ones(2), eps=0.0)
