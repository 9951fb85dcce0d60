"""Sub-commands of the ``distill`` command line, one module each."""
