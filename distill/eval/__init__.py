"""Evaluation: HPatches and synthetic-warp sequences, detectors, repeatability, speed, reports."""
