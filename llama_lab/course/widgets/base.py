"""What every explorer shares: the `Explorer` base class (a message line, a figure shown as a PNG, a Save PNG
button, errors shown rather than raised), the controls' common layout, and `beside`, which sets a panel to an
explorer's right."""

from __future__ import annotations

import contextlib
import html
import os
from pathlib import Path
from typing import Callable

import ipywidgets as widgets
from IPython.display import Image
from matplotlib.figure import Figure

from ..viz import figure_png, save_png

SLIDER = dict(continuous_update=False, style={"description_width": "110px"}, layout=widgets.Layout(width="380px"))
WIDE = widgets.Layout(width="95%")


def text_box(value: str, description: str, rows: int = 2, placeholder: str = "") -> widgets.Textarea:
    """A text box as wide as the explorer that acts when it loses focus, not at every key (a forward pass each)."""
    return widgets.Textarea(value=value, description=description, placeholder=placeholder, rows=rows,
                            continuous_update=False, layout=WIDE, style={"description_width": "110px"})


class Explorer:
    """What every explorer shares: a message line, a figure shown as a PNG, and a button to save that figure."""

    kind = "figure"  # the default file name and the CSS class `llama-lab-<kind>` of the whole widget

    def __init__(self):
        self.error: str | None = None
        self._quiet = False
        self.figure: Figure | None = None
        self.message = widgets.HTML()
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.save_path = widgets.Text(value=f"{self.kind}.png", description="PNG file", continuous_update=False)
        self.save_button = widgets.Button(description="Save PNG", icon="download",
                                          tooltip="save the current figure under the file name on the left")
        self.save_button.on_click(lambda _: self._guard(self._save_clicked))
        self.widget: widgets.Box | None = None  # set by each explorer once its controls exist

    def _finish_layout(self, *rows) -> None:
        self.widget = widgets.VBox(list(rows))
        self.widget.add_class(f"llama-lab-{self.kind.replace('_', '-')}")

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    @contextlib.contextmanager
    def _quietly(self):
        """Change controls from code without their callbacks running (e.g. new options for a dropdown)."""
        self._quiet = True
        try:
            yield
        finally:
            self._quiet = False

    def _guard(self, action: Callable, *args):
        """Run a callback; a failure becomes the explorer's message instead of a traceback in the output."""
        if self._quiet:
            return None
        try:
            return action(*args)
        except Exception as error:  # noqa: BLE001 (any failure of a callback is shown, not raised)
            self.error = str(error) if isinstance(error, ValueError) else f"{type(error).__name__}: {error}"
            self.message.value = f'<div style="color:#b00020">&#9888; {html.escape(self.error)}</div>'
            return None

    def _note(self, text: str = "") -> None:
        """Clear any error; show `text` (if any) as a grey note."""
        self.error = None
        self.message.value = f'<div style="color:#555">{html.escape(text)}</div>' if text else ""

    def _show(self, fig: Figure, image: widgets.Image | None = None) -> None:
        (image or self.image).value = figure_png(fig)

    def current_figure(self) -> Figure | None:
        return self.figure

    def save_png(self, path: str | os.PathLike | None = None) -> Path:
        """Save the figure the explorer shows now (default: the file name in its box); returns the path."""
        fig = self.current_figure()
        if fig is None:
            raise ValueError("there is no figure yet: fix the message above first")
        return save_png(fig, path if path is not None else self.save_path.value)

    def snapshot(self) -> Image:
        """The figure the explorer shows now, as a plain image: left last in a cell, it becomes an ordinary output
        that the saved notebook keeps, so GitHub and nbviewer show it where the live widget needs a kernel."""
        fig = self.current_figure()
        if fig is None:
            raise ValueError("there is no figure yet: fix the message above first")
        return Image(figure_png(fig))

    def _save_clicked(self) -> None:
        self._note(f"saved {self.save_png().resolve()}")


def check_length(model, n_tokens: int, what: str) -> None:
    """A ValueError for a text longer than the model's context, naming `what` ("text", "prompt") and both lengths."""
    limit = model.args.max_seq_len
    if n_tokens > limit:
        raise ValueError(f"the {what} is {n_tokens} tokens long but the model's context holds {limit}: shorten it")



def beside(explorer: Explorer, panel: widgets.Widget) -> widgets.HBox:
    """The explorer with a panel to its right; the explorer takes the width the panel leaves."""
    explorer.widget.layout.flex, explorer.widget.layout.min_width = "1 1 0%", "560px"
    return widgets.HBox([explorer.widget, panel], layout=widgets.Layout(width="100%", align_items="flex-start"))
