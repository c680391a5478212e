"""vgviz export --run RUN --csv FILE --tensorboard DIR: the files are read back and hold the
per-layer numbers the run file gives, for a user's CNN and for a built-in run."""
import csv
import sys

import numpy as np
import pytest

from tests.cli_errors import one_line_error
from tests.model_runs import SmallCNN, record_model_run
from vgviz.cli import main
from vgviz.core.runfile import open_run
from vgviz.core.runfile.per_layer import layer_columns


@pytest.fixture
def cnn_run(tmp_path):
    path = tmp_path / "cnn.vgrun"
    record_model_run(path, SmallCNN(), steps=5)
    return path


def expected(path):
    with open_run(path) as run:
        layers = layer_columns(run)
        return (run.series_steps, layers.names, layers.norm(run.series("grad_l2")),
                layers.max_abs(run.series("grad_max_abs")), run.weights(10**9), run.model)


def test_csv_holds_every_layers_numbers_per_step(capsys, tmp_path, cnn_run):
    out = tmp_path / "series.csv"
    assert main(["export", "--run", str(cnn_run), "--csv", str(out)]) == 0
    assert "15 rows" in capsys.readouterr().out
    steps, names, norm, max_abs, _, _ = expected(cnn_run)
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(int(r["step"]), r["layer"]) for r in rows] == [(int(s), n) for s in steps for n in names]
    assert {r["kind"] for r in rows} == {"Conv2d", "Linear"}
    np.testing.assert_allclose([float(r["grad_l2"]) for r in rows], norm.ravel(), rtol=1e-12)
    np.testing.assert_allclose([float(r["grad_max_abs"]) for r in rows], max_abs.ravel(), rtol=1e-12)
    assert not list(tmp_path.glob(".vgviz-*"))   # written atomically: no temporary left


def test_a_built_in_run_exports_its_layers(capsys, tmp_path):
    run_path, out = tmp_path / "mlp.vgviz", tmp_path / "mlp.csv"
    assert main(["train", "--preset", "deep-sigmoid", "--set", "depth=2", "--set", "width=4",
                 "--steps", "3", "--out", str(run_path)]) == 0
    assert main(["export", "--run", str(run_path), "--csv", str(out)]) == 0
    with open(out, newline="") as fh:
        layers = [r["layer"] for r in csv.DictReader(fh) if r["step"] == "0"]
    assert layers == ["hidden1", "hidden2", "output"]


def test_tensorboard_scalars_and_histograms_read_back(capsys, tmp_path, cnn_run):
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    folder = tmp_path / "tb"
    assert main(["export", "--run", str(cnn_run), "--tensorboard", str(folder)]) == 0
    steps, names, norm, _, weights, model = expected(cnn_run)
    events = event_accumulator.EventAccumulator(str(folder), size_guidance={"scalars": 0, "histograms": 0})
    events.Reload()
    tags = events.Tags()
    assert set(tags["scalars"]) >= {"loss", *(f"grad_l2/{n}" for n in names)}
    conv2 = events.Scalars("grad_l2/conv2")
    assert [e.step for e in conv2] == list(steps)
    np.testing.assert_allclose([e.value for e in conv2], norm[:, names.index("conv2")], rtol=1e-6)
    histogram = events.Histograms("weights/fc")[-1]
    fc = np.concatenate([weights["fc.weight"].ravel(), weights["fc.bias"].ravel()])
    assert histogram.step == 5 and histogram.histogram_value.num == fc.size
    assert histogram.histogram_value.max == pytest.approx(fc.max(), rel=1e-6)


def test_without_tensorboard_one_line_says_how_to_install_it(capsys, tmp_path, cnn_run, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)   # import fails as if not installed
    out = tmp_path / "also.csv"
    one_line_error(capsys, ["export", "--run", str(cnn_run), "--csv", str(out), "--tensorboard", str(tmp_path / "tb")],
                   "pip install 'vgviz[tensorboard]'")
    assert not out.exists() and not (tmp_path / "tb").exists()   # refused before writing anything


def test_bad_requests_are_one_line(capsys, tmp_path, cnn_run):
    one_line_error(capsys, ["export", "--run", str(cnn_run)], "nothing to export")
    one_line_error(capsys, ["export", "--run", str(tmp_path / "missing.vgrun"), "--csv", "x.csv"], "no such file")
    one_line_error(capsys, ["export", "--run", str(cnn_run), "--csv", str(tmp_path / "no" / "x.csv")], "x.csv")
    a_file = tmp_path / "plain.txt"
    a_file.write_text("x")
    pytest.importorskip("tensorboard")
    one_line_error(capsys, ["export", "--run", str(cnn_run), "--tensorboard", str(a_file)], "not a folder")
