"""Dataset loading, on files the tests write in each dataset's real on-disk format."""

import gzip
import pickle
import struct

import numpy as np
import pytest
import torch

from pipeline.core import data, io
from pipeline.core.errors import DataError


def write_idx(path, array: np.ndarray, gz: bool = True) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if gz:
        with gzip.open(path.with_name(path.name + ".gz"), "wb") as fh:
            fh.write(payload)
    else:
        path.write_bytes(payload)


def fake_fashion_mnist(folder, n_train=30, n_test=10, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {
        "train_x": rng.integers(0, 256, (n_train, 28, 28)),
        "train_y": np.arange(n_train) % 10,
        "test_x": rng.integers(0, 256, (n_test, 28, 28)),
        "test_y": np.arange(n_test) % 10,
    }
    folder.mkdir(parents=True, exist_ok=True)
    for key, stem in data.FASHION_MNIST_FILES.items():
        write_idx(folder / stem, arrays[key], gz)
    return arrays


def test_digits_in_memory_as_uint8(digits):
    assert digits.train_x.dtype == torch.uint8 and digits.train_x.shape[1:] == (1, 8, 8)
    assert digits.train_y.dtype == torch.int64
    assert len(digits) == 1347 and digits.test_x.shape[0] == 450
    assert int(digits.train_x.max()) == 255 and digits.num_classes == 10


def test_stratified_subset_is_seeded_and_balanced(digits):
    sub = digits.subset(500, seed=3)
    assert len(sub) == 500 and torch.equal(sub.test_x, digits.test_x)
    full_share = torch.bincount(digits.train_y, minlength=10).double() / len(digits)
    sub_share = torch.bincount(sub.train_y, minlength=10).double() / 500
    assert torch.all((full_share - sub_share).abs() < 0.01)
    assert torch.equal(digits.subset(500, seed=3).train_x, sub.train_x)
    assert not torch.equal(digits.subset(500, seed=4).train_x, sub.train_x)
    with pytest.raises(DataError, match="larger than the 1347"):
        digits.subset(5000, seed=0)


def test_test_subset_is_stratified_and_leaves_training_alone(digits):
    sub = digits.subset(None, seed=0, test_size=200)
    assert sub.test_x.shape[0] == 200 and torch.equal(sub.train_x, digits.train_x)
    # digits' test set has 43 to 46 images per class: 200 of 450 keeps about 20 of each
    assert torch.bincount(sub.test_y, minlength=10).tolist() == pytest.approx([20] * 10, abs=1)
    with pytest.raises(DataError, match="data.test_size = 9 is smaller than the 10 classes"):
        digits.subset(None, seed=0, test_size=9)


@pytest.mark.parametrize("gz", [True, False])
def test_fashion_mnist_from_idx_files(tmp_path, gz):
    arrays = fake_fashion_mnist(tmp_path, gz=gz)
    ds = data.load_fashion_mnist(tmp_path, download=False)
    assert ds.train_x.shape == (30, 1, 28, 28) and ds.test_x.shape == (10, 1, 28, 28)
    assert np.array_equal(ds.train_x[:, 0].numpy(), arrays["train_x"])
    assert ds.train_y.tolist() == arrays["train_y"].tolist() and ds.classes[9] == "Ankle boot"


def test_fashion_mnist_in_torchvision_layout(tmp_path):
    fake_fashion_mnist(tmp_path / "FashionMNIST" / "raw")
    assert len(data.load_fashion_mnist(tmp_path, download=False)) == 30


def test_fashion_mnist_missing_names_both_ways_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", tmp_path / "nowhere")
    with pytest.raises(DataError) as err:
        data.load_fashion_mnist(tmp_path, download=False)
    msg = str(err.value)
    assert "apt-get install dataset-fashion-mnist" in msg and "torchvision" in msg and "\n" not in msg


def test_truncated_and_corrupt_idx_files_are_reported(tmp_path):
    fake_fashion_mnist(tmp_path, gz=False)
    images = tmp_path / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-5])
    with pytest.raises(DataError, match="truncated"):
        data.load_fashion_mnist(tmp_path, download=False)
    images.write_bytes(b"garbage!" * 10)
    with pytest.raises(DataError, match="not an idx file"):
        data.load_fashion_mnist(tmp_path, download=False)


def fake_cifar(root, name, n_train_per_file=4, n_test=6):
    folder_name, train_files, test_file, meta_file, label_key, names_key = data.CIFAR[name]
    folder = root / folder_name
    folder.mkdir(parents=True)
    n_classes = 10 if name == "cifar10" else 100
    rng = np.random.default_rng(0)
    written = {}
    for fname, n in [(f, n_train_per_file) for f in train_files] + [(test_file, n_test)]:
        batch = {
            "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            label_key: list(rng.integers(0, n_classes, n)),
            "filenames": [f"{i}.png" for i in range(n)],
        }
        with open(folder / fname, "wb") as fh:
            pickle.dump(batch, fh)
        written[fname] = batch
    with open(folder / meta_file, "wb") as fh:
        pickle.dump({names_key: [f"class{i}" for i in range(n_classes)]}, fh)
    return written


@pytest.mark.parametrize("name, n_train", [("cifar10", 20), ("cifar100", 4)])
def test_cifar_from_python_pickle_batches(tmp_path, name, n_train):
    written = fake_cifar(tmp_path, name)
    ds = data.load_cifar(name, tmp_path, download=False)
    assert ds.train_x.shape == (n_train, 3, 32, 32) and ds.test_x.shape == (6, 3, 32, 32)
    first_file = data.CIFAR[name][1][0]
    # row-major 3072 = 3 planes of 32x32 (R, G, B)
    assert np.array_equal(ds.train_x[0].numpy().reshape(-1), written[first_file]["data"][0])
    assert ds.num_classes == (10 if name == "cifar10" else 100)
    label_key = data.CIFAR[name][4]
    assert ds.test_y.tolist() == [int(v) for v in written[data.CIFAR[name][2]][label_key]]


def test_corrupt_cifar_batch_is_reported(tmp_path):
    fake_cifar(tmp_path, "cifar10")
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"\x80\x04not a pickle")
    with pytest.raises(DataError, match="data_batch_3 is corrupt"):
        data.load_cifar("cifar10", tmp_path, download=False)


def test_missing_cifar_without_download(tmp_path):
    with pytest.raises(DataError, match="cifar10 not found"):
        data.load_cifar("cifar10", tmp_path, download=False)


def test_prepared_round_trip_and_md5(tmp_path, digits):
    path = tmp_path / "prepared" / "dataset.pt"
    md5 = data.save_prepared(digits, path)
    assert md5 == io.file_md5(path) and len(md5) == 32
    back = data.load_prepared(path)
    assert torch.equal(back.train_x, digits.train_x) and back.classes == digits.classes
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DataError, match="corrupt"):
        data.load_prepared(path)
