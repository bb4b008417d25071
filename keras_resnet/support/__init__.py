"""The support layer: option vocabularies, atomic files and folder locks, the installation check, tables,
timing and argument checks. Standard library only (and ``filelock``), so the command checks its arguments before
anything heavy is imported.
"""
