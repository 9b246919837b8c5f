"""Image datasets, registered by name, and the readers of their files.

digits (scikit-learn's bundled 8x8 digits), fashion_mnist (idx files: a configured root,
Debian's dataset-fashion-mnist, or torchvision's download) and cifar10 / cifar100 (the
python-pickle batches torchvision downloads). Files are parsed here, so a truncated or
corrupt file is reported as such.

Adding a dataset: one function `root -> ImageDataset` decorated with `@register("name")`.
params.yaml's `data.dataset` accepts every registered name (with a typo hint for others).
Each loads as an ImageDataset (images.py: uint8 image tensors [N, C, H, W] plus int64 labels),
whose prepared file the stages share; those names are importable from here as well.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from . import timing
from .errors import DataError
from .images import ImageDataset
from .images import load_prepared as load_prepared  # re-exported: the pipeline reads the prepared file as data's
from .images import save_prepared as save_prepared
from .registry import lookup, registrar

Loader = Callable[[Path], ImageDataset]
REGISTRY: dict[str, Loader] = {}


# @register("name") registers `loader(root)` as the dataset `name` (root: params.yaml's data.root,
# where files are looked for and downloaded to).
register: Callable[[str], Callable[[Loader], Loader]] = registrar(REGISTRY)


DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}
FASHION_MNIST_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
CIFAR = {  # folder, training files, test file, meta file, label key, class-name key
    "cifar10": (
        "cifar-10-batches-py",
        [f"data_batch_{i}" for i in range(1, 6)],
        "test_batch",
        "batches.meta",
        "labels",
        "label_names",
    ),
    "cifar100": ("cifar-100-python", ["train"], "test", "meta", "fine_labels", "fine_label_names"),
}


def _dataset(name, train_x, train_y, test_x, test_y, classes) -> ImageDataset:
    as_u8 = lambda a: torch.from_numpy(np.array(a, dtype=np.uint8))  # a writable copy
    as_i64 = lambda a: torch.from_numpy(np.asarray(a, dtype=np.int64))
    return ImageDataset(name, as_u8(train_x), as_i64(train_y), as_u8(test_x), as_i64(test_y), tuple(classes))


# --- digits ---------------------------------------------------------------------------------


@register("digits")
def load_digits(root: str | Path | None = None) -> ImageDataset:
    """scikit-learn's 1,797 8x8 digits (values 0..16 scaled to 0..255), a fixed stratified 75/25 split."""
    from sklearn.datasets import load_digits as sk_digits
    from sklearn.model_selection import train_test_split

    bunch = sk_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:, None]
    tr, te = train_test_split(np.arange(len(images)), test_size=0.25, stratify=bunch.target, random_state=0)
    return _dataset("digits", images[tr], bunch.target[tr], images[te], bunch.target[te], [str(d) for d in range(10)])


# --- Fashion-MNIST --------------------------------------------------------------------------


def read_idx(path: Path) -> np.ndarray:
    """Parse an idx file (optionally gzipped): magic 0x0000 0x08 <ndim>, big-endian sizes, uint8 data."""
    try:
        with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as err:
        raise DataError(f"{path} is corrupt ({err}): delete it and fetch the dataset again") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or not 1 <= raw[3] <= 4:
        raise DataError(f"{path} is not an idx file of uint8 data: delete it and fetch the dataset again")
    ndim = raw[3]
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    offset = 4 + 4 * ndim
    if len(raw) - offset != int(np.prod(shape)):
        raise DataError(
            f"{path} is truncated (expected {int(np.prod(shape))} values for shape {shape}): "
            f"delete it and fetch the dataset again"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(shape)


def find_idx(folder: Path, stem: str) -> Path | None:
    """The idx file `stem` in `folder`, gzipped or not; None when it is not there."""
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def fashion_mnist_folders(root: Path) -> list[Path]:
    """Where Fashion-MNIST is looked for, in order: the root, torchvision's layout under it, Debian's."""
    return [root, root / "FashionMNIST" / "raw", DEBIAN_FASHION_MNIST]


@register("fashion_mnist")
def load_fashion_mnist(root: str | Path, download: bool = True) -> ImageDataset:
    root = Path(root)
    for folder in fashion_mnist_folders(root):
        files = {k: find_idx(folder, stem) for k, stem in FASHION_MNIST_FILES.items()}
        if all(files.values()):
            break
    else:
        if not download or not _torchvision_download("fashion_mnist", root):
            raise DataError(
                f"Fashion-MNIST not found in {root} or {DEBIAN_FASHION_MNIST}, and torchvision could not "
                f"download it: install Debian's package (apt-get install dataset-fashion-mnist) or run once "
                f"where torchvision can download it into data.root"
            )
        return load_fashion_mnist(root, download=False)
    arrays = {k: read_idx(p) for k, p in files.items()}
    for split in ("train", "test"):
        if len(arrays[f"{split}_x"]) != len(arrays[f"{split}_y"]) or arrays[f"{split}_x"].ndim != 3:
            raise DataError(
                f"Fashion-MNIST {split} files in {folder} do not match (images vs labels): "
                f"delete them and fetch the dataset again"
            )
    return _dataset(
        "fashion_mnist",
        arrays["train_x"][:, None],
        arrays["train_y"],
        arrays["test_x"][:, None],
        arrays["test_y"],
        FASHION_MNIST_CLASSES,
    )


# --- CIFAR-10 / CIFAR-100 -------------------------------------------------------------------


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh, encoding="latin1")
    except FileNotFoundError:
        raise DataError(f"{path} is missing: delete its folder and fetch the dataset again") from None
    except (pickle.UnpicklingError, EOFError, ValueError, OSError) as err:
        raise DataError(
            f"{path} is corrupt ({type(err).__name__}): delete its folder and fetch the dataset again"
        ) from None


def _cifar_split(folder: Path, files: list[str], label_key: str) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for name in files:
        batch = _unpickle(folder / name)
        try:
            data = np.asarray(batch["data"], dtype=np.uint8)
            labels = np.asarray(batch[label_key], dtype=np.int64)
            xs.append(data.reshape(-1, 3, 32, 32))
        except (KeyError, ValueError):
            raise DataError(
                f"{folder / name} is not a CIFAR batch (no '{label_key}' or bad data shape): "
                f"delete its folder and fetch the dataset again"
            ) from None
        if len(labels) != len(xs[-1]):
            raise DataError(f"{folder / name} has {len(xs[-1])} images but {len(labels)} labels: fetch it again")
        ys.append(labels)
    return np.concatenate(xs), np.concatenate(ys)


def load_cifar(name: str, root: str | Path, download: bool = True) -> ImageDataset:
    folder_name, train_files, test_file, meta_file, label_key, names_key = CIFAR[name]
    root = Path(root)
    folder = root / folder_name
    if not folder.is_dir():
        if not download or not _torchvision_download(name, root):
            raise DataError(
                f"{name} not found in {folder} and torchvision could not download it: "
                f"run once where the network reaches cs.toronto.edu, or copy {folder_name}/ into {root}"
            )
    train_x, train_y = _cifar_split(folder, train_files, label_key)
    test_x, test_y = _cifar_split(folder, [test_file], label_key)
    classes = _unpickle(folder / meta_file).get(names_key)
    if not classes:
        raise DataError(f"{folder / meta_file} has no '{names_key}': delete its folder and fetch the dataset again")
    return _dataset(name, train_x, train_y, test_x, test_y, classes)


for _name in CIFAR:
    register(_name)(lambda root, name=_name: load_cifar(name, root))


def _torchvision_download(name: str, root: Path) -> bool:
    """Let torchvision fetch the files into `root`; False (not an exception) when it cannot."""
    import torchvision.datasets as tvd

    cls = {"fashion_mnist": tvd.FashionMNIST, "cifar10": tvd.CIFAR10, "cifar100": tvd.CIFAR100}[name]
    try:
        root.mkdir(parents=True, exist_ok=True)
        for train in (True, False):
            cls(str(root), train=train, download=True)
        return True
    except Exception as err:  # network errors come in many types; any failure means "not downloaded"
        print(f"note: torchvision could not download {name}: {type(err).__name__}: {err}".splitlines()[0])
        return False


@timing.timed("data")
def load_dataset(
    name: str,
    root: str | Path = "data/raw",
    train_size: int | None = None,
    subset_seed: int = 0,
    test_size: int | None = None,
) -> ImageDataset:
    return lookup(REGISTRY, name, "dataset")(Path(root)).subset(train_size, subset_seed, test_size)
