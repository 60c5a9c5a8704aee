"""Where datasets live when no path is given, and the error that says where to put them."""
import os
from pathlib import Path

# Folder names below a data root; `download` writes there and the loaders look there.
FOLDERS = {"mnist": "mnist", "fashion-mnist": "fashion-mnist", "cifar10": "cifar-10"}


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are in none of the places searched; the message lists them and how to fix it."""


def data_roots():
    """The data roots searched, in order: ``$PYDL_DATA`` (when set), then ``~/.pydl/data``."""
    roots = []
    if os.environ.get("PYDL_DATA"):
        roots.append(Path(os.environ["PYDL_DATA"]).expanduser())
    roots.append(Path.home() / ".pydl" / "data")
    return roots


def default_dir(name):
    """The folder `download(name)` fills by default: the first data root's subfolder for ``name``."""
    return data_roots()[0] / FOLDERS[name]


def not_found(name, searched, missing):
    listing = "\n".join(f"  {p}" for p in searched)
    return DatasetNotFoundError(
        f"{name}: {missing} not found in any of:\n{listing}\n"
        f"Put the files in {searched[0]} (or pass another folder, or set $PYDL_DATA), or fetch them "
        f"with: python -c \"import pydl.datasets as d; d.download('{name}', '{searched[0]}')\"")
