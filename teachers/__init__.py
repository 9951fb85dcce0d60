"""Frozen teacher networks (SuperPoint, LightGlue), their weight files, homography sampling and
homographic adaptation. Knows nothing of HDF5 stores or students."""
