"""Diagnostics: the symptoms of vanishing (and exploding) gradients, measured, and a verdict.

Six findings, each with the numbers behind it and the threshold it was judged by:

1. gradient magnitude by layer  (History: mean |dL/dW| per Linear layer)
2. loss plateau                  (History: training loss and accuracy)
3. training performance          (against a shallower counterpart, when one was run)
4. unresponsive neurons          (ActivationStats: forward hooks on activation modules)
5. reliance on upper layers      (AblationResult: re-initialise the first k layers of a copy)
6. speed of learning             (History: ‖ΔW‖/‖W‖ per layer per step, from UpdateMeter)

`verdict.diagnose(...)` combines them into a `Diagnosis`: a verdict (vanishing, exploding,
healthy, converged, degradation), a plain-language headline naming the likely
cause, and the fixes that apply, each linked to the preset that demonstrates it.

    measures.py     activation statistics, ablation, a run's summary
    findings.py     the six findings          thresholds.py  what they are judged by
    fixes.py        fixes and their presets   verdict.py     diagnose() and Diagnosis
    experiments.py  a trainer's diagnosis, a headless shallower run, one-change variants

Everything here works on any nn.Module built from nn.Linear layers and
element-wise activation modules (found by type), and never imports Qt.
"""
