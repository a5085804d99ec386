"""``python -m graphrec``: the ``graphrec`` command, for launchers that run modules.

``torchrun --nproc-per-node N -m graphrec train ...`` starts N copies of it (multi-process
training, :mod:`graphrec.train.distributed`).
"""

from graphrec.cli.app import main

if __name__ == "__main__":
    main()
