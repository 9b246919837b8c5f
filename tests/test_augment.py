import torch

from pipeline.augment import InputPipeline, random_crop, random_hflip


def test_crop_without_padding_is_identity():
    x = torch.randint(0, 255, (3, 1, 5, 5), dtype=torch.uint8)
    assert torch.equal(random_crop(x, 0, torch.Generator().manual_seed(0)), x)


def test_each_crop_is_one_window_of_the_padded_image():
    b, p = 64, 2
    x = torch.arange(b * 2 * 6 * 6, dtype=torch.float32).view(b, 2, 6, 6) + 1  # no zeros inside
    out = random_crop(x, p, torch.Generator().manual_seed(1))
    padded = torch.nn.functional.pad(x, (p, p, p, p))
    offsets = set()
    for i in range(b):
        hits = [(dy, dx) for dy in range(2 * p + 1) for dx in range(2 * p + 1)
                if torch.equal(out[i], padded[i, :, dy:dy + 6, dx:dx + 6])]
        assert len(hits) == 1
        offsets.add(hits[0])
    assert len(offsets) > 10  # per-sample, not one offset for the batch


def test_flip_is_per_sample():
    x = torch.arange(200 * 4, dtype=torch.float32).view(200, 1, 1, 4)
    out = random_hflip(x, torch.Generator().manual_seed(0))
    flipped = (out == x.flip(3)).all(dim=(1, 2, 3))
    kept = (out == x).all(dim=(1, 2, 3))
    assert torch.all(flipped ^ kept)
    assert 60 < int(flipped.sum()) < 140


def test_pipeline_normalises_and_is_seeded():
    pipe = InputPipeline(torch.tensor([0.5]), torch.tensor([0.25]), torch.device("cpu"), crop_padding=2, hflip=True)
    x = torch.full((2, 1, 4, 4), 255, dtype=torch.uint8)
    plain = pipe(x)
    assert torch.allclose(plain, torch.full_like(plain, 2.0))  # (1 - 0.5) / 0.25
    a = pipe(torch.randint(0, 255, (8, 1, 6, 6), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)),
             torch.Generator().manual_seed(5))
    b = pipe(torch.randint(0, 255, (8, 1, 6, 6), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)),
             torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
