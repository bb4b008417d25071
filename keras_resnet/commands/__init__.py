"""The sub-commands of ``keras-resnet``, one module each.

A command module holds ``HELP`` (its one-line help), ``add_arguments(parser)`` (its options) and ``run(args)`` (a
call into the library, and the printing of what it returns). ``keras_resnet.cli`` puts them together and turns bad
input into one line.
"""
