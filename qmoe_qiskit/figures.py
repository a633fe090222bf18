"""Figures through matplotlib's object API: nothing here touches pyplot or the process's backend.

A notebook that calls the library keeps its inline plots, and a script keeps the backend it
chose: every figure the project draws is a :class:`~matplotlib.figure.Figure` with its own Agg
canvas, saved to a file and dropped.
"""

from __future__ import annotations

from typing import Any

__all__ = ["subplots"]


def subplots(nrows: int = 1, ncols: int = 1, **kwargs: Any) -> tuple[Any, Any]:
    """A new figure on its own Agg canvas and its axes, like ``pyplot.subplots``.

    Args:
        nrows: Rows of axes.
        ncols: Columns of axes.
        **kwargs: ``figsize`` for the figure; the rest go to
            :meth:`matplotlib.figure.Figure.subplots` (``squeeze``, ``sharex``, ...).

    Returns:
        ``(figure, axes)``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=kwargs.pop("figsize", None))
    FigureCanvasAgg(figure)
    return figure, figure.subplots(nrows, ncols, **kwargs)
