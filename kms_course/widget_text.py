"""The plain-text and HTML forms the course's widgets show outside a live widget view.

A widget panel (the key explorer, the progress panel, the envelope stepper) wraps an ipywidgets
widget in ``self.widget``. When a cell's value is such a panel, IPython asks it for a MIME bundle
(``_repr_mimebundle_``, https://ipython.readthedocs.io/en/stable/config/integrating.html): the
widget's own bundle (``application/vnd.jupyter.widget-view+json``, which a live JupyterLab renders)
plus a stable ``text/plain`` and ``text/html``, which nbval compares and which frontends without
widget support, or a saved notebook, show instead.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any


class TextForm(ABC):
    """Mixin giving a widget panel its ``repr`` and Jupyter MIME bundle from two methods.

    A subclass sets ``self.widget`` (an ipywidgets widget) and implements :meth:`text` and
    :meth:`html`; ``repr(panel)`` is then ``panel.text()``, and the bundle Jupyter displays is the
    widget's own with ``text/plain`` = ``text()`` and ``text/html`` = ``html()``.
    """

    widget: Any

    @abstractmethod
    def text(self) -> str:
        """The panel as stable plain text (no key IDs, ARNs, dates or other per-run values)."""

    @abstractmethod
    def html(self) -> str:
        """The panel as a stable HTML fragment (same content as :meth:`text`)."""

    def __repr__(self) -> str:
        return self.text()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None, **kwargs: Any) -> dict:
        """The widget's MIME bundle with ``text/plain`` and ``text/html`` set to the stable forms.

        Args:
            include, exclude, kwargs: passed to the widget's own ``_repr_mimebundle_``.

        Returns:
            A dict MIME type -> data (str for text types, dict for the widget view).
        """
        bundle = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude, **kwargs))
        bundle["text/plain"] = self.text()
        bundle["text/html"] = self.html()
        return bundle
