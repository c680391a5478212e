"""`vgviz report` has a diagnostics section: verdict, eight findings with numbers and thresholds."""
from __future__ import annotations

import json

import pytest
import torch

from vgviz.cli import main

FINDINGS = ["error_signal", "forward_signal", "gradient_magnitude", "loss_plateau", "training_performance",
            "unresponsive_neurons", "reliance_on_upper_layers", "speed_of_learning"]


def finding(d, key):
    return next(f for f in d["findings"] if f["key"] == key)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def report(capsys, *args):
    code = main(["report", *args])
    out, err = capsys.readouterr()
    assert code == 0, err

    def no_constants(name):
        raise AssertionError(f"report JSON contains {name}")
    return json.loads(out, parse_constant=no_constants)


def numbers_are_finite(value):
    if isinstance(value, float):
        assert value == value and abs(value) != float("inf")
    elif isinstance(value, dict):
        for v in value.values():
            numbers_are_finite(v)
    elif isinstance(value, list):
        for v in value:
            numbers_are_finite(v)


def test_report_diagnoses_the_deep_sigmoid_preset(capsys):
    doc = report(capsys, "--preset", "deep-sigmoid", "--steps", "120")
    d = doc["diagnostics"]
    assert d["verdict"] == "vanishing"
    assert [f["key"] for f in d["findings"]] == FINDINGS
    for f in d["findings"]:
        assert {"title", "status", "label", "summary", "value", "rule", "numbers", "thresholds"} <= set(f)
    grad = finding(d, "gradient_magnitude")
    assert grad["thresholds"]["vanishing_ratio"] == 0.01 and grad["thresholds"]["exploding_ratio"] == 100
    ratio = grad["numbers"]["ratio_first_to_last_hidden"]
    assert 0 < ratio <= 0.01
    assert grad["numbers"]["layers"] == [layer["name"] for layer in doc["layers"]]
    # the ratio is the median of per-step ratios over the last 50 steps: the final step's is of that order
    final = doc["layers"][0]["final"]["grad_mean_abs"] / doc["layers"][-2]["final"]["grad_mean_abs"]
    assert 0.1 < final / ratio < 10
    ablation = finding(d, "reliance_on_upper_layers")["numbers"]
    assert ablation["k"] == 4 and ablation["mode"] == "initial"
    assert ablation["drop"] == pytest.approx(ablation["accuracy_before"] - ablation["accuracy_after"])
    assert finding(d, "training_performance")["label"] == "not run"
    # δ: the error signal at hidden1 against hidden8, from the report's own per-layer numbers
    delta = finding(d, "error_signal")["numbers"]
    assert delta["ratio_first_to_last_hidden"] == pytest.approx(
        doc["layers"][0]["final"]["delta_l2"] / doc["layers"][-2]["final"]["delta_l2"])
    assert any(f["preset"] == "deep-relu-he" and f["preset_available"] for f in d["fixes"])
    numbers_are_finite(d)


def test_report_with_a_shallower_counterpart(capsys):
    doc = report(capsys, "--preset", "deep-relu-he", "--set", "dataset=moons", "--set", "depth=30",
                 "--steps", "300", "--shallower", "3")
    d = doc["diagnostics"]
    assert d["baseline"]["n_layers"] == 4 and d["baseline"]["steps"] == 299
    perf = finding(d, "training_performance")
    assert perf["label"] == "deeper is worse" and perf["numbers"]["baseline_n_layers"] == 4
    assert d["verdict"] == "degradation"


def test_report_of_a_diverged_run_says_exploding_in_valid_json(capsys):
    doc = report(capsys, "--preset", "deep-relu-he", "--set", "lr=10", "--steps", "15")
    assert doc["diverged"] is True
    assert doc["diagnostics"]["verdict"] == "exploding"
    assert finding(doc["diagnostics"], "gradient_magnitude")["numbers"]["non_finite"] is True


def test_bad_shallower_depth_is_one_line_exit_2(capsys):
    assert main(["report", "--shallower", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vgviz: error: depth") and len(err.splitlines()) == 1


def test_report_compares_with_a_shallower_net_over_seeds(capsys):
    doc = report(capsys, "--preset", "deep-relu-he", "--set", "depth=4", "width=8", "--steps", "30",
                 "--shallower", "1", "--seeds", "3")
    d = doc["diagnostics"]
    assert d["seeds"]["seeds"] == [0, 1, 2] and len(d["seeds"]["deeper"]) == len(d["seeds"]["shallower"]) == 3
    perf = finding(d, "training_performance")["numbers"]
    accuracies = [run["train_accuracy"] for run in d["seeds"]["deeper"]]
    assert perf["seed_train_accuracy"] == pytest.approx(accuracies)
    assert perf["accuracy_spread"] == pytest.approx(max(accuracies) - min(accuracies))
    assert d["baseline"]["train_accuracy"] == pytest.approx(
        sum(run["train_accuracy"] for run in d["seeds"]["shallower"]) / 3)


@pytest.mark.parametrize("value, needle", [("0", "must be at least 1"), ("x", "not a whole number")])
def test_report_refuses_a_bad_seed_count_in_one_line(capsys, value, needle):
    from tests.cli_errors import one_line_error
    one_line_error(capsys, ["report", "--seeds", value], "--seeds", needle)
