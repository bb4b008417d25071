"""Plain-text tables for the command line, the reports and the benchmarks (standard library only)."""


def format_table(rows, columns):
    """Plain-text table of ``rows`` (dicts) with the given ``columns``; numbers right-aligned."""
    cells = [[str(row[column]) for column in columns] for row in rows]
    widths = [max(len(column), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)]
    lines = ["  ".join(column.ljust(width) for column, width in zip(columns, widths))]
    lines.append("  ".join("-" * width for width in widths))
    for line in cells:
        lines.append("  ".join(cell.rjust(width) if cell[:1].isdigit() else cell.ljust(width)
                               for cell, width in zip(line, widths)))
    return "\n".join(lines)


def format_percent(fraction):
    """``0.9889`` -> ``"98.89 %"``; ``None`` (not measured) -> ``"-"``."""
    return "-" if fraction is None else f"{100 * fraction:.2f} %"
