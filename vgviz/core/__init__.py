"""The Qt-free core: config and presets, tasks/ (data, models, trainers), measure/, backprop/,
diagnose/ and layout/. Never imports Qt."""
