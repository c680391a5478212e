"""The PySide6 + pyqtgraph GUI: draws what vgviz.core computes."""
