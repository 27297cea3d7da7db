"""Fleet audits on Ray: every drive of a fleet through `depthmask run`'s pipeline, one drive per task.

A drive is the unit of work (no state crosses drives), so an audit spreads over as many workers as the
cluster has and resumes drive by drive. Each worker (a Ray actor) loads the model once and runs the
runtime's own `run` core on one drive at a time, into a staging folder the driver commits when the drive
is whole; a completion marker with the model's hash and the record count lets a rerun skip it.
Ray is imported only here, lazily (`depthmask[fleet]`).
"""
