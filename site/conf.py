"""Sphinx's settings for the course's site (`make site`, which runs scripts/build_site.py).

The site is the README (its home page), the executed notebooks with their saved outputs (never run again), the
assignments' README and every docs/*.md, as static HTML that works without a network: MathJax is served from the
site itself (sphinx-mathjax-offline), nothing is loaded from a CDN (no Thebe, no launch buttons, no widget
JavaScript), and each widget is drawn from the state its notebook saved (widget_snapshot.py).

The repository's root is Sphinx's source folder, so that a page's links to the kit's files (`llama_lab/chat.py`)
resolve: such a file becomes a download of the site.
"""

import json
import sys
from pathlib import Path

from sphinx import addnodes

SITE = Path(__file__).resolve().parent
REPO = SITE.parent
sys.path.insert(0, str(SITE))

from widget_snapshot import replace_widget_views  # noqa: E402  (site/ is not a package: found through sys.path)

project = "llama-lab"
html_title = "llama-lab: Llama 2, by running it"
root_doc = "README"

# The pages, and nothing else of the repository: every other top-level entry is left out whole, so that Sphinx does
# not walk .venv/ or data/.
PAGES = ["README.md", "docs/*.md", "notebooks/[0-9][0-9]_*.ipynb", "notebooks/assignments/README.md"]
PAGE_FOLDERS = {"README.md", "docs", "notebooks"}
include_patterns = PAGES
exclude_patterns = sorted(entry.name for entry in REPO.iterdir() if entry.name not in PAGE_FOLDERS) + [
    "notebooks/assignments/instructor", "notebooks/assignments/student", "**/.ipynb_checkpoints"]

# The home page's table of contents, added to the README as Sphinx reads it (the README itself has none): the
# notebooks and docs/*.md by pattern, so that a new notebook or page is on the site without a change here.
CONTENTS = """

```{toctree}
:hidden:
:caption: The course
:glob:

notebooks/[0-9]*
notebooks/assignments/README
```

```{toctree}
:hidden:
:caption: Guides
:glob:

docs/*
```
"""

extensions = ["myst_nb", "sphinx.ext.mathjax", "sphinx-mathjax-offline"]
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3  # "#set-up-and-tests" links within and between pages

nb_execution_mode = "off"  # the saved outputs are the course's: shown as they are
nb_ipywidgets_js = {}  # no widget JavaScript from a CDN: widgets are drawn from their saved state
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]

html_theme = "sphinx_book_theme"
html_theme_options = {
    "use_download_button": True,  # the page's source: the .ipynb or the .md, from the site itself
    "use_repository_button": False,
    "use_issues_button": False,
    "use_edit_page_button": False,
    "launch_buttons": {},
    "navigation_with_keys": False,
}
html_show_sourcelink = False
html_last_updated_fmt = None

suppress_warnings = ["myst.header"]  # a notebook's cells may start at any heading level


def add_contents_to_home_page(app, docname: str, source: list[str]) -> None:
    if docname == root_doc:
        source[0] += CONTENTS


def draw_widgets_from_saved_state(app, docname: str, source: list[str]) -> None:
    if app.env.doc2path(docname).suffix == ".ipynb":
        notebook = json.loads(source[0])
        if "widgets" in notebook.get("metadata", {}):
            source[0] = json.dumps(replace_widget_views(notebook))


def link_files_of_the_kit(app, doctree) -> None:
    """Links to the repository that are not pages of the site: a notebook (a student's assignment) becomes a
    download, as any other file of the kit does (MyST would take it for a page, and find none); a folder, which a
    static site cannot show, becomes its link's text."""
    for reference in list(doctree.findall(addnodes.pending_xref)):
        target = reference.get("reftarget", "")
        if reference.get("refdomain") == "doc" and target not in app.env.found_docs:
            notebook = f"{target}.ipynb"
            if (Path(app.srcdir) / notebook).is_file():
                download = addnodes.download_reference(refdomain=None, reftarget=f"/{notebook}", reftype="myst",
                                                       refdoc=reference.get("refdoc"), refexplicit=True)
                download.extend(reference.children)
                reference.replace_self(download)
        elif reference.get("refdomain") is None and reference.get("reftype") == "myst":
            folder = Path(app.env.relfn2path(target.split("#")[0], reference.get("refdoc"))[1])
            if target and folder.is_dir():
                reference.replace_self(reference.children)


def write_index_page(app, exception) -> None:
    """index.html, the page a browser opens for the site's folder, sends the reader to the home page."""
    if exception is None and app.builder.format == "html":
        home = f"{root_doc}.html"
        (Path(app.outdir) / "index.html").write_text(
            f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{project}</title>"
            f"<meta http-equiv=\"refresh\" content=\"0; url={home}\"></head>"
            f"<body><p><a href=\"{home}\">{html_title}</a></p></body></html>\n")


def setup(app):
    app.connect("source-read", add_contents_to_home_page)
    app.connect("source-read", draw_widgets_from_saved_state)
    app.connect("doctree-read", link_files_of_the_kit, priority=400)  # before Sphinx lists downloads
    app.connect("build-finished", write_index_page)
