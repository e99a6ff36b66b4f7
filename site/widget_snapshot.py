"""Pictures of a notebook's widgets for the course's site, made from the widget state the notebook saved.

A widget's output in a saved notebook is only a reference to a model in the notebook's metadata: shown as it is, a
page needs the widgets' JavaScript to draw it. The site instead draws each widget as plain HTML, from the values it
had when the notebook was saved: its figures (image widgets, as PNG), its texts, and each control (slider, text box,
drop-down, toggle, button) disabled, at its saved value. A reader sees what the learner saw after running the cell.

Example: an output {"application/vnd.jupyter.widget-view+json": {"model_id": "a1"}, "text/plain": "VBox(...)"}
whose model "a1" is a VBox of an HTML widget "<b>Logit lens</b>" and a layer slider at 3 becomes a "text/html"
output: a box holding "<b>Logit lens</b>" and a disabled range input at 3, with the readout "3".
"""

import copy
import html

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
MODEL_REFERENCE = "IPY_MODEL_"

NOTE = ("<p class=\"widget-snapshot-note\"><em>The widget as it was when the notebook was saved: "
        "run the notebook in JupyterLab to use it.</em></p>")
# The layout properties a snapshot keeps (as CSS: `max_height` -> `max-height`): sizes, scrolling and spacing, so
# that a panel that scrolls in JupyterLab scrolls on the page too.
LAYOUT_PROPERTIES = ("width", "height", "min_width", "max_width", "min_height", "max_height", "overflow", "flex",
                     "margin", "padding", "border", "align_items", "justify_content")
BOX_STYLE = {"HBoxModel": "display:flex; flex-direction:row; flex-wrap:wrap; gap:0.5em; align-items:flex-start",
             "VBoxModel": "display:flex; flex-direction:column; gap:0.3em",
             "BoxModel": "display:flex; flex-direction:column; gap:0.3em"}


def saved_widget_models(notebook: dict) -> dict[str, dict]:
    """{model id: {"model_name": ..., "state": ..., "buffers": ...}} from a notebook's saved widget state."""
    return notebook.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})


def referenced_model(reference: str, models: dict[str, dict]) -> dict | None:
    return models.get(reference.removeprefix(MODEL_REFERENCE)) if isinstance(reference, str) else None


def layout_of(state: dict, models: dict[str, dict]) -> dict:
    layout = referenced_model(state.get("layout", ""), models)
    return layout["state"] if layout else {}


def is_hidden(layout: dict) -> bool:
    return layout.get("display") == "none" or layout.get("visibility") == "hidden"


def layout_css(layout: dict) -> str:
    """Example: {"width": "460px", "overflow": "auto", "margin": None} -> "width:460px; overflow:auto"."""
    return "; ".join(f"{key.replace('_', '-')}:{layout[key]}" for key in LAYOUT_PROPERTIES if layout.get(key))


def buffer_as_base64(model: dict, key: str) -> str | None:
    """A binary value (an image's bytes) of a saved model: the state keeps it apart, base64-encoded, in buffers."""
    for buffer in model.get("buffers", []):
        if buffer.get("path") == [key] and buffer.get("encoding") == "base64":
            return buffer["data"]
    return None


def labelled(description: str, control: str) -> str:
    label = f"<span class=\"widget-snapshot-label\">{html.escape(description)}</span> " if description else ""
    return f"<div class=\"widget-snapshot-control\">{label}{control}</div>"


def readout(value, number_format: str | None) -> str:
    try:
        return format(value, number_format or "")
    except (TypeError, ValueError):  # a format the front end reads (d3-format) that Python's does not
        return str(value)


def output_html(output: dict) -> str:
    """One output kept by an Output widget: its picture, its HTML or its text."""
    if output.get("output_type") == "stream":
        return f"<pre>{html.escape(''.join(output.get('text', '')))}</pre>"
    data = output.get("data", {})
    if "image/png" in data:
        return f"<img alt=\"figure\" src=\"data:image/png;base64,{''.join(data['image/png']).strip()}\">"
    if "text/html" in data:
        return "".join(data["text/html"])
    if "text/plain" in data:
        return f"<pre>{html.escape(''.join(data['text/plain']))}</pre>"
    return ""


def model_html(model: dict, models: dict[str, dict]) -> str:
    """A saved widget model drawn as static HTML, in a box that keeps its layout's size and scrolling; a hidden
    widget, or one of a kind the site does not draw (a layout, a style, a widget without a picture or a value), gives
    the empty string."""
    layout = layout_of(model.get("state", {}), models)
    if is_hidden(layout):
        return ""
    drawn = widget_html(model, models)
    style = layout_css(layout)
    return f"<div style=\"{html.escape(style)}\">{drawn}</div>" if drawn and style else drawn


def widget_html(model: dict, models: dict[str, dict]) -> str:
    name, state = model.get("model_name", ""), model.get("state", {})
    description = state.get("description", "")
    if name in BOX_STYLE:
        children = "".join(model_html(child, models) for child in
                           filter(None, (referenced_model(ref, models) for ref in state.get("children", []))))
        return f"<div class=\"widget-snapshot-box\" style=\"{BOX_STYLE[name]}\">{children}</div>"
    if name in ("HTMLModel", "HTMLMathModel"):
        return labelled(description, state.get("value", ""))  # the kit's own markup, as the widget shows it
    if name == "LabelModel":
        return labelled(description, html.escape(state.get("value", "")))
    if name == "ImageModel":
        data = buffer_as_base64(model, "value")
        if not data:
            return ""
        image_format = html.escape(state.get("format", "png"))
        return f"<img class=\"widget-snapshot-image\" alt=\"{html.escape(description or 'figure')}\" " \
               f"src=\"data:image/{image_format};base64,{data}\" style=\"max-width:100%\">"
    if name in ("IntSliderModel", "FloatSliderModel", "FloatLogSliderModel"):
        value = state.get("value", 0)
        bounds = " ".join(f"{key}=\"{html.escape(str(state[key]))}\"" for key in ("min", "max", "step") if key in state)
        return labelled(description, f"<input type=\"range\" {bounds} value=\"{html.escape(str(value))}\" disabled> "
                                     f"<span>{html.escape(readout(value, state.get('readout_format')))}</span>")
    if name in ("TextModel", "IntTextModel", "FloatTextModel", "BoundedIntTextModel", "BoundedFloatTextModel"):
        return labelled(description, f"<input type=\"text\" value=\"{html.escape(str(state.get('value', '')))}\" "
                                     "disabled>")
    if name == "TextareaModel":
        return labelled(description, f"<textarea rows=\"{state.get('rows') or 2}\" cols=\"60\" disabled>"
                                     f"{html.escape(state.get('value', ''))}</textarea>")
    if name in ("DropdownModel", "SelectModel", "RadioButtonsModel"):
        labels, index = state.get("_options_labels", []), state.get("index")
        options = "".join(f"<option{' selected' if i == index else ''}>{html.escape(label)}</option>"
                          for i, label in enumerate(labels))
        return labelled(description, f"<select disabled>{options}</select>")
    if name == "ToggleButtonsModel":
        labels, index = state.get("_options_labels", []), state.get("index")
        pressed = {True: "aria-pressed=\"true\" style=\"font-weight:bold\"", False: "aria-pressed=\"false\""}
        buttons = "".join(f"<button disabled {pressed[i == index]}>{html.escape(label)}</button>"
                          for i, label in enumerate(labels))
        return labelled(description, buttons)
    if name in ("CheckboxModel", "ToggleButtonModel"):
        checked = " checked" if state.get("value") else ""
        return labelled(description, f"<input type=\"checkbox\"{checked} disabled>")
    if name == "ButtonModel":
        return f"<div class=\"widget-snapshot-control\"><button disabled>{html.escape(description)}</button></div>"
    if name == "OutputModel":
        return "".join(output_html(output) for output in state.get("outputs", []))
    return ""


def snapshot_html(model_id: str, models: dict[str, dict]) -> str | None:
    """The saved widget `model_id` drawn as static HTML, with a note that says so; None if the notebook did not save
    that widget's state."""
    model = models.get(model_id)
    if model is None:
        return None
    return f"<div class=\"widget-snapshot\">{model_html(model, models)}{NOTE}</div>"


def replace_widget_views(notebook: dict) -> dict:
    """A copy of a notebook (nbformat 4, as JSON) in which every widget output whose state was saved shows its
    snapshot ("text/html") instead, and whose metadata no longer holds the widget state. An output whose widget was
    not saved keeps its text ("text/plain") alone. The notebook given is left as it is."""
    result = copy.deepcopy(notebook)
    models = saved_widget_models(result)
    for cell in result.get("cells", []):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW not in data:
                continue
            snapshot = snapshot_html(data.pop(WIDGET_VIEW).get("model_id", ""), models)
            if snapshot is not None:
                data.pop("text/plain", None)  # "VBox(children=(...))": the widget's repr, not what it shows
                data["text/html"] = snapshot
    result.get("metadata", {}).pop("widgets", None)
    return result
