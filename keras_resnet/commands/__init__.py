"""The sub-commands of ``keras-resnet``, one module each.

A command module holds ``HELP`` (its one-line help), ``add_arguments(parser)`` (its options), optionally
``check(args)`` (bad input refused with a ``ValueError`` before TensorFlow is imported) and ``run(args)`` (a call into
the library, and the printing of what it returns). ``keras_resnet.cli`` puts them together and turns bad input into
one line.
"""
