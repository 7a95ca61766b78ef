"""Plain scripts of the tutorial networks, and the process-per-side comparison of zoo's training with them."""
