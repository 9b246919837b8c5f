import torch

from pipeline.core.augment import InputPipeline, random_crop, random_hflip


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
        hits = [
            (dy, dx)
            for dy in range(2 * p + 1)
            for dx in range(2 * p + 1)
            if torch.equal(out[i], padded[i, :, dy : dy + 6, dx : dx + 6])
        ]
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
    a = pipe(
        torch.randint(0, 255, (8, 1, 6, 6), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)),
        torch.Generator().manual_seed(5),
    )
    b = pipe(
        torch.randint(0, 255, (8, 1, 6, 6), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)),
        torch.Generator().manual_seed(5),
    )
    assert torch.equal(a, b)


def test_resized_crop_of_the_whole_image_without_flip_is_the_identity():
    from pipeline.core.augment import random_resized_crop

    x = torch.rand(4, 3, 8, 8)
    out = random_resized_crop(x, torch.Generator().manual_seed(0), min_scale=1.0, ratio=(1.0, 1.0), hflip=False)
    assert torch.allclose(out, x, atol=1e-6)


def test_resized_crop_flips_about_half_the_samples_and_zooms_within_range():
    from pipeline.core.augment import random_resized_crop

    x = torch.rand(64, 1, 8, 8)
    out = random_resized_crop(x, torch.Generator().manual_seed(0), min_scale=1.0, ratio=(1.0, 1.0))
    same = torch.isclose(out, x, atol=1e-6).flatten(1).all(1)
    flipped = torch.isclose(out, x.flip(3), atol=1e-6).flatten(1).all(1)
    assert bool((same | flipped).all()) and 16 < int(flipped.sum()) < 48
    zoomed = random_resized_crop(x, torch.Generator().manual_seed(1), min_scale=0.2)
    assert not torch.allclose(zoomed, x) and float(zoomed.min()) >= 0.0 and float(zoomed.max()) <= 1.0


def test_colour_jitter_switches():
    from pipeline.core.augment import colour_jitter

    gen = torch.Generator().manual_seed(0)
    x = torch.rand(8, 3, 4, 4)
    assert torch.equal(colour_jitter(x, gen, p=0.0, p_gray=0.0), x)
    assert torch.allclose(colour_jitter(x, gen, strength=0.0, p=1.0, p_gray=0.0), x, atol=1e-6)
    gray = colour_jitter(x, gen, p=0.0, p_gray=1.0)
    assert torch.equal(gray[:, 0], gray[:, 1]) and torch.equal(gray[:, 1], gray[:, 2])
    one_channel = torch.rand(8, 1, 4, 4)
    assert colour_jitter(one_channel, gen).shape == one_channel.shape


def test_shift_hue_by_hand():
    from pipeline.core.augment import shift_hue

    # One pixel per image: red, red, red, a gray, and orange (1, 0.5, 0): hue 1/12, s = 1, v = 1.
    pixels = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.4, 0.4, 0.4], [1.0, 0.5, 0.0]])
    shift = torch.tensor([1 / 3, -1 / 3, 1 / 6, 0.25, 1 / 24])
    out = shift_hue(pixels.view(5, 3, 1, 1), shift).view(5, 3)
    expected = torch.tensor(
        [
            [0.0, 1.0, 0.0],  # red + 1/3 turn: green
            [0.0, 0.0, 1.0],  # red - 1/3 turn: blue
            [1.0, 1.0, 0.0],  # red + 1/6 turn: yellow
            [0.4, 0.4, 0.4],  # a gray has no hue to turn
            [1.0, 0.75, 0.0],
        ]
    )  # orange + 1/24 turn: hue 1/8, so green = 6 * 1/8 of red
    assert torch.allclose(out, expected, atol=1e-6)


def test_shift_hue_matches_torchvision_per_image():
    from torchvision.transforms.functional import adjust_hue

    from pipeline.core.augment import shift_hue

    x = torch.rand(6, 3, 5, 7, generator=torch.Generator().manual_seed(0))
    x[0, :, 0, 0] = 0.0  # black, and a pixel whose channels tie
    x[1, :, 1, 1] = torch.tensor([0.7, 0.7, 0.2])
    shift = torch.tensor([-0.5, -0.1, 0.0, 0.05, 0.3, 0.5])
    expected = torch.stack([adjust_hue(img, float(h)) for img, h in zip(x, shift)])
    assert torch.allclose(shift_hue(x, shift), expected, atol=1e-5)


def test_two_views_differ_and_are_seeded(digits):
    from pipeline.core.augment import TwoViews

    views = TwoViews(*digits.channel_stats(), torch.device("cpu"))
    images = digits.train_x[:32]
    a1, a2 = views(images, torch.Generator().manual_seed(5))
    b1, b2 = views(images, torch.Generator().manual_seed(5))
    assert a1.shape == (32, 1, 8, 8) and a1.dtype == torch.float32
    assert torch.equal(a1, b1) and torch.equal(a2, b2) and not torch.equal(a1, a2)
