"""`make site`: the course as a static HTML site that needs no network, to hand out or to put on any web server.

    python scripts/build_site.py [--out build/site]

Sphinx builds it with the settings in site/conf.py: the README as the home page, the notebooks with their saved
outputs (never run again), the assignments' README and every docs/*.md. The pages go to OUT/html (open
OUT/html/index.html); OUT/doctrees and OUT/jupyter_execute are Sphinx's working folders. These three are replaced
on each build, so that a page removed from the course leaves the site too; nothing else in OUT is touched.
"""

import argparse
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SITE_SETTINGS = REPO / "site"
BUILD_FOLDERS = ("html", "doctrees", "jupyter_execute")  # what a build writes into OUT (the last one: myst-nb's)


def build_site(out: Path, quiet: bool = True) -> Path:
    """Build the site into out/html and return that folder. Raises RuntimeError if Sphinx reports an error."""
    from sphinx.cmd.build import build_main  # the `site` extra: the kit itself does not need Sphinx

    for name in BUILD_FOLDERS:
        shutil.rmtree(out / name, ignore_errors=True)
    html = out / "html"
    arguments = ["-b", "html", "-c", str(SITE_SETTINGS), "-d", str(out / "doctrees"), str(REPO), str(html)]
    status = build_main((["-q"] if quiet else []) + arguments)
    if status != 0:
        raise RuntimeError(f"Sphinx stopped with status {status}: its messages above say why")
    return html


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "build" / "site",
                        help="folder for the build: the pages go to OUT/html (default: build/site)")
    parser.add_argument("--verbose", action="store_true", help="show Sphinx's progress, not only its warnings")
    args = parser.parse_args(argv)
    try:
        import sphinx  # noqa: F401
        import myst_nb  # noqa: F401
    except ImportError as missing:
        print(f"error: {missing.name} is not installed: the site needs the `site` extra "
              "(`make site` installs it, or `pip install -e '.[site]'`)", file=sys.stderr)
        return 2
    if args.out.exists() and not args.out.is_dir():
        print(f"error: --out {args.out} is a file, not a folder: give a folder for the build", file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        html = build_site(args.out.resolve(), quiet=not args.verbose)
    except RuntimeError as failure:
        print(f"error: the site was not built: {failure}", file=sys.stderr)
        return 1
    pages = sum(1 for page in html.rglob("*.html") if "_static" not in page.parts)
    print(f"site: {pages} pages in {html} ({time.monotonic() - started:.0f} s); open {html / 'index.html'}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
