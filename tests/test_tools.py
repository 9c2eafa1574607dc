"""The command-line tools: the benchmark and `make lab`."""

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_bench_reports_time_and_peak_memory_of_each_notebook_and_the_total(tmp_path):
    trains = ("import torch\nfrom course_lib.models import FVSBN\nfrom course_lib.train import fit\n"
              f"x = torch.randint(0, 3, (40, 1, 2, 2)).float()\ncheckpoint = {str(tmp_path / 'tiny_fvsbn.pt')!r}\n"
              "fit(FVSBN((1, 2, 2), 3), x, epochs=3, progress=False, checkpoint=checkpoint)\n"
              "fit(FVSBN((1, 2, 2), 3), x, epochs=3, progress=False, checkpoint=checkpoint)")   # the 2nd: from the cache
    cells = {"01_a.ipynb": "x = 1",
             "02_b.ipynb": "import time; time.sleep(0.5)",
             "03_c.ipynb": "import numpy as np; big = np.ones(400_000_000 // 8); big.sum()",  # 400 MB touched
             "04_d.ipynb": trains,
             # 2 s of CPU in a process the kernel starts: the CPU time counts the kernel's children too
             "05_e.ipynb": "import subprocess, sys\nsubprocess.run([sys.executable, '-c', 'import time\\n"
                           "while time.process_time() < 2: pass'], check=True)"}
    for name, code in cells.items():
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(code)]
        nbformat.write(nb, tmp_path / name)
    result = subprocess.run([sys.executable, "-m", "course_lib.teaching.bench", *(str(tmp_path / n) for n in cells)],
                            capture_output=True, text=True, check=True)
    header, *lines = result.stdout.strip().splitlines()
    assert header.split() == ["chapter", "wall", "peak", "memory"]
    chapters = [line for line in lines if not line.startswith(" ")]
    assert [line.split()[0] for line in chapters] == [*cells, "total"]
    seconds = [float(line.split()[1]) for line in chapters]     # times are reported; only their arithmetic is asserted
    assert all(s >= 0 for s in seconds) and seconds[5] == pytest.approx(sum(seconds[:5]), abs=0.31)   # 6 roundings to 0.1 s
    peaks = [float(line.split()[3]) for line in chapters[:5]]
    assert all(line.split()[4] == "GB" for line in chapters[:5])
    assert 0.01 < peaks[0] < 0.2 and peaks[2] - peaks[0] > 0.35   # the 400 MB array shows in the peak
    # Under each chapter: the CPU seconds of the kernel and its children, and that share per core (the least wall
    # time this work allows), then its training calls (the checkpoint's name, epochs run or "from the cache"),
    # then their sum.
    cores = len(os.sched_getaffinity(0))
    cpu = {}
    for name, line in zip(cells, chapters):
        below = lines[lines.index(line) + 1]
        assert below.startswith("    CPU time, kernel and workers: ")
        cpu[name] = float(below.split()[5])
        assert float(below.split()[-2]) == pytest.approx(cpu[name] / cores, abs=0.051)
    assert cpu["05_e.ipynb"] - cpu["01_a.ipynb"] > 1.8
    last = lines[lines.index(chapters[3]) + 2:lines.index(chapters[4])]
    assert len(last) == 3 and all(line.startswith("    ") for line in last)
    assert "train tiny_fvsbn" in last[0] and "(3 epochs)" in " ".join(last[:2])
    assert "(from the cache)" in " ".join(last[:2]) and "training, all models" in last[2]
    first = lines[lines.index(chapters[0]) + 2]
    assert "training, all models" in first and float(first.split()[3]) == 0.0
    # The host's speed, before the first chapter and after the total: seconds per epoch of a reference model.
    assert lines[0].startswith("    host before: ") and lines[-1].startswith("    host after: ")
    assert all(float(line.split()[2]) > 0 for line in (lines[0], lines[-1]))


def test_python_m_course_lib_bench_is_the_benchmark_command():
    result = subprocess.run([sys.executable, "-m", "course_lib.bench", "--help"], capture_output=True, text=True,
                            check=True)
    assert "--train" in result.stdout and "--gmm" in result.stdout


def test_training_speed_times_one_epoch_of_every_family(monkeypatch):
    import course_lib.teaching.bench as bench

    families = bench.training_families()
    assert {"gated PixelCNN (ch03)", "VAE (ch04)", "RealNVP flow (ch05)", "DCGAN (ch06)", "BiGAN (ch06)",
            "WGAN-GP (ch07)", "DDPM (ch08)", "flow matching (ch08)"} <= set(families)
    for name in list(families)[2:]:                          # two families are enough to run here
        del families[name]
    monkeypatch.setattr(bench, "training_families", lambda: families)
    calls = []
    monkeypatch.setattr(bench, "median_time", lambda function, repeats: (calls.append(repeats), function(), 0.5)[-1])
    speeds = bench.training_speed(repeats=1)
    assert list(speeds) == list(families) and calls == [1, 1]
    assert all(speed == 2000.0 for speed, _ in speeds.values())     # 1000 training digits in 0.5 s
    assert all(isinstance(reads, int) and reads >= 0 for _, reads in speeds.values())


def test_bench_repeat_flags_a_stalled_run(tmp_path):
    # The third run of this notebook stalls for 15 s; the others take a few seconds (kernel start) even on a busy
    # machine, so the stall stays beyond the bench's rule (twice the median + 5 s) whatever the load.
    code = (f"from pathlib import Path; import time\ncount = Path({str(tmp_path / 'count')!r})\n"
            "n = int(count.read_text()) + 1 if count.exists() else 1\ncount.write_text(str(n))\n"
            "time.sleep(15 if n == 3 else 0)")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code)]
    nbformat.write(nb, tmp_path / "01_a.ipynb")
    result = subprocess.run([sys.executable, "-m", "course_lib.teaching.bench", "--repeat", "4", "--load", "1",
                             str(tmp_path / "01_a.ipynb")], capture_output=True, text=True)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert len([line for line in lines if " run " in line]) == 4
    assert "stalled runs: [1" in lines[-2] and lines[-1] == "4 runs, 1 stalled, 1 CPU burners"


@pytest.mark.slow
@pytest.mark.skipif(not (ROOT / ".venv" / ".installed").exists(), reason="needs the environment `make` installs")
def test_make_lab_serves_jupyterlab_on_loopback():
    port, token = 18931, "course-test-token"
    args = f"--no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port={port} --IdentityProvider.token={token}"
    process = subprocess.Popen(["make", "-s", "lab", f"LAB_ARGS={args}"], cwd=ROOT, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, status = time.time() + 90, None
        while time.time() < deadline and status is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token={token}", timeout=2) as reply:
                    status, page = reply.status, reply.read().decode()
            except OSError:
                assert process.poll() is None, "make lab exited early"
                time.sleep(0.5)
        assert status == 200 and "JupyterLab" in page
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


def test_gmm_benchmark_reaches_sklearns_likelihood():
    from course_lib.teaching.bench import gmm_versus_sklearn

    result = gmm_versus_sklearn(repeats=1)
    assert abs(result["ours_ll"] - result["sklearn_ll"]) < 1e-3  # nats per image; timing is reported, not asserted
    assert result["ours_iterations"] == result["sklearn_iterations"] + 1  # ours counts the final scoring too


def test_host_reads_counts_values_read_back_to_python():
    import torch

    from course_lib.teaching.bench import host_reads

    assert host_reads(lambda: torch.tensor(1.0).item()) == 1
    assert host_reads(lambda: bool(torch.tensor([1.0]) > 0) and torch.ones(3).sum()) == 1
    assert host_reads(lambda: torch.ones(3) * 2) == 0


def test_data_are_validated_once_not_once_per_batch_or_chunk():
    """Validation reads values back to the host (a GPU waits each time): at the boundary only. One more batch
    costs one read (the finiteness check of its loss); more chunks of an estimate cost nothing."""
    import torch

    from course_lib import data
    from course_lib.models import VAE
    from course_lib.teaching.bench import host_reads
    from course_lib.train import fit

    split = data.load_digits()
    x = split.test.x[:50]
    torch.manual_seed(0)
    vae = VAE(latent_dim=2, hidden=16).eval()
    reads = {chunk: host_reads(lambda: vae.log_prob(x, k=200, chunk=chunk)) for chunk in (10, 200)}
    assert reads[10] == reads[200] <= 4
    per_epoch = {batch: host_reads(lambda: fit(VAE(latent_dim=2, hidden=16), split.train, epochs=1, batch_size=batch,
                                               progress=False)) for batch in (100, 250)}
    assert per_epoch[100] - per_epoch[250] == 10 - 4


def test_bench_counts_side_by_side_trainings_by_the_wall_time_the_chapter_waited():
    from course_lib.teaching.bench import ChapterRun, chapter_report
    trainings = [{"loop": "fit", "model": "here", "seconds": 4.0, "steps": 10, "worker": False},
                 {"loop": "fit", "model": "there_a", "seconds": 6.0, "steps": 10, "worker": True},
                 {"loop": "fit", "model": "there_b", "seconds": 5.0, "steps": 0, "worker": True},
                 {"loop": "side_by_side", "model": "train_both", "seconds": 7.0, "steps": 3, "workers": 3,
                  "worker_processes": 2, "worker_peak_memory": 3 * 10**8},
                 {"loop": "fit", "model": "later", "seconds": 9.0, "steps": 10, "worker": True},
                 {"loop": "in_background", "model": "train_later", "seconds": 2.0, "steps": 1, "workers": 1,
                  "worker_processes": 1, "worker_peak_memory": 2 * 10**8},
                 {"loop": "minimize", "model": "old_log", "seconds": 1.0, "steps": 5}]        # a record without "worker"
    lines = chapter_report("x.ipynb", ChapterRun(20.0, 10**9, trainings), budget=60).splitlines()   # CPU not measured
    # the worker processes' memory counts: 1.0 GB in the kernel (which ran its share) + 2 × 0.3 GB is over the
    # 1.5 GB budget, the kernel alone is not; three calls at a time are the kernel and two worker processes
    assert "OVER the 1.5 GB budget" in lines[0] and "60 s" not in lines[0]
    assert lines[1] == "    worker processes: 2 × 0.30 GB at their peak; with the kernel's 1.60 GB"
    lines = [lines[0], *lines[2:]]
    listed = {line.split()[1 if line.split()[0] == "train" else 3]: line for line in lines[1:-1]}
    assert "(10 epochs, side by side)" in listed["there_a"] and "(from the cache, side by side)" in listed["there_b"]
    assert "(10 epochs)" in listed["here"] and "(5 steps)" in listed["old_log"]
    assert "(3 calls, 3 at a time, wall time)" in listed["train_both"] and "side by side:" in listed["train_both"]
    assert "in the background:" in listed["train_later"] and "2.0 s  (waited for its result)" in listed["train_later"]
    # waited: 4 + 1 on their own, 7 for the side-by-side call, 2 for the background result; the 20 s side by side
    # or in the background are not added again
    assert lines[-1].split()[3] == "14.0" and lines[-1].endswith("the rest of the chapter 6.0 s")
    assert "(with 20.0 s of training side by side or in the background)" in lines[-1]
