import os

# Qt tests run headless; set before any Qt module is imported.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
