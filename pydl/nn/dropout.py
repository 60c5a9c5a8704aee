"""Dropout: inverted dropout in training, the identity in eval mode."""
from .. import random as _random
from .._args import check_hyper
from .base import Layer


class Dropout(Layer):
    """Inverted dropout (PyTorch's ``nn.Dropout``): in training each element is zeroed with probability
    ``p`` and the others scaled by 1/(1-p); in eval mode the identity.

    Masks come from the ``dropout_forward`` kernel's counter-based generator. In a network the seed of each
    training step is drawn from the network's generator (the one ``fit`` shuffles with), so the plan and
    step-by-step training drop the same elements; a layer used on its own draws from pydl's global
    generator (:func:`pydl.manual_seed`).
    """

    output_kind = "same"
    uses_seed = True

    def __init__(self, p=0.5, dtype="float32", backend=None):
        super().__init__(dtype, backend)
        self.p = check_hyper("Dropout", "p", p, 0.0, 1.0, below=True)
        self._mask = None

    def forward(self, x):
        if not self.training:
            return x
        seed = self._seed if self._seed is not None else int(_random.default_generator().integers(2**63))
        y, mask = self.kernels.dropout_forward(x, self.p, seed, out=self._buffer("y", x.shape),
                                               mask=self._buffer("mask", x.shape))
        self._mask = mask
        return y

    def backward(self, dy, need_dx=True):
        if self._mask is None:
            raise self._missing_cache()
        if not need_dx:
            return None
        return self.kernels.dropout_backward(dy, self._mask, out=self._buffer("dx", dy.shape))

    def plan_step(self):
        return "dropout", {"p": self.p}

    def get_config(self):
        return {"p": self.p}
