"""The Qt-free core: config, data, models, probes, training, history. Never imports Qt."""
