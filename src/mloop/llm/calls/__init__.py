"""The gateway's call log: one row per call, written in the background."""
