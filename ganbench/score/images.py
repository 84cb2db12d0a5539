"""Images to score from files, as uint8 (N, C, H, W) tensors: a folder of image files
(searched recursively, sorted by path) or one array in an ``.npz``.

Files hold 8-bit pixels, which are scored as stored. An array's values are brought to
uint8 the way training-time evaluation quantises a generator's output: floats with a
negative value are taken as [-1, 1] (``round((x + 1) * 127.5)``, G's tanh range),
other floats as [0, 1] (``round(x * 255)``); integers must lie in [0, 255]. Every
problem is one UserError naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganbench.data.images import IMAGE_SUFFIXES
from ganbench.errors import UserError
from ganbench.metrics.setup import setup_step

GREY_MODES = {"L": "L", "1": "L", "LA": "L"}  # alpha, where there is one, is dropped
COLOUR_MODES = {"RGB": "RGB", "RGBA": "RGB", "P": "RGB", "CMYK": "RGB", "YCbCr": "RGB"}
TOLERANCE = 1e-3  # floats this far outside their range are clamped, as G's output is
LOSSY = {".jpg", ".jpeg", ".webp"}


def image_files(folder: Path) -> list[Path]:
    """Every image file under ``folder``, sorted by path (the order samples are taken)."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def read_folder(folder: Path) -> tuple[torch.Tensor, dict[str, Any]]:
    """All images under ``folder`` (one size, all grey or all colour) and what they are."""
    files = image_files(folder)
    if not files:
        raise UserError(
            f"{folder}: no images found (looked recursively for "
            f"{', '.join(sorted(IMAGE_SUFFIXES))})"
        )
    arrays, first = [], None
    what = f"reading {len(files)} images"
    for i, path in enumerate(files):
        setup_step(what, i, len(files))
        pixels = _read_image(path)
        if first is None:
            first = (path, pixels.shape)
        elif pixels.shape != first[1]:
            raise UserError(
                f"{path}: {_shape_text(pixels.shape)}, but {first[0]} is "
                f"{_shape_text(first[1])}: every image must have one size and be all grey or "
                "all colour (resize or convert them first)"
            )
        arrays.append(pixels)
    setup_step(what, len(files), len(files))
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    suffixes = sorted({p.suffix.lower() for p in files})
    quantisation = "8-bit pixels as stored in the files"
    if LOSSY & set(suffixes):
        quantisation += " (JPEG/WebP are lossy: not the pixels the generator made)"
    described = {"files": len(files), "formats": suffixes, "quantisation": quantisation}
    return images, described


def _read_image(path: Path) -> np.ndarray:
    """One file's pixels as (H, W, 1) or (H, W, 3) uint8."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            mode = GREY_MODES.get(img.mode) or COLOUR_MODES.get(img.mode)
            if mode is None:
                raise UserError(
                    f"{path}: pixel mode {img.mode} is not 8-bit grey or colour; save the "
                    "images as 8-bit (L or RGB)"
                )
            pixels = np.asarray(img.convert(mode), dtype=np.uint8)
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as err:
        raise UserError(
            f"{path}: cannot be read as an image ({type(err).__name__}); remove or replace it"
        ) from None
    return pixels[..., None] if pixels.ndim == 2 else pixels


def _shape_text(shape: tuple[int, ...]) -> str:
    h, w, c = shape
    return f"{w}x{h} {'grey' if c == 1 else 'colour'}"


def read_npz(path: Path) -> tuple[torch.Tensor, dict[str, Any]]:
    """The images in an .npz: its array ``images``, else its only array."""
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as f:
            names = list(f.files)
            name = _images_array(path, names)
            array = f[name]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise UserError(
            f"{path}: not a readable .npz of numbers ({type(err).__name__}); save the images "
            "with numpy.savez(path, images=array)"
        ) from None
    images, quantisation = to_uint8(array, f"{path}[{name}]")
    return images, {"array": name, "dtype": str(array.dtype), "quantisation": quantisation}


def _images_array(path: Path, names: list[str]) -> str:
    if {"mu", "sigma"} <= set(names):
        raise UserError(
            f"{path}: reference statistics (mu, sigma), not images: give it as --reference-stats"
        )
    if "images" in names:
        return "images"
    if len(names) == 1:
        return names[0]
    raise UserError(
        f"{path}: holds {', '.join(names) or 'no arrays'}: keep one array in the file, or name "
        "the images' array `images`"
    )


def to_uint8(array: np.ndarray, where: str) -> tuple[torch.Tensor, str]:
    """(N, C, H, W) uint8 from an (N, H, W), (N, C, H, W) or (N, H, W, C) array, and how
    its values were brought to 8 bits."""
    x = _channels_first(array, where)
    if x.dtype == np.uint8:
        return torch.from_numpy(x.copy()), "uint8 as stored"
    if x.dtype.kind in "iu":
        low, high = int(x.min()), int(x.max())
        if low < 0 or high > 255:
            raise UserError(f"{where}: integers in [{low}, {high}]; expected [0, 255]")
        return torch.from_numpy(x.astype(np.uint8)), f"{x.dtype} in [0, 255], as 8 bits"
    if x.dtype.kind != "f":
        raise UserError(
            f"{where}: {x.dtype} values; expected uint8, or floats in [-1, 1] or [0, 1]"
        )
    return _floats_to_uint8(torch.from_numpy(x.astype(np.float32)), str(x.dtype), where)


def _floats_to_uint8(x: torch.Tensor, dtype: str, where: str) -> tuple[torch.Tensor, str]:
    if not torch.isfinite(x).all():
        raise UserError(f"{where}: holds NaN or infinite values")
    low, high = float(x.min()), float(x.max())
    seen = f"{dtype} in [{low:.3g}, {high:.3g}]"
    if low < 0:
        if low < -1 - TOLERANCE or high > 1 + TOLERANCE:
            raise UserError(f"{where}: {seen}; floats must lie in [-1, 1] or [0, 1]")
        # Exactly Evaluator.generate's quantisation of G's output.
        pixels = x.clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)
        return pixels, f"{seen} read as [-1, 1]: round((x + 1) * 127.5)"
    if high > 1 + TOLERANCE:
        raise UserError(
            f"{where}: {seen}; floats must lie in [-1, 1] or [0, 1] (8-bit values: save them "
            "as uint8)"
        )
    pixels = x.clamp(0, 1).mul(255).round().to(torch.uint8)
    return pixels, f"{seen} read as [0, 1] (no negative value): round(x * 255)"


def _channels_first(array: np.ndarray, where: str) -> np.ndarray:
    """The array as (N, C, H, W) with C 1 or 3."""
    if array.ndim == 3:
        return array[:, None]
    if array.ndim == 4 and array.shape[1] in (1, 3):
        return array
    if array.ndim == 4 and array.shape[3] in (1, 3):
        return np.ascontiguousarray(array.transpose(0, 3, 1, 2))
    raise UserError(
        f"{where}: shape {tuple(array.shape)}; expected images as (N, H, W), (N, C, H, W) or "
        "(N, H, W, C) with C 1 (grey) or 3 (colour)"
    )
