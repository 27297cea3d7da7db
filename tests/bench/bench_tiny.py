"""Settings of the bench tests: tiny networks at a small frame size, rows that run for a couple of calls."""

SIZE = (64, 96)  # H, W: every stage of the tiny nets, fast on two cores
TINY = {"depth_net": "hu2019_tiny", "mask_net": "mask_drn_tiny", "height": SIZE[0], "width": SIZE[1]}
QUICK = {"warmup": 1, "seconds": 0.0, "iters": 2, "fidelity_frames": 2, "calibration_frames": 4, "threads": 1}
