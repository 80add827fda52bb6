"""What a live meeting shows while voting runs: the projector screen's state."""
