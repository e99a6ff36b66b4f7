"""The README as a front door and the pages it links: short enough to read, and every relative link (and anchor)
leading somewhere that exists."""

import re
from pathlib import Path

from support import REPO

README_MOST_LINES = 200
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "notebooks" / "assignments" / "README.md"]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def anchor_of(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors_in(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)  # a `# comment` is no heading
    return {anchor_of(h) for h in re.findall(r"^#{1,6} (.+)$", text, re.M)}


def broken_links(page: Path) -> list[str]:
    """The relative links of `page` whose file, or whose anchor in that file, does not exist."""
    broken = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):  # https:, mailto:: not this repository's
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if path and (not linked.is_relative_to(REPO) or not linked.exists()):
            broken.append(target)
        elif anchor and (linked.suffix != ".md" or anchor not in anchors_in(linked)):
            broken.append(target)
    return broken


def test_the_anchors_are_githubs(tmp_path):
    assert anchor_of("RLHF in miniature: `make rlhf`") == "rlhf-in-miniature-make-rlhf"
    assert anchor_of("Real Llama 2 weights") == "real-llama-2-weights"
    page = tmp_path / "page.md"
    page.write_text("# A page\n\n## The course\n\n```bash\n# not a heading\n```\n[ok](#the-course) [no](#not-a-heading)"
                    " [gone](missing.md) [out](../../etc/passwd) [web](https://example.org/x.md)\n")
    assert broken_links(page) == ["#not-a-heading", "missing.md", "../../etc/passwd"]


def test_every_relative_link_resolves():
    for page in PAGES:
        assert not broken_links(page), f"{page.relative_to(REPO)} links to what does not exist: {broken_links(page)}"


def test_the_readme_links_every_page_of_docs():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    linked = {Path(target.partition("#")[0]).name for target in LINK.findall(readme)}
    assert {page.name for page in (REPO / "docs").glob("*.md")} <= linked


def test_the_readme_is_a_front_door():
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MOST_LINES, f"README.md has {len(lines)} lines: move detail into docs/"
    first_screen = "\n".join(lines[:40])
    for shown in ("make lab", "make test", "```python", "(#the-course)"):
        assert shown in first_screen, f"the README's first 40 lines should show {shown!r}"
