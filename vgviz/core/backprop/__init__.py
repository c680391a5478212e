"""One forward and backward pass as frames a view steps through (numpy only in frames.py and
recurrent_frames.py, so the GUI can draw them without torch); trace.py records them."""
