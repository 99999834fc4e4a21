#!/usr/bin/env python3
"""Reference fixtures for the Imaging module (Tests/Fixtures/images/).

Writes small PNG/JPEG files, what Pillow decodes them to, broken and hostile inputs, and what transformers'
CLIPImageProcessor (the PIL backend, which is what `CLIPImageProcessor` resolves to without torchvision)
makes of a few images under several preprocessor configs. Deterministic: fixed seeds, no timestamps.

Run from the repository root:  venv/bin/python scripts/fixtures_images.py
"""

import io
import json
import re
import shutil
import struct
import sys
import warnings
import zlib
from pathlib import Path

import numpy as np
import PIL
from PIL import Image, features

import transformers
from transformers import CLIPImageProcessor
from transformers.image_transforms import convert_to_rgb

OUT = Path(__file__).resolve().parent.parent / "Tests" / "Fixtures" / "images"


# --- image content ---------------------------------------------------------------------------------------


def synthetic_rgb(width, height, seed):
    """Gradients, a few discs and bars, and mild noise: smooth areas plus sharp edges that make the
    resampling filters overshoot and clip."""
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    r = 255 * x / max(width - 1, 1)
    g = 255 * y / max(height - 1, 1)
    b = 127.5 + 127.5 * np.sin((x + 2 * y) / 5.0)
    image = np.stack([r, g, b], axis=-1)
    for _ in range(4):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        radius = rng.uniform(0.1, 0.35) * min(width, height)
        colour = rng.randint(0, 256, size=3)
        image[(x - cx) ** 2 + (y - cy) ** 2 < radius**2] = colour
    image[:, (np.arange(width) % 11) < 2] = [255, 255, 255]
    image[(np.arange(height) % 13) < 1, :] = [0, 0, 0]
    image += rng.normal(0, 6, size=image.shape)
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


# --- a minimal PNG writer for the formats Pillow cannot write (16-bit RGB/RGBA/LA, 2-bit grey, Adam7) --


def png_chunk(kind, payload):
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def pack_rows(samples, bit_depth):
    """samples: (H, W*channels) integer array -> list of packed rows (without filter bytes)."""
    if bit_depth == 16:
        return [row.astype(">u2").tobytes() for row in samples]
    if bit_depth == 8:
        return [row.astype(np.uint8).tobytes() for row in samples]
    rows = []
    per_byte = 8 // bit_depth
    for row in samples:
        padded = np.zeros(-(-len(row) // per_byte) * per_byte, dtype=np.uint16)
        padded[: len(row)] = row
        packed = np.zeros(len(padded) // per_byte, dtype=np.uint16)
        for i in range(per_byte):
            packed |= padded[i::per_byte] << (8 - bit_depth * (i + 1))
        rows.append(packed.astype(np.uint8).tobytes())
    return rows


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def write_png(samples, bit_depth, color_type, interlace=False, extra_chunks=()):
    """samples: (H, W, channels) array with values in range for bit_depth."""
    height, width, channels = samples.shape
    raw = b""
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    for x0, y0, dx, dy in passes:
        sub = samples[y0::dy, x0::dx]
        if sub.shape[0] == 0 or sub.shape[1] == 0:
            continue
        for row in pack_rows(sub.reshape(sub.shape[0], -1), bit_depth):
            raw += b"\x00" + row
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 1 if interlace else 0)
    data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
    for kind, payload in extra_chunks:
        data += png_chunk(kind, payload)
    data += png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b"")
    return data


# --- fixture bookkeeping ---------------------------------------------------------------------------------


index = {"decode": [], "errors": [], "preprocess": []}


def save_bytes(name, data):
    (OUT / name).write_bytes(data)
    return name


def pil_bytes(image, fmt, **params):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def add_decode_case(name, data, note, reference_drop=None, tolerance=0):
    """Decodes `data` with Pillow both ways our decoder can: alpha dropped (`Image.convert("RGB")`) and
    alpha composited on white (transformers' `convert_to_rgb`, what CLIPImageProcessor does)."""
    save_bytes(name, data)
    image = Image.open(io.BytesIO(data))
    image.load()
    drop = np.asarray(image.convert("RGB")) if reference_drop is None else reference_drop
    composite = convert_to_rgb(image, return_numpy=True) if reference_drop is None else reference_drop
    case = {
        "file": name,
        "width": image.width,
        "height": image.height,
        "pil_mode": image.mode,
        "note": note,
        "tolerance": tolerance,
        "expected_drop_alpha": save_bytes(name + ".drop.rgb", drop.astype(np.uint8).tobytes()),
    }
    if not np.array_equal(drop, composite):
        case["expected_composite"] = save_bytes(name + ".composite.rgb", composite.astype(np.uint8).tobytes())
    else:
        case["expected_composite"] = case["expected_drop_alpha"]
    index["decode"].append(case)


def add_error_case(name, data, error, note):
    save_bytes(name, data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(data))
            image.load()
        pil = "decoded"
    except Exception as exc:  # noqa: BLE001 - we record whatever Pillow says
        pil = f"{type(exc).__name__}: {exc}"
    pil = re.sub(r" at 0x[0-9a-f]+", "", pil)  # object addresses would make the index non-deterministic
    index["errors"].append({"file": name, "error": error, "pil": pil[:160], "note": note})


# --- decoding fixtures -----------------------------------------------------------------------------------


def decode_fixtures():
    rgb = synthetic_rgb(37, 23, seed=1)
    rng = np.random.RandomState(2)
    alpha = rng.randint(0, 256, size=(23, 37)).astype(np.uint8)
    alpha[0, :8] = [0, 1, 2, 127, 128, 253, 254, 255]
    grey = np.asarray(Image.fromarray(rgb).convert("L"))

    add_decode_case("rgb_37x23.png", pil_bytes(Image.fromarray(rgb), "PNG"), "8-bit RGB")
    add_decode_case("grey_37x23.png", pil_bytes(Image.fromarray(grey), "PNG"), "8-bit grey")
    add_decode_case("bilevel_37x23.png", pil_bytes(Image.fromarray(grey).convert("1"), "PNG"), "1-bit grey")
    add_decode_case(
        "grey2bit_37x23.png",
        write_png((grey >> 6)[..., None], 2, 0),
        "2-bit grey (scaled to 0, 85, 170, 255)",
    )
    add_decode_case(
        "grey_alpha_37x23.png", pil_bytes(Image.fromarray(np.stack([grey, alpha], -1), "LA"), "PNG"), "8-bit grey+alpha"
    )
    add_decode_case("rgba_37x23.png", pil_bytes(Image.fromarray(np.dstack([rgb, alpha]), "RGBA"), "PNG"), "8-bit RGBA")
    palette = Image.fromarray(rgb).quantize(colors=200, method=Image.Quantize.MEDIANCUT)
    add_decode_case("palette_37x23.png", pil_bytes(palette, "PNG"), "8-bit palette")
    add_decode_case(
        "palette4bit_37x23.png",
        pil_bytes(Image.fromarray(rgb).quantize(colors=16, method=Image.Quantize.MEDIANCUT), "PNG", bits=4),
        "4-bit palette",
    )
    # tRNS on a palette: a few entries partly or fully transparent.
    trns = bytes([0, 64, 128, 200] + [255] * 196)
    add_decode_case(
        "palette_trns_37x23.png", pil_bytes(palette, "PNG", transparency=trns), "palette with tRNS alpha"
    )
    key = tuple(int(v) for v in rgb[5, 5])
    add_decode_case(
        "rgb_trns_37x23.png", pil_bytes(Image.fromarray(rgb), "PNG", transparency=key), "RGB with tRNS colour key"
    )
    add_decode_case(
        "grey_trns_37x23.png",
        pil_bytes(Image.fromarray(grey), "PNG", transparency=int(grey[3, 3])),
        "grey with tRNS key",
    )

    rng = np.random.RandomState(3)
    rgb16 = rng.randint(0, 65536, size=(23, 37, 3)).astype(np.uint16)
    rgb16[0, 0] = [0x00FF, 0xFF00, 0x8080]
    add_decode_case("rgb16_37x23.png", write_png(rgb16, 16, 2), "16-bit RGB (Pillow keeps the high byte)")
    rgba16 = rng.randint(0, 65536, size=(23, 37, 4)).astype(np.uint16)
    rgba16[0, :3, 3] = [0, 0x00FF, 0xFFFF]
    add_decode_case("rgba16_37x23.png", write_png(rgba16, 16, 6), "16-bit RGBA (high byte)")
    la16 = rng.randint(0, 65536, size=(23, 37, 2)).astype(np.uint16)
    add_decode_case("grey_alpha16_37x23.png", write_png(la16, 16, 4), "16-bit grey+alpha (high byte)")
    grey16 = rng.randint(0, 65536, size=(23, 37)).astype(np.uint16)
    high = (grey16 >> 8).astype(np.uint8)
    add_decode_case(
        "grey16_37x23.png",
        write_png(grey16[..., None], 16, 0),
        "16-bit grey: Pillow opens it as I;16 and its I;16->RGB conversion clips every value >= 256 to 255 "
        "(a nearly white image); we keep the high byte like libpng and like Pillow does for every other "
        "16-bit PNG, so the reference here is numpy's `value >> 8`, not Pillow",
        reference_drop=np.repeat(high[..., None], 3, axis=-1),
    )
    add_decode_case("interlaced_37x23.png", write_png(rgb, 8, 2, interlace=True), "Adam7-interlaced 8-bit RGB")

    # Every (value, alpha) pair, to pin the white compositing down exactly: x = value, y = alpha.
    values = np.tile(np.arange(256, dtype=np.uint8), (256, 1))
    alphas = values.T.copy()
    all_pairs = np.dstack([values, 255 - values, (values * 7 + alphas) & 255, alphas]).astype(np.uint8)
    image = Image.fromarray(all_pairs, "RGBA")
    save_bytes("alpha_pairs_256x256.png", pil_bytes(image, "PNG"))
    composite = convert_to_rgb(image, return_numpy=True)
    save_bytes("alpha_pairs_256x256.composite.png", pil_bytes(Image.fromarray(composite), "PNG"))
    index["alpha_pairs"] = {
        "file": "alpha_pairs_256x256.png",
        "expected_composite_png": "alpha_pairs_256x256.composite.png",
        "note": "R = x, G = 255 - x, B = (7x + y) & 255, A = y; expected = transformers convert_to_rgb",
    }

    # JPEG: Pillow's wheel bundles libjpeg-turbo 3.x, the system has 2.1.x; both use the same ISLOW IDCT
    # and fancy upsampling, so they normally agree exactly. The tolerance allows for a one-step difference.
    photo = synthetic_rgb(37, 23, seed=4)
    add_decode_case("rgb420_37x23.jpg", pil_bytes(Image.fromarray(photo), "JPEG", quality=90), "RGB JPEG, 4:2:0", tolerance=1)
    add_decode_case(
        "rgb444_37x23.jpg", pil_bytes(Image.fromarray(photo), "JPEG", quality=95, subsampling=0), "RGB JPEG, 4:4:4", tolerance=1
    )
    add_decode_case(
        "rgb422_37x23.jpg", pil_bytes(Image.fromarray(photo), "JPEG", quality=80, subsampling=1), "RGB JPEG, 4:2:2", tolerance=1
    )
    add_decode_case(
        "grey_37x23.jpg", pil_bytes(Image.fromarray(photo).convert("L"), "JPEG", quality=90), "greyscale JPEG", tolerance=1
    )
    add_decode_case(
        "progressive_37x23.jpg",
        pil_bytes(Image.fromarray(photo), "JPEG", quality=85, progressive=True),
        "progressive JPEG",
        tolerance=1,
    )
    add_decode_case(
        "cmyk_37x23.jpg",
        pil_bytes(Image.fromarray(photo).convert("CMYK"), "JPEG", quality=90),
        "CMYK JPEG with an Adobe marker (Pillow's cmyk2rgb)",
        tolerance=1,
    )


# --- broken and hostile inputs ---------------------------------------------------------------------------


def error_fixtures():
    rgb = synthetic_rgb(37, 23, seed=1)
    png = pil_bytes(Image.fromarray(rgb), "PNG")
    jpeg = pil_bytes(Image.fromarray(synthetic_rgb(37, 23, seed=4)), "JPEG", quality=90)
    progressive = pil_bytes(Image.fromarray(synthetic_rgb(37, 23, seed=4)), "JPEG", quality=85, progressive=True)

    add_error_case("truncated.png", png[: len(png) * 2 // 3], "truncated", "cut inside IDAT")
    add_error_case("truncated_header.png", png[:20], "truncated", "cut inside IHDR")
    add_error_case("truncated.jpg", jpeg[: len(jpeg) * 2 // 3], "truncated", "cut inside the entropy-coded data")
    add_error_case("truncated_progressive.jpg", progressive[: len(progressive) // 2], "truncated", "cut between scans")
    add_error_case("truncated_header.jpg", jpeg[:40], "truncated", "cut inside the header markers")

    bad_crc = bytearray(png)
    bad_crc[29] ^= 0xFF  # last byte of IHDR's CRC
    add_error_case("bad_crc.png", bytes(bad_crc), "corrupt", "IHDR CRC mismatch")
    idat = png.index(b"IDAT")
    garbage = bytearray(png)
    garbage[idat + 4 : idat + 40] = bytes(range(36))  # zlib stream header and first block destroyed
    fixed = bytes(garbage[: idat + 4 + struct.unpack(">I", png[idat - 4 : idat])[0]])
    crc = struct.pack(">I", zlib.crc32(fixed[idat:]))
    add_error_case("bad_zlib.png", fixed + crc + png_chunk(b"IEND", b""), "corrupt", "IDAT is not zlib data")
    add_error_case(
        "zero_width.png",
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 0, 23, 8, 2, 0, 0, 0)) + png_chunk(b"IEND", b""),
        "corrupt",
        "IHDR width 0",
    )
    add_error_case("jpeg_garbage.jpg", b"\xff\xd8\xff" + bytes((i * 37 + 11) & 255 for i in range(300)), "corrupt", "SOI then noise")
    add_error_case("not_an_image.txt", b"hello, this is not an image\n", "unsupportedFormat", "plain text")
    add_error_case("tiny.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "unsupportedFormat", "GIF is not supported")

    # Decompression bombs: tiny files whose headers claim huge images. The decoder must refuse them from the
    # header, before allocating anything for the pixels.
    row = b"\x00" + b"\x00" * 300
    bomb = (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0))
        + png_chunk(b"IDAT", zlib.compress(row * 4, 9))
        + png_chunk(b"IEND", b"")
    )
    add_error_case("bomb_100000x100000.png", bomb, "tooLarge", "header claims 100000x100000 RGB (30 GB)")
    sof = jpeg.index(b"\xff\xc0")
    patched = bytearray(jpeg)
    patched[sof + 5 : sof + 9] = struct.pack(">HH", 65000, 65000)  # height, width
    add_error_case("bomb_65000x65000.jpg", bytes(patched), "tooLarge", "SOF0 claims 65000x65000")


# --- CLIPImageProcessor outputs --------------------------------------------------------------------------


def preprocess_fixtures():
    inputs = {
        "photo_300x200.png": synthetic_rgb(300, 200, seed=10),
        "photo_80x64.png": synthetic_rgb(80, 64, seed=11),
        "photo_203x157.png": synthetic_rgb(203, 157, seed=12),
    }
    for name, pixels in inputs.items():
        save_bytes(name, pil_bytes(Image.fromarray(pixels), "PNG"))

    cases = [
        ("clip_default_300x200", "photo_300x200.png", None, "CLIP defaults (no preprocessor_config.json): 224/224, bicubic; upscales 200 -> 224"),
        ("shortest64_crop64_80x64", "photo_80x64.png", {"size": {"shortest_edge": 64}, "crop_size": {"height": 64, "width": 64}}, "no resize needed, crop only"),
        ("downscale_bicubic_203x157", "photo_203x157.png", {"size": {"shortest_edge": 48}, "crop_size": {"height": 48, "width": 48}, "resample": 3}, "antialiased bicubic downscale (x3.3)"),
        ("bilinear_nonsquare_203x157", "photo_203x157.png", {"size": {"shortest_edge": 40}, "crop_size": {"height": 32, "width": 40}, "resample": 2}, "bilinear, non-square crop"),
        ("upscale_bicubic_37x23", "rgb_37x23.png", {"size": {"shortest_edge": 64}, "crop_size": {"height": 64, "width": 64}}, "bicubic upscale"),
        ("rgba_composite_37x23", "rgba_37x23.png", {"size": {"shortest_edge": 32}, "crop_size": {"height": 32, "width": 32}}, "RGBA input: alpha composited on white first"),
        ("pad_crop_37x23", "rgb_37x23.png", {"do_resize": False, "crop_size": {"height": 48, "width": 48}}, "crop larger than the image: zero padding"),
        ("height_width_scalar_norm", "photo_203x157.png", {"size": {"height": 50, "width": 70}, "do_center_crop": False, "image_mean": 0.5, "image_std": 0.5}, "fixed (h, w) resize, scalar mean/std"),
        ("resize_only_203x157", "photo_203x157.png", {"size": {"shortest_edge": 61}, "do_center_crop": False, "do_rescale": False, "do_normalize": False}, "raw resized pixels as floats"),
        ("shortest_longest_203x157", "photo_203x157.png", {"size": {"shortest_edge": 60, "longest_edge": 70}, "do_center_crop": False}, "shortest_edge capped by longest_edge"),
        ("max_hw_203x157", "photo_203x157.png", {"size": {"max_height": 30, "max_width": 45}, "do_center_crop": False}, "max_height/max_width"),
        ("legacy_int_sizes_lanczos", "photo_203x157.png", {"size": 44, "crop_size": 40, "resample": 1}, "int size/crop_size (old configs), Lanczos"),
        ("nearest_203x157", "photo_203x157.png", {"size": {"shortest_edge": 40}, "crop_size": {"height": 40, "width": 40}, "resample": 0}, "nearest neighbour"),
        ("box_203x157", "photo_203x157.png", {"size": {"shortest_edge": 40}, "crop_size": {"height": 40, "width": 40}, "resample": 4}, "box filter"),
        ("hamming_203x157", "photo_203x157.png", {"size": {"shortest_edge": 40}, "crop_size": {"height": 40, "width": 40}, "resample": 5}, "Hamming filter"),
        ("custom_rescale_80x64", "photo_80x64.png", {"size": {"shortest_edge": 40}, "crop_size": {"height": 40, "width": 40}, "rescale_factor": 0.0078125, "image_mean": [0.1, 0.2, 0.3], "image_std": [0.9, 0.8, 0.7]}, "custom rescale factor, mean, std"),
    ]
    for name, image_name, config, note in cases:
        if config is None:
            processor = CLIPImageProcessor()
            config_path = None
        else:
            directory = OUT / "preprocess" / name
            directory.mkdir(parents=True, exist_ok=True)
            full = {"image_processor_type": "CLIPImageProcessor", **config}
            (directory / "preprocessor_config.json").write_text(json.dumps(full, indent=2) + "\n")
            processor = CLIPImageProcessor.from_pretrained(str(directory))
            config_path = f"preprocess/{name}"
        image = Image.open(OUT / image_name)
        output = processor(image, return_tensors="np")["pixel_values"][0]
        # uint8 when neither rescaled nor normalised; our preprocessor returns floats either way (exact).
        reference_dtype = str(output.dtype)
        assert output.ndim == 3 and output.shape[0] == 3, output.shape
        output_name = f"preprocess/{name}.f32"
        (OUT / "preprocess").mkdir(exist_ok=True)
        (OUT / output_name).write_bytes(output.astype("<f4").tobytes())
        index["preprocess"].append(
            {
                "name": name,
                "image": image_name,
                "config_directory": config_path,
                "output": output_name,
                "shape": list(output.shape),
                "reference_dtype": reference_dtype,
                "note": note,
            }
        )
    index["processor_class"] = type(CLIPImageProcessor()).__name__


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        decode_fixtures()
        error_fixtures()
        preprocess_fixtures()
    index["generator"] = {
        "script": "scripts/fixtures_images.py",
        "transformers": transformers.__version__,
        "pillow": PIL.__version__,
        "pillow_libjpeg_turbo": features.version("libjpeg_turbo"),
        "numpy": np.__version__,
    }
    (OUT / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {sum(1 for p in OUT.rglob('*') if p.is_file())} files, {total / 1024:.0f} KiB, to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
