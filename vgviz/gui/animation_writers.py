"""Animations of the views as files: an animated GIF, an MP4 (H.264, through the ffmpeg
that imageio-ffmpeg ships) or a folder of numbered PNG frames.

Each writer checks what it wrote before anything is replaced (the GIF read back, ffmpeg's
exit status and the MP4's top-level boxes, every PNG written with Python I/O) and goes
through vgviz.core.files, so a full disk or a cancelled export keeps the old file.
"""
from __future__ import annotations

import contextlib
import errno
import math
import os
import re
import shutil
import signal
import struct
import subprocess
import tempfile
import threading
from collections import deque
from fractions import Fraction
from typing import Callable, Iterable

from PySide6 import QtGui

from ..core.files import (atomic_path, chmod_like_new, clean_stale_temporaries, describe_os_error, sync_folder,
                          target_folder, temp_prefix, write_bytes)
from .export import (ANIMATION_FORMATS, MP4_MISSING, ExportError, check_target, encode_png,
                     format_of, mp4_available)

MAX_GIF_PIXELS = 400_000_000  # all frames together, as 8-bit pixels held in memory


class Cancelled(Exception):
    """The user cancelled a long export; nothing was written."""


def _qimage_to_rgb_array(image: QtGui.QImage):
    import numpy as np

    img = image.convertToFormat(QtGui.QImage.Format.Format_RGB888)
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    arr = np.frombuffer(img.constBits(), dtype=np.uint8, count=bpl * h).reshape(h, bpl)
    return arr[:, : w * 3].reshape(h, w, 3).copy()


def _pil_image(image: QtGui.QImage):
    from PIL import Image

    return Image.fromarray(_qimage_to_rgb_array(image), "RGB")


def check_gif_size(count: int, width: int, height: int) -> None:
    """Refuse a GIF of ``count`` frames of width × height pixels that would not fit in
    MAX_GIF_PIXELS: before anything is trained or drawn."""
    if count * width * height > MAX_GIF_PIXELS:
        raise ExportError(f"the GIF would be too large ({count} frames of {width}×{height}); "
                          "use fewer frames, a smaller scale, MP4 or PNG frames")


def write_animation(frames: Iterable[QtGui.QImage], path: str | os.PathLike, *, fps: float = 1.5,
                    count: int | None = None, progress: Callable[[int], bool] | None = None,
                    hold_last: float = 2.0) -> int:
    """Write the frames as a GIF, an MP4 or a folder of numbered PNGs (by ``path``:
    .gif, .mp4, or a folder path ending in a separator). ``progress(i)`` is called
    after each frame; returning False cancels (Cancelled is raised and nothing is
    left behind). The last frame is held ``hold_last`` times as long. ``count``, the
    number of frames expected, lets a GIF too large be refused at its first frame.
    Returns the number of frames written."""
    fmt = format_of(path)
    if fmt not in ANIMATION_FORMATS:
        raise ExportError(f"{os.fspath(path)}: an animation is .gif, .mp4, or a folder ending in /")
    if not (fps > 0 and math.isfinite(fps)):
        raise ExportError(f"frame rate must be a positive number; got {fps!r}")
    if fmt == "mp4" and not mp4_available():
        raise ExportError(MP4_MISSING)
    check_target(path, fmt)                      # fail before drawing anything
    if fmt == "gif":
        return _write_gif(frames, os.fspath(path), fps, progress, hold_last, count)
    writer = {"mp4": _write_mp4, "frames": _write_frames}[fmt]
    return writer(frames, os.fspath(path), fps, progress, hold_last)


def _tick(progress, i: int) -> None:
    if progress is not None and progress(i) is False:
        raise Cancelled()


def _to_palette(rgb):
    """One adaptive 256-colour palette per frame, no dithering (the views are flat colours,
    lines and text). Max-coverage keeps small areas true: the colour bar, the layer labels
    (median cut, Pillow's default, shifted them by up to 200 levels). A large frame takes
    its palette from every other pixel, which is as good and 3× faster."""
    from PIL import Image

    source = rgb if rgb.width * rgb.height <= 1_500_000 else rgb.resize((rgb.width // 2, rgb.height // 2),
                                                                          Image.Resampling.NEAREST)
    palette = source.quantize(colors=256, method=Image.Quantize.MAXCOVERAGE, dither=Image.Dither.NONE)
    return palette if source is rgb else rgb.quantize(palette=palette, dither=Image.Dither.NONE)


def _verify_gif(path: str, target: str, expected_frames: int) -> None:
    """Read the written GIF back: every frame there and the file complete (its trailer byte)."""
    from PIL import Image

    try:
        with Image.open(path) as gif:
            n = getattr(gif, "n_frames", 1)
            gif.seek(n - 1)
            gif.load()
        with open(path, "rb") as fh:
            fh.seek(-1, os.SEEK_END)
            complete = fh.read(1) == b";"
    except OSError as err:
        if err.errno is not None:
            raise
        raise ExportError(f"cannot write {target}: the GIF written cannot be read back ({err})") from None
    except (ValueError, EOFError, SyntaxError) as err:
        raise ExportError(f"cannot write {target}: the GIF written cannot be read back ({err})") from None
    if n != expected_frames or not complete:
        raise ExportError(f"cannot write {target}: the GIF written is incomplete "
                          f"({n} of {expected_frames} frames{'' if complete else ', no end marker'})")


def _write_gif(frames, path, fps, progress, hold_last, count=None) -> int:
    images, pixels = [], 0
    for i, frame in enumerate(frames):
        rgb = _pil_image(frame)
        if i == 0 and count:
            check_gif_size(count, rgb.width, rgb.height)
        pixels += rgb.width * rgb.height
        if pixels > MAX_GIF_PIXELS:
            check_gif_size(i + 1, rgb.width, rgb.height)
        images.append(_to_palette(rgb))
        _tick(progress, i)
    if not images:
        raise ExportError("nothing to write: no frames")
    ms = max(20, round(1000 / fps))
    durations = [ms] * len(images)
    durations[-1] = round(ms * max(hold_last, 1.0))
    with atomic_path(path, ".gif", verify=lambda tmp: _verify_gif(tmp, path, len(images))) as tmp:
        # disposal 1 and no optimisation: every frame is stored whole, so each view frame is one GIF frame
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0,
                       optimize=False, disposal=1)
    return len(images)


def _verify_mp4(path: str, target: str) -> None:
    """Walk the MP4's top-level boxes: a playable file starts with ftyp and holds a moov
    (the index) and an mdat (the pictures), each box within the file. ffmpeg stopped by a
    full disk leaves a file without its moov ("moov atom not found")."""
    size = os.path.getsize(path)
    boxes: dict[bytes, int] = {}
    first = None
    with open(path, "rb") as fh:
        pos = 0
        while pos < size:
            fh.seek(pos)
            head = fh.read(8)
            if len(head) < 8:
                break
            box_size, kind = struct.unpack(">I4s", head)
            header = 8
            if box_size == 1:                        # a 64-bit size follows the type
                large = fh.read(8)
                if len(large) < 8:
                    break
                box_size, header = struct.unpack(">Q", large)[0], 16
            elif box_size == 0:                      # the last box runs to the end of the file
                box_size = size - pos
            if box_size < header or pos + box_size > size:
                break
            first = first or kind
            boxes[kind] = box_size
            pos += box_size
    problem = None
    if pos != size:
        problem = "it is cut short"
    elif first != b"ftyp":
        problem = "it does not start as an MP4 does"
    elif b"moov" not in boxes:
        problem = "it has no index (moov)"
    elif boxes.get(b"mdat", 0) <= 16:
        problem = "it holds no pictures (mdat)"
    if problem:
        raise ExportError(f"cannot write {target}: the video ffmpeg wrote is not playable: {problem}")


def _ffmpeg_reason(lines, code: int | None = None) -> str:
    """ffmpeg's last error line, without its '[muxer @ 0x…]' prefix, or how it ended."""
    for line in reversed(lines):
        text = re.sub(r"^\[[^\]]*\]\s*", "", line.strip())
        if text:
            return text
    if code is not None and code < 0:
        if -code == getattr(signal, "SIGXFSZ", None):        # over the file size limit
            return describe_os_error(OSError(errno.EFBIG, ""))
        return f"it was stopped by signal {-code}"
    return f"exit status {code}" if code else "no message"


def _no_space_left(folder: str, margin: int = 64 * 1024) -> bool:
    try:
        return shutil.disk_usage(folder).free < margin
    except OSError:
        return False


def _write_mp4(frames, path, fps, progress, hold_last) -> int:
    """Frames piped to ffmpeg (the binary imageio-ffmpeg ships). ffmpeg is run here rather
    than through imageio_ffmpeg.write_frames, which ignores ffmpeg's exit status (a full
    disk gave an unplayable file and no error) and lets its messages through to stderr."""
    import imageio_ffmpeg
    import numpy as np

    n = 0
    with atomic_path(path, ".mp4", verify=lambda tmp: _verify_mp4(tmp, path)) as tmp:
        proc = None
        messages: deque[str] = deque(maxlen=20)
        reader = None
        last = None
        stopped = False
        try:
            for i, frame in enumerate(frames):
                arr = _qimage_to_rgb_array(frame)
                if proc is None:
                    h, w = arr.shape[:2]
                    size = (w + w % 2, h + h % 2)          # H.264 4:2:0 needs even sides: pad, never scale
                    pad = (size[1] - h, size[0] - w)
                    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-f", "rawvideo", "-vcodec", "rawvideo",
                           "-s", f"{size[0]}x{size[1]}", "-pix_fmt", "rgb24",
                           "-r", str(Fraction(fps).limit_denominator()), "-i", "-", "-an",
                           "-vcodec", "libx264", "-pix_fmt", "yuv420p", "-crf", "10",
                           "-movflags", "+faststart", "-v", "error", tmp]
                    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.PIPE,
                                            creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
                    reader = threading.Thread(target=lambda: messages.extend(
                        proc.stderr.read().decode("utf-8", "replace").splitlines()), daemon=True)
                    reader.start()
                if pad != (0, 0):
                    arr = np.pad(arr, ((0, pad[0]), (0, pad[1]), (0, 0)), mode="edge")
                last = np.ascontiguousarray(arr)
                if not _send(proc, last):
                    stopped = True
                    break
                n += 1
                _tick(progress, i)
            if proc is None:
                raise ExportError("nothing to write: no frames")
            for _ in range(max(0, round(hold_last) - 1)):
                _send(proc, last)
            with contextlib.suppress(OSError):
                proc.stdin.close()
            code = proc.wait()
        except BaseException:
            if proc is not None:
                proc.kill()
                proc.wait()
            raise
        finally:
            if reader is not None:
                reader.join(5)
                proc.stderr.close()
        if code != 0:
            reason = _ffmpeg_reason(messages, code)
            if _no_space_left(os.path.dirname(tmp)):  # ffmpeg's own last line may not say so
                raise ExportError(f"cannot write {path}: {describe_os_error(OSError(errno.ENOSPC, ''))} "
                                  f"(ffmpeg: {reason})")
            raise ExportError(f"cannot write {path}: ffmpeg failed: {reason}")
        if stopped:
            raise ExportError(f"cannot write {path}: ffmpeg stopped taking frames ({_ffmpeg_reason(messages, code)})")
    return n


def _send(proc, arr) -> bool:
    """One frame to ffmpeg; False if ffmpeg has stopped (its exit status and messages say why)."""
    try:
        proc.stdin.write(arr.data)
    except (BrokenPipeError, ValueError, OSError):
        return False
    return True


def _write_frames(frames, path, fps, progress, hold_last) -> int:
    target = os.path.normpath(os.path.abspath(path))
    parent = target_folder(target)
    check_target(path, "frames")
    clean_stale_temporaries(parent)
    try:
        tmp = tempfile.mkdtemp(prefix=temp_prefix("frames-"), dir=parent)
    except OSError as err:
        raise ExportError(f"cannot write {path}: {describe_os_error(err)}") from None
    n = 0
    try:
        for i, frame in enumerate(frames):
            write_bytes(os.path.join(tmp, f"frame-{i + 1:04d}.png"), encode_png(frame, path))
            n += 1
            _tick(progress, i)
        if not n:
            raise ExportError("nothing to write: no frames")
        chmod_like_new(tmp, 0o777)
        for name in os.listdir(tmp):
            chmod_like_new(os.path.join(tmp, name), 0o666)
        sync_folder(tmp)
        if os.path.isdir(target):             # replace an earlier export: move it aside, then swap
            old = tempfile.mkdtemp(prefix=temp_prefix("old-"), dir=parent)
            os.replace(target, os.path.join(old, "x"))
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
        sync_folder(parent)
    except OSError as err:
        raise ExportError(f"cannot write {path}: {describe_os_error(err)}") from None
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return n
