"""Where the views put things, as plain numbers (numpy only): the network diagram's layout and
the unrolled-in-time view's columns."""
