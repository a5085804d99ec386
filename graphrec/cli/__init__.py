"""The ``graphrec`` command line.

Importing this package first sets the no-spin thread environment (:mod:`graphrec.threads`):
the OpenMP runtimes of torch and scikit-learn read it once, when they load, which is later, inside
the commands.
"""

from graphrec.threads import prepare_environment

prepare_environment()
