"""The course's site (`make site`, scripts/build_site.py) as a reader gets it: built into a temporary folder, served
on loopback by a server of its own, and every page opened in Debian's Chromium through Playwright.

Every page must load, every link within the site must reach a built file (and the anchor it names), the notebooks'
mathematics must be typeset by the MathJax the site serves, their saved figures must be drawn, each widget must show
its saved state, and no page may request anything from outside 127.0.0.1: an instructor hands the site out to
readers who may have no network. Chromium is told to refuse every other address, so that a page that asks for a CDN
fails here at once rather than waiting for a network that is not there.
"""

import base64
import functools
import html.parser
import importlib.util
import io
import json
import re
import subprocess
import sys
import time
import tomllib
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import pytest

from support import REPO, names, recipe
from test_browser import CHROMIUM_FLAGS, chromium_or_skip, free_port

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend that needs no display)

BUILD_SITE = REPO / "scripts" / "build_site.py"
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def load_widget_snapshot():
    """site/widget_snapshot.py, which Sphinx imports from site/ (not a package of the kit)."""
    spec = importlib.util.spec_from_file_location("widget_snapshot", REPO / "site" / "widget_snapshot.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def notebook_outputs(path: Path) -> list[dict]:
    notebook = json.loads(path.read_text())
    return [output for cell in notebook["cells"] for output in cell.get("outputs", [])]


def markdown_of(path: Path) -> str:
    notebook = json.loads(path.read_text())
    return "\n".join("".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "markdown")


class AnchorCollector(html.parser.HTMLParser):
    """The ids (and old-style `<a name>`s) of an HTML page: what a link's #fragment may name."""

    def __init__(self):
        super().__init__()
        self.anchors: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name == "id" or (tag == "a" and name == "name"):
                self.anchors.add(value)


@functools.cache
def anchors_of(page: Path) -> set[str]:
    collector = AnchorCollector()
    collector.feed(page.read_text(errors="replace"))
    return collector.anchors


# ---------------------------------------------------------------------------------------------------------------
# Widgets drawn from their saved state, on a notebook written by hand

def tiny_png() -> str:
    """A 2x1 PNG, as base64: what an Image widget's saved state holds."""
    buffer = io.BytesIO()
    plt.imsave(buffer, [[0.0, 1.0]], format="png")
    return base64.b64encode(buffer.getvalue()).decode()


def model(name: str, layout: str | None = None, **state) -> dict:
    return {"model_name": name, "model_module": "@jupyter-widgets/controls", "model_module_version": "2.0.0",
            "state": {**state, **({"layout": f"IPY_MODEL_{layout}"} if layout else {})}}


def test_widget_snapshot_draws_the_saved_state():
    snapshot = load_widget_snapshot()
    png = tiny_png()
    figure = model("ImageModel", format="png")
    figure["buffers"] = [{"path": ["value"], "encoding": "base64", "data": png}]
    models = {
        "lens": model("VBoxModel", children=["IPY_MODEL_title", "IPY_MODEL_layer", "IPY_MODEL_figure",
                                             "IPY_MODEL_hidden", "IPY_MODEL_word", "IPY_MODEL_panel"]),
        "title": model("HTMLModel", value="<b>Logit lens</b>"),
        "layer": model("IntSliderModel", description="layer", value=3, min=0, max=7, step=1, readout_format="d"),
        "figure": figure,
        "hidden": model("HTMLModel", layout="none", value="not shown"),
        "none": {"model_name": "LayoutModel", "state": {"display": "none"}},
        "word": model("DropdownModel", description="target", _options_labels=["Pretzel", "Max"], index=1),
        "panel": model("HTMLModel", layout="scroll", value="<table><tr><td>Ada</td></tr></table>"),
        "scroll": {"model_name": "LayoutModel", "state": {"height": "560px", "overflow": "auto", "margin": None}},
    }
    notebook = {"nbformat": 4, "nbformat_minor": 5, "cells": [
        {"cell_type": "code", "source": "lens", "metadata": {}, "outputs": [
            {"output_type": "execute_result", "metadata": {}, "execution_count": 1,
             "data": {WIDGET_VIEW: {"model_id": "lens", "version_major": 2, "version_minor": 0},
                      "text/plain": "VBox(children=(HTML(value='<b>Logit lens</b>'), ...))"}}]},
        {"cell_type": "code", "source": "gone", "metadata": {}, "outputs": [
            {"output_type": "display_data", "metadata": {},
             "data": {WIDGET_VIEW: {"model_id": "never-saved"}, "text/plain": "IntSlider(value=1)"}}]}],
        "metadata": {"widgets": {"application/vnd.jupyter.widget-state+json": {
            "version_major": 2, "version_minor": 0, "state": models}}}}
    original = json.dumps(notebook, sort_keys=True)

    drawn = snapshot.replace_widget_views(notebook)

    assert json.dumps(notebook, sort_keys=True) == original, "the notebook given was changed"
    assert "widgets" not in drawn["metadata"]
    lens_output, unsaved_output = (cell["outputs"][0]["data"] for cell in drawn["cells"])
    assert set(lens_output) == {"text/html"}
    page = lens_output["text/html"]
    assert "<b>Logit lens</b>" in page and "not shown" not in page
    assert re.search(r'<input type="range" min="0" max="7" step="1" value="3" disabled> <span>3</span>', page)
    assert f'src="data:image/png;base64,{png}"' in page
    assert "<option selected>Max</option>" in page and "<option>Pretzel</option>" in page
    assert '<div style="height:560px; overflow:auto"><div class="widget-snapshot-control"><table>' in page
    assert unsaved_output == {"text/plain": "IntSlider(value=1)"}  # nothing saved to draw: its text stays


# ---------------------------------------------------------------------------------------------------------------
# The built site, served on loopback and read in Chromium

@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site, built by scripts/build_site.py into a temporary folder: its html/ folder."""
    pytest.importorskip("sphinx", reason="the site needs the `site` extra: `pip install -e '.[site]'`")
    pytest.importorskip("myst_nb", reason="the site needs the `site` extra: `pip install -e '.[site]'`")
    out = tmp_path_factory.mktemp("site")
    started = time.monotonic()
    build = subprocess.run([sys.executable, str(BUILD_SITE), "--out", str(out)], capture_output=True, text=True,
                           timeout=900)
    assert build.returncode == 0, f"the site was not built:\n{build.stdout[-3000:]}\n{build.stderr[-3000:]}"
    print(f"\nsite built in {time.monotonic() - started:.1f} s: {build.stderr.strip().splitlines()[-1]}")
    return out / "html"


@pytest.fixture(scope="module")
def site_url(site):
    """The site served by Python's http.server on 127.0.0.1, in a process of its own, stopped by its pid."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                               "--directory", str(site)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/index.html", timeout=5).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the site's server did not answer on {url} (exit status {server.poll()})")
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@dataclass
class Visit:
    """What Chromium saw of one page."""
    status: int | None
    final_url: str = ""
    errors: list[str] = field(default_factory=list)  # uncaught script errors
    links: list[str] = field(default_factory=list)  # every <a href>, as absolute URLs
    images: list[dict] = field(default_factory=list)  # {"src", "complete", "width", "in_output"}
    math_elements: int = 0  # Sphinx's .math spans and divs
    typeset: int = 0  # of those, how many hold MathJax's output (mjx-container)
    display_math: int = 0
    raw_math_left: list[str] = field(default_factory=list)  # "$$", "\(", "\[" left in the page's prose
    widget_snapshots: int = 0


READ_PAGE = """async () => {
    if (window.MathJax && MathJax.startup) await MathJax.startup.promise;
    const images = [...document.images];
    for (const image of images) image.loading = 'eager';
    await Promise.all(images.map(image => image.decode().catch(() => null)));
    const prose = document.querySelector('main') || document.body;
    const copy = prose.cloneNode(true);
    copy.querySelectorAll('pre, code, script, style, mjx-container, textarea').forEach(node => node.remove());
    const text = copy.textContent;
    return {
        links: [...document.querySelectorAll('a[href]')].map(a => a.href),
        images: images.map(image => ({src: image.currentSrc || image.src, complete: image.complete,
                                      width: image.naturalWidth, in_output: !!image.closest('.cell_output')})),
        math_elements: document.querySelectorAll('.math').length,
        typeset: [...document.querySelectorAll('.math')].filter(m => m.querySelector('mjx-container')).length,
        display_math: document.querySelectorAll('mjx-container[display="true"]').length,
        raw_math_left: ['$$', '\\\\(', '\\\\['].filter(mark => text.includes(mark)),
        widget_snapshots: document.querySelectorAll('.widget-snapshot').length,
    };
}"""


@pytest.fixture(scope="module")
def visits(site, site_url):
    """{page's path in the site: Visit} for every HTML page of the site, and every URL any page requested."""
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = chromium_or_skip()
    pages = sorted(path.relative_to(site).as_posix() for path in site.rglob("*.html") if "_static" not in path.parts)
    requested: list[str] = []
    seen: dict[str, Visit] = {}

    def only_loopback(route):
        if urllib.parse.urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            route.abort()

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS, headless=True)
        context = browser.new_context(viewport={"width": 1300, "height": 1000})
        context.on("request", lambda request: requested.append(request.url))
        context.route("**/*", only_loopback)
        try:
            for path in pages:
                page = context.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda error: errors.append(str(error)))
                response = page.goto(f"{site_url}/{path}", wait_until="load", timeout=60_000)
                if path == "index.html":  # it sends the reader on to the home page
                    page.wait_for_url("**/README.html", timeout=30_000)
                    page.wait_for_load_state("load")
                visit = Visit(status=response.status if response else None, final_url=page.url, errors=errors)
                for key, value in page.evaluate(READ_PAGE).items():
                    setattr(visit, key, value)
                seen[path] = visit
                page.close()
        finally:
            browser.close()
    return seen, requested


def test_site_has_a_page_for_every_notebook_and_document(site):
    expected = ["README.html", "index.html", "notebooks/assignments/README.html"]
    expected += [f"notebooks/{notebook.stem}.html" for notebook in NOTEBOOKS]
    expected += [f"docs/{page.stem}.html" for page in (REPO / "docs").glob("*.md")]
    missing = [page for page in expected if not (site / page).is_file()]
    assert not missing, f"pages missing from the site: {missing}"
    assert len(NOTEBOOKS) >= 8


def test_every_page_loads_without_errors(visits):
    seen, _ = visits
    assert len(seen) >= len(NOTEBOOKS) + 3
    failed = {path: visit.status for path, visit in seen.items() if visit.status != 200}
    assert not failed, f"pages that did not load (HTTP status): {failed}"
    broken = {path: visit.errors for path, visit in seen.items() if visit.errors}
    assert not broken, f"script errors: {broken}"
    assert seen["index.html"].final_url.endswith("/README.html")


def test_no_page_requests_anything_outside_loopback(visits, site_url):
    _, requested = visits
    network = [url for url in requested if urllib.parse.urlsplit(url).scheme not in ("data", "blob")]
    outside = sorted({url for url in network if urllib.parse.urlsplit(url).hostname != "127.0.0.1"})
    assert not outside, f"requests that left the machine: {outside}"
    assert any(url.endswith("/_static/mathjax/tex-chtml.js") for url in network), "MathJax came from elsewhere"
    assert len(network) > len(visits[0])


def test_every_link_within_the_site_reaches_a_file_and_its_anchor(visits, site, site_url):
    seen, _ = visits
    checked, broken = 0, []
    for path, visit in seen.items():
        for link in visit.links:
            parts = urllib.parse.urlsplit(link)
            if f"{parts.scheme}://{parts.netloc}" != site_url:
                continue  # a link out of the site (a paper, a repository): not loaded by the page, not checked
            target = site / urllib.parse.unquote(parts.path).lstrip("/")
            if target.is_dir():
                target = target / "index.html"
            checked += 1
            if not target.is_file():
                broken.append(f"{path}: {link} (no such file)")
            elif parts.fragment and target.suffix == ".html" and \
                    urllib.parse.unquote(parts.fragment) not in anchors_of(target):
                broken.append(f"{path}: {link} (no anchor #{parts.fragment} in {target.relative_to(site)})")
    assert not broken, "broken links:\n" + "\n".join(broken)
    assert checked > 100  # the navigation alone links every page from every page


def test_the_notebooks_mathematics_is_typeset(visits):
    seen, _ = visits
    with_math = {path: visit for path, visit in seen.items() if visit.math_elements}
    untypeset = {path: visit.math_elements - visit.typeset for path, visit in with_math.items()
                 if visit.typeset != visit.math_elements}
    assert not untypeset, f"formulas MathJax did not typeset, per page: {untypeset}"
    raw = {path: visit.raw_math_left for path, visit in seen.items() if visit.raw_math_left}
    assert not raw, f"LaTeX left as text: {raw}"
    for notebook in NOTEBOOKS:
        markdown = markdown_of(notebook)
        visit = seen[f"notebooks/{notebook.stem}.html"]
        assert visit.display_math >= markdown.count("$$") // 2, f"{notebook.name}: display formulas missing"
        if re.search(r"(?<!\$)\$(?!\$)[^$\n]+\$(?!\$)", markdown):
            assert visit.typeset > 0, f"{notebook.name}: its inline formulas were not typeset"
    assert seen["notebooks/02_attention_and_gqa.html"].display_math >= 4


def test_the_notebooks_saved_figures_are_drawn(visits):
    seen, _ = visits
    for notebook in NOTEBOOKS:
        saved = sum("image/png" in output.get("data", {}) for output in notebook_outputs(notebook))
        visit = seen[f"notebooks/{notebook.stem}.html"]
        figures = [image for image in visit.images if image["in_output"] and not image["src"].startswith("data:")]
        assert len(figures) == saved, f"{notebook.name}: {saved} saved figures, {len(figures)} on its page"
    blank = {path: [image["src"][-60:] for image in visit.images if not (image["complete"] and image["width"] > 0)]
             for path, visit in seen.items()}
    blank = {path: images for path, images in blank.items() if images}
    assert not blank, f"images that did not load: {blank}"


def test_widgets_show_their_saved_state(visits):
    seen, _ = visits
    for notebook in NOTEBOOKS:
        widgets = sum(WIDGET_VIEW in output.get("data", {}) for output in notebook_outputs(notebook))
        visit = seen[f"notebooks/{notebook.stem}.html"]
        assert visit.widget_snapshots == widgets, f"{notebook.name}: {widgets} widgets, {visit.widget_snapshots} drawn"
    playground = seen["notebooks/05_widget_playground.html"]
    pictures = [image for image in playground.images if image["in_output"] and image["src"].startswith("data:")]
    assert len(pictures) >= 4 and all(image["width"] > 0 for image in pictures)


def test_make_site_installs_the_site_extra_which_the_dev_extra_includes():
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert {"sphinx", "myst-nb", "sphinx-book-theme", "sphinx-mathjax-offline"} <= names(extras["site"])
    assert "llama-lab[site]" in extras["dev"]  # `make test` runs this test, so the dev extra brings what it needs
    assert not names(extras["site"]) & names(extras["lab"])  # learners do not need Sphinx
    makefile = (REPO / "Makefile").read_text()
    assert recipe(makefile, "site")[0].split() == ["$(VENV)/.site"]
    assert '-e ".[site]"' in recipe(makefile, "$(VENV)/.site")[1]
    assert "scripts/build_site.py" in recipe(makefile, "site")[1]
