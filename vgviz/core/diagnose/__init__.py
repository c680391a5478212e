"""Diagnostics: the symptoms of vanishing (and exploding) gradients, measured, and a verdict.

Eight findings, each with the numbers behind it and the threshold it was judged by:

1. error signal δ by layer      (History.latest/first: ‖∂L/∂z‖ per layer, or ‖∂L/∂h_t‖ through time)
2. forward signal by layer      (History.latest/first: the std of each hidden layer's output)
3. gradient magnitude by layer  (History: mean |dL/dW| per Linear layer)
4. loss plateau                  (History: training loss and accuracy)
5. training performance          (against a shallower counterpart, when one was run; over seeds)
6. unresponsive neurons          (ActivationStats: forward hooks on activation modules)
7. reliance on upper layers      (AblationResult: re-initialise the first k layers of a copy)
8. speed of learning             (History: ‖ΔW‖/‖W‖ per layer per step, from UpdateMeter)

`verdict.diagnose(...)` combines them into a `Diagnosis`: a verdict (vanishing, exploding,
healthy, converged, degradation), a plain-language headline naming the likely
cause, and the fixes that apply, each linked to the preset that demonstrates it.

    measures.py     activation statistics, ablation, a run's summary
    findings.py     the eight findings        thresholds.py  what they are judged by
    fixes.py        fixes and their presets   verdict.py     diagnose() and Diagnosis
    experiments.py  a trainer's diagnosis, a headless shallower run (over seeds), one-change variants
    runs.py         diagnose_run(): a run file's diagnosis (`vgviz.diagnose`)

Everything here works on any nn.Module built from nn.Linear layers and
element-wise activation modules (found by type), and never imports Qt.
"""

# the findings in the order every view lists them (a light import: the GUI sizes its table by it)
FINDING_KEYS = ("error_signal", "forward_signal", "gradient_magnitude", "loss_plateau", "training_performance",
                "unresponsive_neurons", "reliance_on_upper_layers", "speed_of_learning")
