"""``make doctor``: what a student needs to know when something is off with the installation.

``python -m course_lib.teaching.doctor`` prints Python, PyTorch and its build (CPU, CUDA, MPS), the device the
course will train on, where data and the cache live, whether Chromium is there for the browser test, free
disk and memory. Lines that need attention start with "!"; the exit status is 1 when one does.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
from pathlib import Path

SUPPORTED_PYTHON = ((3, 11), (3, 14))
MIN_FREE_DISK, MIN_MEMORY = 2e9, 4e9          # bytes: the course needs about 1.5 GB a chapter at its peak


def _memory_bytes() -> tuple[float, float] | None:
    """(total, available) memory in bytes, from /proc/meminfo (Linux) or sysconf; None when unknown."""
    try:
        info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
        return float(info["MemTotal"].split()[0]) * 1024, float(info["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        try:
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
            return float(total), float("nan")
        except (ValueError, OSError, AttributeError):
            return None


def report() -> list[tuple[bool, str]]:
    """The doctor's findings: (fine, line) pairs, in the order printed."""
    lines: list[tuple[bool, str]] = []
    version = sys.version_info[:2]
    low, high = SUPPORTED_PYTHON
    lines.append((low <= version <= high, f"Python {platform.python_version()} at {sys.executable}"
                  + ("" if low <= version <= high else f" — the course supports {low[0]}.{low[1]} to "
                     f"{high[0]}.{high[1]}: `make clean && make lab PYTHON=python3.12`")))
    try:
        import torch
    except ImportError as error:
        lines.append((False, f"PyTorch is not installed ({error}): run `make lab` (or `make lab TORCH=cpu`)"))
        return lines
    if torch.version.cuda:
        build = f"CUDA {torch.version.cuda} build"
    elif getattr(torch.version, "hip", None):
        build = f"ROCm {torch.version.hip} build"
    else:
        build = "CPU build"
    lines.append((True, f"PyTorch {torch.__version__}, {build}; {torch.get_num_threads()} threads on "
                        f"{os.cpu_count()} CPUs"))
    cuda, mps = torch.cuda.is_available(), torch.backends.mps.is_available()
    if torch.version.cuda and not cuda:
        lines.append((False, "a CUDA build of PyTorch but no usable GPU: gigabytes of CUDA libraries for nothing; "
                             "`make clean && make lab TORCH=cpu` installs the CPU build"))
    if cuda:
        lines.append((True, f"GPU: {torch.cuda.get_device_name(0)}"))
    lines.append((True, f"MPS (Apple GPU): {'available' if mps else 'not available'}"))

    from ..data import data_dir
    from ..runtime import cache_dir, device
    try:
        lines.append((True, f"the course will train on: {device()} (DGM_DEVICE={os.environ.get('DGM_DEVICE', '')!r} "
                            "overrides: cpu, cuda, mps)"))
    except ValueError as error:
        lines.append((False, f"DGM_DEVICE is wrong: {error}"))
    data = data_dir()
    mnist = [name for name in ("mnist", "fashion_mnist") if (data / name).is_dir()]
    lines.append((True, f"DGM_DATA: {data} ({'holds ' + ', '.join(mnist) if mnist else 'no MNIST files; the digits need none'})"))
    cache = cache_dir()
    cache_parent = next(p for p in (cache, *cache.parents) if p.exists())
    writable = os.access(cache_parent, os.W_OK)
    lines.append((writable, f"DGM_CACHE: {cache} ({'writable' if writable else 'NOT writable: set DGM_CACHE to a folder you own'})"))
    free = shutil.disk_usage(cache_parent).free
    lines.append((free >= MIN_FREE_DISK, f"free disk where the cache lives: {free / 1e9:.1f} GB"
                  + ("" if free >= MIN_FREE_DISK else f" (less than {MIN_FREE_DISK / 1e9:.0f} GB)")))
    memory = _memory_bytes()
    if memory:
        total, available = memory
        lines.append((total >= MIN_MEMORY, f"memory: {total / 1e9:.1f} GB, {available / 1e9:.1f} GB available"
                      + ("" if total >= MIN_MEMORY else f" (a chapter may need up to 1.5 GB; {MIN_MEMORY / 1e9:.0f} GB "
                                                        "or more is comfortable)")))
    chromium = os.environ.get("DGM_CHROMIUM") or shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    lines.append((True, f"Chromium for the browser test: {chromium or 'not found (only the browser test needs it: Debian/Ubuntu `apt-get install chromium`; the test is skipped without it)'}"))
    return lines


def main() -> int:
    findings = report()
    for fine, line in findings:
        print(f"{'✔' if fine else '!'} {line}")
    return 0 if all(fine for fine, _ in findings) else 1


if __name__ == "__main__":
    sys.exit(main())
