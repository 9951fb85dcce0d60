"""The HDF5 label store: schema, configuration, image sources, writer, reader and the labelling run.
Never imports from ``distill``."""
