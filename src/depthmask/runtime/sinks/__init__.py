"""Where results go: audit log, per-frame files, overlay video, a live window."""
