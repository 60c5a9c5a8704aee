"""Datasets of the course reports: the toy parabola data, MNIST, Fashion-MNIST and CIFAR-10.

Loaders take a folder (``path=``) or search ``$PYDL_DATA/<name>`` and ``~/.pydl/data/<name>``
(plus Debian's ``/usr/share/datasets/fashion-mnist`` for Fashion-MNIST); missing files raise
:class:`DatasetNotFoundError`, a ``FileNotFoundError`` whose message says where to put them.
:func:`download` fetches them when the machine is online. Nothing here touches the network otherwise.
"""
from ._paths import DatasetNotFoundError, data_roots, default_dir
from .cifar import (CLASSES as CIFAR10_CLASSES, cifar10_schemes, cifar10_splits, load_cifar10, load_cifar10_batch,
                    one_hot, standardize, write_fake_cifar10)
from ._download import DownloadError, download
from .idx import read_idx, write_idx
from .mnist import load_fashion_mnist, load_mnist, write_fake_mnist
from .synthetic import make_parabola

__all__ = ["CIFAR10_CLASSES", "DatasetNotFoundError", "DownloadError", "cifar10_schemes", "cifar10_splits",
           "data_roots", "default_dir", "download", "load_cifar10", "load_cifar10_batch", "load_fashion_mnist",
           "load_mnist", "make_parabola", "one_hot", "read_idx", "standardize", "write_fake_cifar10",
           "write_fake_mnist", "write_idx"]
