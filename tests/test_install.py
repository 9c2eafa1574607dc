"""Install routes: the pins resolve for every supported Python, `make` picks a supported Python and the CPU
route, and `make doctor` says what a student needs to know."""

import json
import os
import subprocess
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SUPPORTED = ("3.11", "3.12", "3.13", "3.14")
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def _configured_index() -> str:
    """The package index pip is configured to use (PIP_INDEX_URL, pip's config, else PyPI)."""
    if os.environ.get("PIP_INDEX_URL"):
        return os.environ["PIP_INDEX_URL"]
    found = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.index-url"], capture_output=True,
                           text=True)
    return found.stdout.strip() if found.returncode == 0 and found.stdout.strip() else "https://pypi.org/simple"


def _reachable(index: str) -> str | None:
    """None when ``index`` answers, else why not."""
    try:
        urllib.request.urlopen(f"{index.rstrip('/')}/pip/", timeout=15)
        return None
    except OSError as error:
        return f"{index} cannot be reached ({error})"


def _dry_run(version: str, folder: Path, *requirements: str, index: str | None = None) -> tuple[int, str, dict]:
    report = folder / f"report-{version}.json"
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
               "--disable-pip-version-check", "--report", str(report), "--python-version", version,
               "--only-binary=:all:", *(["--index-url", index] if index else []), *requirements]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    resolved = json.loads(report.read_text()) if done.returncode == 0 and report.exists() else {}
    return done.returncode, done.stderr[-3000:], resolved


@pytest.fixture(scope="module")
def resolutions(tmp_path_factory):
    """pip's resolver on requirements.txt for every supported Python, run side by side (they wait on the network)."""
    index = _configured_index()
    problem = _reachable(index)
    if problem:
        pytest.skip(f"the pins cannot be checked: {problem}")
    folder = tmp_path_factory.mktemp("resolve")
    with ThreadPoolExecutor(len(SUPPORTED)) as pool:
        runs = pool.map(lambda v: _dry_run(v, folder, "-r", str(ROOT / "requirements.txt")), SUPPORTED)
        return dict(zip(SUPPORTED, runs))


@pytest.mark.parametrize("version", SUPPORTED)
def test_the_pins_resolve_for_every_supported_python(resolutions, version):
    returncode, errors, report = resolutions[version]
    assert returncode == 0, f"requirements.txt does not resolve for Python {version} (wheels only):\n{errors}"
    installed = {item["metadata"]["name"].lower(): item["metadata"]["version"] for item in report["install"]}
    pins = [line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    for pin in filter(None, pins):
        name, wanted = pin.split("==")
        got = installed.get(name.lower().replace("_", "-"), installed.get(name.lower(), ""))
        assert got.split("+")[0] == wanted, f"Python {version}: {name} resolved to {got!r}, pinned {wanted}"


@pytest.mark.parametrize("version", SUPPORTED)
def test_the_cpu_route_has_a_torch_wheel_for_every_supported_python(version, tmp_path):
    problem = _reachable(TORCH_CPU_INDEX)
    if problem:
        pytest.skip(f"PyTorch's CPU index cannot be checked from here: {problem}")
    pin = next(line for line in (ROOT / "requirements.txt").read_text().splitlines() if line.startswith("torch=="))
    returncode, errors, report = _dry_run(version, tmp_path, pin, index=TORCH_CPU_INDEX)
    assert returncode == 0, f"no CPU build of {pin} for Python {version}:\n{errors}"
    names = [item["metadata"]["name"] for item in report["install"]]
    assert not [n for n in names if n.startswith("nvidia")], f"the CPU route pulls CUDA packages: {names}"


# --- make: which Python, which torch ---------------------------------------------------------------------

def _fake_pythons(folder: Path, versions, broken=()) -> Path:
    """Scripts named python3.x that print what they are asked to (``broken`` ones fail like a pyenv shim)."""
    folder.mkdir()
    for version in (*versions, *broken):
        script = folder / f"python{version}"
        script.write_text("#!/bin/sh\necho 'pyenv: not active' >&2; exit 127\n" if version in broken else
                          "#!/bin/sh\nexec python3 \"$@\"\n")
        script.chmod(0o755)
    return folder


def _make(*args, path: str | None = None):
    env = {**os.environ, "PATH": path or os.environ["PATH"]}
    return subprocess.run(["make", "-n", "-s", "-C", str(ROOT), *args], capture_output=True, text=True, env=env)


def test_make_picks_the_newest_supported_python(tmp_path):
    fake = _fake_pythons(tmp_path / "bin", ["3.12", "3.13", "3.10"], broken=["3.14"])
    dry = _make("install", f"VENV={tmp_path / 'venv'}", f"STAMP={tmp_path / 'stamp'}", path=f"{fake}:/usr/bin:/bin")
    assert dry.returncode == 0, dry.stderr
    assert "|| python3.13 -m venv" in dry.stdout and "python3.10" not in dry.stdout and "python3.14" not in dry.stdout
    chosen = _make("install", "PYTHON=python3.12", f"VENV={tmp_path / 'venv'}", f"STAMP={tmp_path / 'stamp'}",
                   path=f"{fake}:/usr/bin:/bin")
    assert "|| python3.12 -m venv" in chosen.stdout


def test_make_checks_the_python_version_and_the_torch_route(tmp_path):
    stamp = f"STAMP={tmp_path / 'stamp'}"
    cpu = _make("install", "TORCH=cpu", f"VENV={tmp_path / 'venv'}", stamp)
    assert f"--index-url {TORCH_CPU_INDEX} torch==2.13.0" in cpu.stdout
    assert "sys.exit(0 if (3, 11) <= v <= (3, 14)" in cpu.stdout
    wrong = subprocess.run(["make", "-s", "-C", str(ROOT), "install", "TORCH=gpu", f"VENV={tmp_path / 'venv'}", stamp],
                           capture_output=True, text=True)
    assert wrong.returncode != 0 and "TORCH must be 'default' or 'cpu', got 'gpu'" in wrong.stdout
    old = _fake_pythons(tmp_path / "old", [])
    (old / "python3.10").write_text("#!/bin/sh\nexec python3 -c 'import sys; sys.version_info = (3, 10); "
                                    "v = (3, 10); sys.exit(0 if (3, 11) <= v <= (3, 14) else \"too old\")'\n")
    (old / "python3.10").chmod(0o755)
    refused = subprocess.run(["make", "-s", "-C", str(ROOT), "install", f"PYTHON={old / 'python3.10'}",
                              f"VENV={tmp_path / 'venv'}", stamp], capture_output=True, text=True)
    assert refused.returncode != 0 and not (tmp_path / "venv").exists()


# --- make doctor ------------------------------------------------------------------------------------------

def test_doctor_reports_what_a_student_needs(tmp_path):
    env = {**os.environ, "DGM_CACHE": str(tmp_path / "cache"), "DGM_DATA": str(tmp_path / "data")}
    env.pop("DGM_DEVICE", None)
    done = subprocess.run([sys.executable, "-m", "course_lib.teaching.doctor"], capture_output=True, text=True,
                          env=env)
    lines = done.stdout.splitlines()
    for needle in ("Python 3.", "PyTorch 2.13.0", "build;", "the course will train on: cpu",
                   f"DGM_DATA: {tmp_path / 'data'}", f"DGM_CACHE: {tmp_path / 'cache'} (writable)",
                   "free disk where the cache lives", "memory:", "Chromium for the browser test"):
        assert any(needle in line for line in lines), f"doctor does not say {needle!r}:\n{done.stdout}"
    assert all(line[0] in "✔!" for line in lines)


def test_doctor_flags_what_is_wrong(tmp_path):
    env = {**os.environ, "DGM_DEVICE": "tpu", "DGM_CACHE": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", "course_lib.teaching.doctor"], capture_output=True, text=True,
                          env=env)
    assert done.returncode == 1
    assert any(line.startswith("! DGM_DEVICE is wrong") for line in done.stdout.splitlines()), done.stdout
