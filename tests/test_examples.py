"""Every example in examples/ runs with one command (here with few steps) and records a run
file that opens, names the model's parameters and can be diagnosed."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import vgviz
from vgviz.core.runfile import open_run

EXAMPLES = Path(__file__).parents[1] / "examples"
STEPS = 6


def run_example(args: list[str], tmp_path: Path) -> str:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run([*args, "--steps", str(STEPS), "--out", str(tmp_path)], cwd=EXAMPLES, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[:2000] + " … " + done.stderr[-1000:]
    return done.stdout


@pytest.mark.parametrize("script, files, param", [
    ("mlp_sigmoid_vs_relu.py", ["mlp-sigmoid", "mlp-relu"], "0.weight"),
    ("cnn_digits.py", ["cnn-digits"], "conv1.weight"),
    ("rnn_vs_lstm.py", ["rnn", "lstm"], "rnn.weight_hh_l0"),
    ("transformer_ln.py", ["transformer-post-ln", "transformer-pre-ln"], "encoder.layers.11.self_attn.in_proj_weight"),
])
def test_example_records_a_run_per_model(script, files, param, tmp_path):
    out = run_example([sys.executable, script], tmp_path)
    assert len(out.splitlines()) == len(files)          # one summary line per run, its verdict in it
    for name in files:
        with open_run(tmp_path / f"{name}.vgviz") as run:
            assert run.steps == STEPS and param in run.param_names and run.config is None
            assert vgviz.diagnose(run).headline in out     # the example printed the file's diagnosis


def test_ddp_example_under_torchrun_records_on_rank_0_only(tmp_path):
    out = run_example([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                       "ddp_gloo.py"], tmp_path)
    assert out.startswith("rank 0 of 2:") and len(out.splitlines()) == 1
    with open_run(tmp_path / "ddp.vgviz") as run:
        assert run.steps == STEPS
        assert run.param_names[0] == "0.weight"             # DDP's "module." prefix removed
    assert [p.name for p in tmp_path.iterdir()] == ["ddp.vgviz"]
