"""vgviz train --out RUN, open RUN, report --run RUN: runs as files from the command line."""
from __future__ import annotations

import json
import os
import pty
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest

from vgviz.cli import main
from vgviz.core.config import RunConfig
from vgviz.core.runfile import RunRecorder, open_run
from vgviz.core.tasks import make_trainer
from tests.cli_errors import one_line_error
from vgviz.core.diagnose.runs import NEEDS_WEIGHTS
from vgviz.run_commands import ProgressLine

MLP = ["--preset", "deep-sigmoid", "--set", "depth=3", "--set", "width=8", "--set", "eval_every=20", "--steps", "60"]
LSTM = ["--preset", "lstm-T50", "--set", "seq_len=6", "--set", "width=6", "--set", "batch_size=16",
        "--set", "eval_every=20", "--steps", "30"]
BF16 = 1e-2     # per-step sums are kept as bfloat16 (8 significant bits)


def run_main(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def train(capsys, path, *args):
    code, out, err = run_main(capsys, "train", *args, "--out", str(path))
    assert code == 0, err
    assert err == ""                     # no progress line: stderr is not a terminal here
    return out


def test_train_writes_a_run_file_that_opens(capsys, tmp_path):
    path = tmp_path / "run.vgviz"
    out = train(capsys, path, *MLP, "--seed", "3")
    assert out.splitlines() == [out.strip()]
    assert out.startswith(f"wrote {path}: 60 steps, final loss ") and " acc " in out
    size = path.stat().st_size   # ~150 KB with its decision boundaries (~20 KB each)
    assert out.strip().endswith(f", {size / 1e6:.1f} MB" if size >= 1e5 else f", {size / 1e3:.0f} KB")
    with open_run(path) as run:
        assert run.steps == 60 and run.step[-1] == 59
        assert run.config == RunConfig.from_dict(dict(run.config)).to_dict() and run.config["seed"] == 3
        assert run.capture_steps[0] == 0 and run.capture_steps[-1] == 59      # the first and the last step
        assert run.weight_steps[-1] == 60
        assert run.evals[-1, 0] == 60                                         # the final weights' test numbers
        assert [e.kind for e in run.events] == ["finished"]
    assert not os.path.exists(f"{path}-wal")                                  # closed: one file


def test_the_recorder_captures_the_first_and_last_step_however_slow_its_rate(tmp_path):
    trainer = make_trainer(RunConfig(depth=2, width=4, steps=12, eval_every=100))
    with RunRecorder(trainer, tmp_path / "r.vgviz", capture_hz=1e-9) as rec:
        while not trainer.finished:
            rec.record(trainer.step(full=rec.wants_full()))
    with open_run(tmp_path / "r.vgviz") as run:
        assert run.capture_steps.tolist() == [0, 11]


def test_train_refuses_to_overwrite_and_needs_the_folder(capsys, tmp_path):
    path = tmp_path / "run.vgviz"
    path.write_text("keep me")
    one_line_error(capsys, ["train", *MLP, "--out", str(path)], "exists", "--force")
    assert path.read_text() == "keep me"
    one_line_error(capsys, ["train", *MLP, "--out", str(tmp_path / "no" / "run.vgviz")], "does not exist")
    one_line_error(capsys, ["train", *MLP, "--out", str(tmp_path)], "is a folder")
    one_line_error(capsys, ["train", *MLP], "--out")
    train(capsys, path, *MLP, "--force")
    with open_run(path) as run:
        assert run.steps == 60


def test_a_diverged_run_is_recorded_and_said(capsys, tmp_path):
    path = tmp_path / "run.vgviz"
    out = train(capsys, path, "--preset", "exploding", "--set", "lr=10", "--steps", "50")
    assert "diverged at step" in out
    with open_run(path) as run:
        assert "diverged" in [e.kind for e in run.events]
        assert run.steps < 50


def test_progress_line_is_redrawn_at_most_ten_times_a_second():
    class Stream:
        text = ""

        def write(self, s):
            self.text += s

        def flush(self):
            pass

    now = [0.0]
    stream = Stream()
    bar = ProgressLine(stream, 1000, clock=lambda: now[0])
    for step in range(1, 1001):
        now[0] = step * 0.001                       # 1000 steps/s for one second
        bar.update(step, 0.5)
    assert 10 <= stream.text.count("\r") <= 12      # ~10 Hz, and the last step
    assert stream.text.rsplit("\r", 1)[1].startswith("step 1000/1000  loss 0.5  1,000 steps/s  ETA 0:00")
    bar.clear()
    assert stream.text.endswith("\r")


def test_progress_line_only_on_a_terminal(tmp_path):
    """stderr a pseudo-terminal: the \\r progress line; stdout (a pipe) holds only the summary."""
    master, slave = pty.openpty()
    path = tmp_path / "run.vgviz"
    proc = subprocess.Popen([sys.executable, "-m", "vgviz.cli", "train", *MLP, "--out", str(path)],
                            stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    terminal = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:            # Linux: EIO once the child has closed the terminal
            break
        if not chunk:
            break
        terminal += chunk
    out, _ = proc.communicate(timeout=120)
    os.close(master)
    assert proc.returncode == 0
    assert out.startswith(f"wrote {path}: 60 steps") and out.count("\n") == 1
    text = terminal.decode()
    assert "\rstep " in text and "/60  loss " in text and "steps/s" in text and "ETA" in text
    assert "\n" not in text.replace("\r\n", "")    # redrawn in place, never a new line


def test_ctrl_c_leaves_a_valid_file_and_exit_130(tmp_path):
    path = tmp_path / "run.vgviz"
    proc = subprocess.Popen([sys.executable, "-m", "vgviz.cli", "train", *MLP, "--steps", "1000000",
                             "--out", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not _has_steps(path):          # wait until training is under way (a commit is ≤ 0.5 s)
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else ""
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert out == ""
    assert len(err.splitlines()) == 1 and err.startswith("vgviz: interrupted at step ") and str(path) in err
    assert not os.path.exists(f"{path}-wal")
    with open_run(path) as run:
        assert 0 < run.steps < 1_000_000
        assert run.events[-1].kind == "interrupted"
        assert run.weight_steps[-1] == run.steps           # the weights where it stopped
        assert run.capture_steps[0] == 0


def _has_steps(path) -> bool:
    try:
        with open_run(path) as run:
            return run.steps > 0
    except Exception:
        return False


# -- report --run ---------------------------------------------------------------------------

@pytest.mark.parametrize("args", [MLP, LSTM], ids=["mlp", "lstm"])
def test_report_of_the_file_equals_report(capsys, tmp_path, args):
    """What the file stores as float32 is equal to float32 precision; what it keeps as
    bfloat16 sums (the diagnostics' per-layer gradient and update numbers) to bfloat16's."""
    path = tmp_path / "run.vgviz"
    train(capsys, path, *args, "--seed", "5")
    code, out, err = run_main(capsys, "report", "--run", str(path))
    assert code == 0, err
    from_file = json.loads(out)
    code, out, err = run_main(capsys, "report", *args, "--seed", "5")
    assert code == 0, err
    live = json.loads(out)
    assert from_file.keys() == live.keys()
    for key in ("config", "steps", "diverged", "loss", "loss_steps"):
        assert from_file[key] == live[key], key
    f32 = np.float32
    assert {k: f32(v) for k, v in from_file["final"].items()} == {k: f32(v) for k, v in live["final"].items()}
    for section in ("layers", "zero_gradients"):
        assert _float32(from_file[section]) == _float32(live[section]), section
    if "timesteps" in live:
        for key in ("t", "initial", "final"):
            assert _float32(from_file["timesteps"][key]) == _float32(live["timesteps"][key]), key
        # a ratio of two float32-rounded numbers: float32's precision, not its exact rounding
        for key, value in live["timesteps"]["first_over_last"].items():
            assert from_file["timesteps"]["first_over_last"][key] == pytest.approx(value, rel=1e-6)
    d_file, d_live = from_file["diagnostics"], live["diagnostics"]
    assert d_file["verdict"] == d_live["verdict"]
    for a, b in zip(d_file["findings"], d_live["findings"], strict=True):
        if a["key"] == "speed_of_learning" and "timesteps" in live:
            # a recurrent trainer's StepStats has no per-layer update ratio, so a live report has
            # no speed to judge; the file keeps ‖ΔW‖/‖W‖ of every parameter, and judges it
            assert b["status"] == "n/a" and a["status"] != "n/a"
            continue
        assert (a["key"], a["status"], a["label"]) == (b["key"], b["status"], b["label"])
        if a["key"] in ("unresponsive_neurons", "reliance_on_upper_layers", "loss_plateau"):
            assert a == b                   # the rebuilt model with the final weights: the same numbers
        else:
            _assert_close(a["numbers"], b["numbers"])


def _float32(value):
    if isinstance(value, dict):
        return {k: _float32(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_float32(v) for v in value]
    return np.float32(value) if isinstance(value, float) else value


def _assert_close(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _assert_close(a[k], b[k])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_close(x, y)
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=3 * BF16, abs=1e-30)
    else:
        assert a == b


def test_report_of_a_file_without_config_says_what_it_cannot_measure(capsys, tmp_path):
    path = tmp_path / "run.vgviz"
    train(capsys, path, *MLP)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = 'null' WHERE key = 'config'")
    code, out, err = run_main(capsys, "report", "--run", str(path))
    assert code == 0, err
    section = json.loads(out)["diagnostics"]
    findings = {f["key"]: f for f in section["findings"]}
    assert findings["unresponsive_neurons"]["summary"] == NEEDS_WEIGHTS
    assert findings["reliance_on_upper_layers"]["summary"] == NEEDS_WEIGHTS
    # δ and the forward signal come from the file's captures: judged without the model
    assert findings["error_signal"]["status"] != "n/a" and findings["forward_signal"]["status"] != "n/a"
    # vgviz.diagnose gives report --run's diagnosis, from a path or an open Run
    import vgviz
    assert json.loads(json.dumps(vgviz.diagnose(path).to_dict(), default=str)) == section
    with open_run(path) as run:
        assert vgviz.diagnose(run).verdict == section["verdict"]
    one_line_error(capsys, ["report", "--run", str(path), "--shallower", "1"], "--shallower needs the run's config")


def test_report_run_refuses_the_options_that_pick_a_run(capsys, tmp_path):
    one_line_error(capsys, ["report", "--run", str(tmp_path / "x.vgviz"), "--steps", "5", "--preset", "deep-relu"],
                   "leave out --preset, --steps")


# -- bad files: open, report, render ------------------------------------------------------

@pytest.fixture
def bad_files(tmp_path, capsys):
    good = tmp_path / "good.vgviz"
    train(capsys, good, *MLP)
    text = tmp_path / "notes.vgviz"
    text.write_text("not a run file\n")
    truncated = tmp_path / "truncated.vgviz"
    truncated.write_bytes(good.read_bytes()[:5000])
    newer = tmp_path / "newer.vgviz"
    newer.write_bytes(good.read_bytes())
    with sqlite3.connect(newer) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    return {"missing": (tmp_path / "missing.vgviz", ""), "text": (text, "not a vgviz run file"),
            "truncated": (truncated, "truncated"), "newer": (newer, "newer vgviz")}


@pytest.mark.parametrize("kind", ["missing", "text", "truncated", "newer"])
def test_bad_files_are_one_line_and_exit_2(capsys, tmp_path, monkeypatch, bad_files, kind):
    import vgviz.gui.app as app

    monkeypatch.setattr(app, "run_app", lambda **kw: pytest.fail("a window opened for a bad file"))
    path, needle = bad_files[kind]
    for argv in (["open", str(path)], ["report", "--run", str(path)],
                 ["render", "--run", str(path), "--view", "diagram", "--out", str(tmp_path / "x.png")]):
        assert str(path) in one_line_error(capsys, argv, needle)
    assert not (tmp_path / "x.png").exists()


def test_open_validates_then_opens_the_window_with_the_path(capsys, tmp_path, monkeypatch):
    import vgviz.gui.app as app

    path = tmp_path / "run.vgviz"
    train(capsys, path, *MLP)
    calls = []
    monkeypatch.setattr(app, "run_app", lambda **kw: calls.append(kw) or 0)
    assert main(["open", str(path)]) == 0
    assert calls == [{"run_path": str(path)}]
