"""The memory estimate against a real run's peak, and the one-line refusal of a run too big."""
import json
import subprocess
import sys

import pytest

from vgviz.core.config import ConfigError, RunConfig
from vgviz.core.memory import check_fits, estimate, format_bytes, memory_error_message

# Peak resident memory a run adds to a process that already imported torch and ran a tiny
# run (torch's lazy set-up is not the run's). Importing torch peaks higher than where it
# settles, so the high-water mark is reset first (Linux: /proc/self/clear_refs).
MEASURE = """
import json, sys
import torch
torch.set_num_threads(1)
from vgviz.core.config import RunConfig
from vgviz.core.tasks import make_trainer

def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key + ":"))

config = RunConfig.from_dict(json.loads(sys.argv[1]))
warm = make_trainer(config.replace(width=4, depth=1, batch_size=8, seq_len=min(config.seq_len, 5)))
warm.step(); warm.step(full=False); warm.decision_surface(); warm.evaluate()
del warm
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")                           # VmHWM := VmRSS
before = status("VmRSS")
trainer = make_trainer(config)
trainer.measure()
for _ in range(3):
    trainer.step(full=True)
trainer.step(full=False)
trainer.decision_surface(); trainer.evaluate()
print(status("VmHWM") - before)
"""

# Big enough (~200 MB) that the run, not the allocator's noise, makes the peak.
MEASURED_CONFIGS = [
    dict(depth=12, width=512, batch_size=800),
    dict(model="lstm", dataset="recall", depth=1, width=64, seq_len=200, batch_size=256, activation="tanh"),
]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="peak resident memory from /proc")
def test_estimate_is_within_a_factor_of_the_measured_peak_and_never_far_below():
    runs = [subprocess.Popen([sys.executable, "-c", MEASURE, json.dumps(c)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for c in MEASURED_CONFIGS]
    for values, run in zip(MEASURED_CONFIGS, runs):
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, err[-2000:]
        measured = int(out.split()[-1])
        predicted = estimate(RunConfig(**values)).total
        assert 150e6 < measured, (values, measured)   # a real allocation, not noise
        # over-estimating refuses a run that would have fit; under-estimating lets one die
        assert 0.75 * measured <= predicted <= 3 * measured, (values, measured, predicted)


def test_estimate_grows_with_every_size_knob():
    base = RunConfig(model="lstm", dataset="recall", depth=2, width=64, seq_len=50, batch_size=64,
                     activation="tanh")
    total = estimate(base).total
    for change in (dict(depth=4), dict(width=128), dict(seq_len=100), dict(batch_size=128), dict(dtype="float64")):
        assert estimate(base.replace(**change)).total > total, change
    mlp = RunConfig(depth=8, width=64, batch_size=64)
    # a batch is at most the 800 training examples
    assert estimate(mlp.replace(batch_size=4096)).total == estimate(mlp.replace(batch_size=800)).total


def test_a_run_bigger_than_the_memory_is_refused_in_one_line_naming_both_numbers():
    config = RunConfig(model="lstm", dataset="recall", depth=4, width=512, seq_len=1000, batch_size=4096,
                       activation="tanh", gate_init="chrono", optimizer="adam")
    with pytest.raises(ConfigError) as caught:   # the CLI's ConfigError handler prints it
        check_fits(config, available=int(3.1e9))
    message = str(caught.value)
    needed = format_bytes(estimate(config).total)
    assert message == (f"this run needs about {needed} of memory but 3.1 GB is available; "
                       "lower batch_size, seq_len, width or depth (or pass --ignore-memory-check)")
    assert estimate(config).total > 8.4e9     # one (T, batch, width) float32 tensor alone is 8.4 GB
    assert caught.value.needed == estimate(config).total and caught.value.available == int(3.1e9)
    small = RunConfig()
    assert check_fits(small, available=int(3.1e9)).total == estimate(small).total
    assert "seq_len" not in str(pytest.raises(ConfigError, check_fits, small, available=1000).value)


def test_out_of_memory_errors_become_one_line():
    config = RunConfig()
    for err in (MemoryError(), RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: "
                                            "can't allocate memory: you tried to allocate 8388608000 bytes."),
                RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")):
        message = memory_error_message(err, config)
        assert message.startswith("ran out of memory: this run needs about ") and "\n" not in message
        assert "lower batch_size, width or depth" in message
    assert memory_error_message(RuntimeError("shape mismatch"), config) is None
    assert memory_error_message(ValueError("out of memory"), config) is None
