"""A real browser drives a real widget: JupyterLab on loopback, headless Chromium (Debian's package),
Playwright's Python package. Opens chapter 04, runs the latent explorer's cells, moves a latent
slider, and checks that the decoded image changed. The screenshot stays in the test's tmp folder.

When a step times out, the failure carries what is needed to tell a hang from slowness: the Python stacks of
the server and of every kernel (faulthandler, registered on SIGUSR2 in both) and the end of the server log."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTER = "04_variational_autoencoders.ipynb"
CHROMIUM = os.environ.get("DGM_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# Flags for a closed network: no background connections, no component updates, no sandbox (root in CI).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]

# The course cache (as a linked, read-only view): after `make test-chapters` the explorer's VAE loads instead of
# training, so the test measures the widgets, not the machine's speed.
pytestmark = [pytest.mark.slow, pytest.mark.course_cache]


DUMP_ON_SIGUSR2 = """import faulthandler, os, signal, sys
if os.environ.get("DGM_STACK_DUMPS"):
    os.makedirs(os.environ["DGM_STACK_DUMPS"], exist_ok=True)
    _dump = open(os.path.join(os.environ["DGM_STACK_DUMPS"], f"{os.getpid()}.txt"), "w")
    _dump.write(" ".join(sys.argv) + "\\n")
    _dump.flush()
    faulthandler.register(signal.SIGUSR2, file=_dump, all_threads=True)
"""


def _descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (read from /proc: the kernels are the server's children)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            pass
    found, frontier = [pid], [pid]
    while frontier:
        frontier = [child for parent in frontier for child in parents.get(parent, [])]
        found += frontier
    return found


def stack_dumps(server: subprocess.Popen, folder: Path) -> str:
    """The Python stacks of the server and its kernels, dumped on request (SIGUSR2), as one text."""
    for pid in _descendants(server.pid):
        try:
            os.kill(pid, signal.SIGUSR2)
        except OSError:
            pass
    time.sleep(1.0)
    return "\n".join(f"--- process {path.stem}:\n{path.read_text()[-4000:]}" for path in sorted(folder.glob("*.txt")))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def jupyterlab(tmp_path):
    """JupyterLab serving a scratch copy of the chapter (the browser's autosave must not touch chapters/)."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"Chromium not found at {CHROMIUM}: `make test` installs Debian's chromium package as root")
        pytest.skip(f"Chromium not found at {CHROMIUM} (install Debian's chromium package, or set DGM_CHROMIUM)")
    notebooks, settings = tmp_path / "notebooks", tmp_path / "settings"
    notebooks.mkdir()
    shutil.copy(ROOT / "chapters" / CHAPTER, notebooks / CHAPTER)
    # Render every cell (no virtual scrolling) and keep news pop-ups away.
    (settings / "@jupyterlab" / "notebook-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
        json.dumps({"windowingMode": "none"}))
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    port, token = _free_port(), "browser-test-token"
    # Every Python process of the test (server, kernels) dumps its threads' stacks on SIGUSR2.
    startup = tmp_path / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-stack-dump.py").write_text(DUMP_ON_SIGUSR2)
    from course_lib.runtime import cache_dir
    from course_lib.storage import linked_view

    env = {**os.environ, "DGM_CACHE": str(linked_view(cache_dir(), tmp_path / "cache")),
           "IPYTHONDIR": str(tmp_path / "ipython"),
           "DGM_STACK_DUMPS": str(tmp_path / "stacks")}
    server = subprocess.Popen(
        [sys.executable, "-c", DUMP_ON_SIGUSR2 + "from jupyterlab.labapp import main; sys.exit(main())", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={notebooks}",
         f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
         "--LabApp.news_url=", "--LabServerApp.open_browser=False"],
        env=env, stdout=open(tmp_path / "jupyterlab.log", "w"), stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if server.poll() is not None:
                pytest.fail("JupyterLab exited:\n" + (tmp_path / "jupyterlab.log").read_text()[-3000:])
            time.sleep(0.5)
    else:
        pytest.fail("JupyterLab did not answer within 90 s")
    server.url = f"{base}/lab/tree/{CHAPTER}?token={token}"
    yield server
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)


def _run_cell(page, cell, timeout_s=300):
    """Select a code cell, run it with Shift+Enter, and wait until its prompt shows an execution count.

    If the key press is lost (the prompt neither queues "[*]" nor finishes within 15 s), select and press again.
    """
    prompt = cell.locator(".jp-InputArea-prompt")
    for attempt in range(3):
        cell.scroll_into_view_if_needed()
        cell.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Escape")  # command mode: Shift+Enter runs the selected cell
        page.keyboard.press("Shift+Enter")
        started, deadline = time.time(), time.time() + timeout_s
        while time.time() < deadline:
            text = prompt.inner_text().strip()
            if re.fullmatch(r"\[\d+\]:", text):
                return
            if text != "[*]:" and time.time() - started > 15:
                break  # never queued: try again
            time.sleep(0.25)
        else:
            break
    raise AssertionError(f"cell did not run within {timeout_s} s (prompt {prompt.inner_text()!r}): "
                         f"{cell.inner_text()[:200]!r}")


def _decoded_image_src(cell):
    image = cell.locator(".jp-OutputArea-output img").first
    image.wait_for(state="visible", timeout=60_000)
    return image.get_attribute("src")


def test_latent_slider_changes_the_decoded_image(jupyterlab, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(jupyterlab.url)
            page.locator(".jp-Notebook .jp-CodeCell").first.wait_for(timeout=120_000)
            page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=120_000)
            cells = page.locator(".jp-Notebook .jp-CodeCell")
            _run_cell(page, cells.filter(has_text='DATASET = "digits"').first)
            for step in (1, 2, 3):
                _run_cell(page, cells.filter(has_text=f"# Latent explorer, step {step}:").first)
            explorer = cells.filter(has_text="# Latent explorer, step 3:").first
            before = _decoded_image_src(explorer)

            # Move the first latent slider (z1) with the keyboard, as a user would.
            handle = explorer.locator(".widget-slider .noUi-handle").first
            handle.click()
            for _ in range(20):
                handle.press("ArrowRight")
            deadline, after = time.time() + 60, before
            while time.time() < deadline and after == before:
                time.sleep(0.5)
                after = _decoded_image_src(explorer)
            readout = explorer.locator(".widget-readout").first.inner_text()
            page.screenshot(path=str(tmp_path / "latent_explorer.png"), full_page=False)
        except Exception as error:
            page.screenshot(path=str(tmp_path / "failure.png"))  # what the browser showed, for diagnosis
            log = (tmp_path / "jupyterlab.log").read_text()[-2000:]
            stacks = stack_dumps(jupyterlab, tmp_path / "stacks")
            raise AssertionError(f"{error}\n--- screenshot: {tmp_path / 'failure.png'}\n--- JupyterLab log:\n{log}"
                                 f"\n--- Python stacks of the server and the kernels:\n{stacks}") from error
        finally:
            browser.close()
    assert (tmp_path / "latent_explorer.png").stat().st_size > 10_000
    assert float(readout) != 0.0, "the slider did not move"
    assert after != before, "the decoded image did not change when the latent slider moved"
