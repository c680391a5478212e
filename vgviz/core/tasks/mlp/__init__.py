"""The MLP task: 2-D data sets and the digits, a stack of Linear layers, per-layer gradients."""
