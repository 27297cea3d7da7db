"""Settings of the bench tests: tiny networks at a small frame size, rows that run for a couple of calls."""

SIZE = (64, 96)  # H, W: every stage of the tiny nets, fast on two cores
TINY = {"depth_net": "hu2019_tiny", "mask_net": "mask_drn_tiny", "height": SIZE[0], "width": SIZE[1]}
QUICK = {"warmup": 1, "seconds": 0.0, "iters": 2, "fidelity_frames": 2, "calibration_frames": 4, "threads": 1}


def tiny_export_config():
    """The ExportConfig of TINY with random weights (seed 0), unchecked: what the bench tests export."""
    from depthmask.export.config import ExportConfig

    return ExportConfig(
        depth_net=TINY["depth_net"],
        mask_net=TINY["mask_net"],
        random_weights=True,
        height=SIZE[0],
        width=SIZE[1],
        check=False,
    )
