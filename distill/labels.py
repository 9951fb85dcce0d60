"""``python -m distill.labels``: the ``distill labels`` command as a module, so that ``torchrun`` can start it once
per process; each process labels its shard and process 0 merges them (:mod:`labels.torchrun`)::

    torchrun --nproc-per-node 4 -m distill.labels --images DIR --out data/labels
"""
from distill.commands.labels import app

if __name__ == "__main__":
    app(prog_name="python -m distill.labels")
