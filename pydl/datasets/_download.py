"""Fetch MNIST, Fashion-MNIST and CIFAR-10 from their official locations, checksums verified."""
import hashlib
import os
import shutil
import socket
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from ._paths import FOLDERS, default_dir

# name -> (base URLs tried in order, {file: MD5 published by the dataset's authors}).
# yann.lecun.com often refuses downloads now; the second MNIST URL is the S3 mirror torchvision uses,
# safe to use because every file must match the published MD5.
SOURCES = {
    "mnist": (
        ["http://yann.lecun.com/exdb/mnist/", "https://ossci-datasets.s3.amazonaws.com/mnist/"],
        {"train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
         "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
         "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
         "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"}),
    "fashion-mnist": (
        ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
        {"train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
         "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
         "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
         "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"}),
    "cifar10": (
        ["https://www.cs.toronto.edu/~kriz/"],
        {"cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a"}),
}


class DownloadError(OSError):
    """A dataset could not be fetched (offline, refused, or a checksum mismatch)."""


def _md5(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fetch(url, target, timeout):
    # Into a temporary file first: an interrupted download must never look like a finished one.
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            shutil.copyfileobj(response, out, 1 << 20)
        return Path(tmp)
    except BaseException:
        os.unlink(tmp)
        raise


def _extract_cifar(archive, dest):
    # The tarball holds cifar-10-batches-py/<files>; put the files straight into dest.
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            name = os.path.basename(member.name)
            if member.isfile() and (name.startswith("data_batch_") or name in ("test_batch", "batches.meta")):
                with tar.extractfile(member) as src, open(dest / name, "wb") as out:
                    shutil.copyfileobj(src, out)


def download(name, dest=None, *, timeout=10.0, force=False):
    """Download dataset ``name`` (``"mnist"``, ``"fashion-mnist"`` or ``"cifar10"``) into ``dest``.

    ``dest`` defaults to ``$PYDL_DATA/<folder>`` (or ``~/.pydl/data/<folder>``), where the loaders look
    by default. Files already present with the right checksum are kept (unless ``force``). Every file is
    checked against the MD5 its authors publish; CIFAR-10's tarball is unpacked so that ``dest`` holds
    ``data_batch_1..5`` and ``test_batch``. Returns ``dest`` as a ``Path``.

    Raises :class:`DownloadError` when no source answers within ``timeout`` seconds (the message names
    the folder to put the files in by hand) or when a file's checksum is wrong.
    """
    if name not in SOURCES:
        raise ValueError(f"download: unknown dataset {name!r}; choose from {sorted(SOURCES)}")
    bases, files = SOURCES[name]
    dest = Path(dest).expanduser() if dest is not None else default_dir(name)
    dest.mkdir(parents=True, exist_ok=True)
    for filename, md5 in files.items():
        target = dest / filename
        if target.is_file() and not force and _md5(target) == md5:
            continue
        errors = []
        for base in bases:
            try:
                tmp = _fetch(base + filename, target, timeout)
            except (urllib.error.URLError, socket.timeout, ConnectionError, OSError) as e:
                errors.append(f"{base + filename}: {getattr(e, 'reason', e)}")
                continue
            actual = _md5(tmp)
            if actual != md5:
                tmp.unlink()
                errors.append(f"{base + filename}: MD5 {actual}, expected {md5}")
                continue
            os.replace(tmp, target)
            break
        else:
            listing = "\n".join(f"  {e}" for e in errors)
            raise DownloadError(
                f"download {name}: could not fetch {filename}:\n{listing}\n"
                f"Without internet access, copy the files ({', '.join(files)}) into {dest} "
                f"by hand (or set $PYDL_DATA to a folder holding {FOLDERS[name]}/).")
    if name == "cifar10":
        _extract_cifar(dest / "cifar-10-python.tar.gz", dest)
    return dest
