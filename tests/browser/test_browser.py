"""The widget playground in a real browser: JupyterLab served on loopback, Debian's Chromium driven by Playwright.

The headless tests (test_widgets.py) check the numbers; this one checks that the explorers render and answer
in the front end learners use: open notebooks/05_widget_playground.ipynb, Run All, then press Generate and move
a slider, and see the page change. Screenshots go to a temporary folder whose path the test prints.

The notebook is run from a copy in that folder, so JupyterLab's autosave never touches the committed one.
Chromium comes from Debian (`scripts/install_browser.sh`; `playwright install` would download a browser).
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from support import REPO

NOTEBOOK = REPO / "notebooks" / "05_widget_playground.ipynb"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"]


def chromium_or_skip() -> str:
    if not CHROMIUM.exists() and os.geteuid() == 0:
        subprocess.run(["bash", str(REPO / "scripts" / "install_browser.sh")], check=False, timeout=600)
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}, and installing it needs root: run "
                    "`sudo apt-get install -y chromium` (what scripts/install_browser.sh does as root)")
    return str(CHROMIUM)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api(url: str, method: str = "GET"):
    request = urllib.request.Request(url, method=method)
    with urllib.request.urlopen(request, timeout=5) as response:
        body = response.read()
    return json.loads(body) if body else None


@pytest.fixture
def jupyterlab(tmp_path):
    """A JupyterLab server of its own (own session, own settings and runtime dirs) serving a copy of the notebook."""
    work = tmp_path / "notebooks"
    work.mkdir()
    shutil.copy(NOTEBOOK, work / NOTEBOOK.name)
    port = free_port()
    command = ["nice", "-n", "15", sys.executable, "-m", "jupyterlab", "--no-browser",
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
               "--ServerApp.token=", "--ServerApp.password=", f"--ServerApp.root_dir={work}",
               f"--LabApp.user_settings_dir={tmp_path / 'settings'}", f"--LabApp.workspaces_dir={tmp_path / 'ws'}"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    news = tmp_path / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text('{"fetchNews": "false"}')  # no "get notified about Jupyter news?" over the screenshots
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    log = open(tmp_path / "jupyterlab.log", "wb")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                pytest.fail(f"JupyterLab exited with {server.returncode}:\n{(tmp_path / 'jupyterlab.log').read_text()}")
            try:
                api(f"{url}/api/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("JupyterLab did not answer within 60 s")
                time.sleep(0.5)
        yield url, work
    finally:
        try:  # shut the kernels down through the server, then the server itself, by its pid
            for kernel in api(f"{url}/api/kernels"):
                api(f"{url}/api/kernels/{kernel['id']}", method="DELETE")
        except OSError:
            pass
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)  # its own session: the group id is its pid
            server.wait()
        log.close()


def busy_cells(page) -> int:
    """Cells queued or running: their prompt shows [*]."""
    return page.evaluate("""() => [...document.querySelectorAll('.jp-Notebook .jp-InputArea-prompt')]
                                  .filter(p => p.textContent.includes('*')).length""")


def test_playground_renders_and_answers_in_jupyterlab(jupyterlab, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = chromium_or_skip()
    url, work = jupyterlab
    shots = tmp_path / "screenshots"
    shots.mkdir()
    print(f"\nscreenshots: {shots}")

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        try:
            page.goto(f"{url}/lab/tree/{NOTEBOOK.name}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
            page.locator(".jp-StatusBar-TextItem", has_text="Idle").first.wait_for(timeout=60_000)  # kernel up

            # Run All, from the Run menu as a learner would
            page.locator(".lm-MenuBar-item", has_text="Run").first.click()
            page.locator(".lm-Menu-item[data-command='runmenu:run-all']").click()
            first_prompt = page.locator(".jp-Notebook .jp-CodeCell .jp-InputArea-prompt").first
            first_prompt.filter(has_text=re.compile(r"[*0-9]")).wait_for(timeout=30_000)  # the run has started
            page.wait_for_selector(".llama-lab-sampling .llama-lab-text", timeout=60_000)
            deadline = time.monotonic() + 90
            while busy_cells(page) and time.monotonic() < deadline:
                time.sleep(0.5)
            assert busy_cells(page) == 0, "the notebook did not finish running within 90 s"
            assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                                has_text="Traceback").count() == 0
            for kind in ("sampling", "attention", "tokens", "logit-lens"):
                assert page.locator(f".llama-lab-{kind}").count() >= 1, f"the {kind} explorer did not render"
            assert page.locator(".llama-lab-sampling .widget-slider").count() >= 4

            # Generate with another seed: the coloured text must change
            sampling = page.locator(".llama-lab-sampling").first
            sampling.scroll_into_view_if_needed()
            sampling.screenshot(path=str(shots / "1-sampling-after-run-all.png"))
            text = sampling.locator(".llama-lab-text")
            before = text.inner_text()
            seed = sampling.locator(".llama-lab-seed input")
            seed.fill("12345")
            seed.press("Enter")
            sampling.locator(".llama-lab-generate").click()
            page.wait_for_function(
                """([selector, before]) => {
                       const el = document.querySelector(selector);
                       return el && el.innerText !== before && !el.closest('.llama-lab-sampling')
                           .querySelector('.llama-lab-generate').disabled;
                   }""", arg=[".llama-lab-sampling .llama-lab-text", before], timeout=60_000)
            assert text.locator("span[title^='token 0']").count() == 1
            sampling.screenshot(path=str(shots / "2-sampling-after-generate.png"))

            # Move the attention explorer's layer slider with the keyboard: the heatmap must be redrawn
            attention = page.locator(".llama-lab-attention").first
            attention.scroll_into_view_if_needed()
            sources = [attention.locator(f"img.llama-lab-{kind}-figure").get_attribute("src") for kind in ("main", "grid")]
            readout = attention.locator(".llama-lab-layer .widget-readout")
            layer = int(readout.inner_text())
            attention.locator(".llama-lab-layer .noUi-handle").focus()
            page.keyboard.press("ArrowRight" if layer == 0 else "ArrowLeft")
            page.wait_for_function(  # both the heatmap and the grid of heads are redrawn
                """(sources) => ['main', 'grid'].every((kind, i) => {
                       const img = document.querySelector(`.llama-lab-attention img.llama-lab-${kind}-figure`);
                       return img && img.getAttribute('src') !== sources[i];
                   })""", arg=sources, timeout=30_000)
            assert int(readout.inner_text()) == (1 if layer == 0 else layer - 1)
            attention.screenshot(path=str(shots / "3-attention-after-layer-change.png"))
            page.screenshot(path=str(shots / "4-page.png"))
        except Exception:
            page.screenshot(path=str(shots / "failure.png"))
            print("JupyterLab's log:\n" + (tmp_path / "jupyterlab.log").read_text()[-3000:])
            raise
        finally:
            browser.close()
