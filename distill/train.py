"""``python -m distill.train``: the ``distill train`` command as a module, so that ``torchrun``
can start it once per process::

    torchrun --nproc-per-node 4 -m distill.train --store data/labels/superpoint-<hash>.h5 --name ddp
"""
import typer

from distill.commands.train import train_command

if __name__ == "__main__":
    typer.run(train_command)
