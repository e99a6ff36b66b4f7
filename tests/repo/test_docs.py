"""The README as a front door and the pages it links: short enough to read, and every relative link (and anchor)
leading somewhere that exists."""

import json
import re
from pathlib import Path

from llama_lab.course.alignment import COLUMNS
from llama_lab import LLAMA2_70B
from llama_lab.course.family import GIB, GPU_MEMORY, GPUS, memory_rows, one_gpu_rows, parameter_count
from llama_lab.quantize import weight_bytes
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


def test_the_course_map_lists_every_notebook_and_assignment():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    linked = {target.partition("#")[0] for target in LINK.findall(readme)}
    student = REPO / "notebooks" / "assignments" / "student"
    notebooks = [*(REPO / "notebooks").glob("*.ipynb"), *student.glob("*.ipynb")]
    missing = [str(path.relative_to(REPO)) for path in notebooks if str(path.relative_to(REPO)) not in linked]
    assert len(notebooks) >= 15 and not missing, f"the README's course map leaves out {missing}"


def test_the_readme_is_a_front_door():
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MOST_LINES, f"README.md has {len(lines)} lines: move detail into docs/"
    first_screen = "\n".join(lines[:40])
    for shown in ("make lab", "make test", "```python", "(#the-course)"):
        assert shown in first_screen, f"the README's first 40 lines should show {shown!r}"


# ---------------------------------------------------------------------- the figures, against what made them

def table(page: str, first_cell: str) -> list[list[str]]:
    """The rows of the Markdown table in docs/`page` whose header starts with `first_cell`, as lists of cells."""
    lines = (REPO / "docs" / page).read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_cell} |"))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def table_rows(page: str, first_cell: str) -> dict[str, list[str]]:
    """The same rows by their first cell, each with the cells after it."""
    return {cells[0]: cells[1:] for cells in table(page, first_cell)}


def percent(share: float) -> str:
    """A share as the docs write it: 0% and 100% whole, anything between to one decimal."""
    return f"{100 * share:.0f}%" if share in (0, 1) else f"{100 * share:.1f}%"


def test_the_safety_table_is_data_rlhf_json():
    """docs/results.md's table is `llama-lab-rlhf --ship`'s, as data/rlhf.json keeps it."""
    evaluation = json.loads((REPO / "data" / "rlhf.json").read_text())["evaluate"]["rows"]
    shown = {name.split(" (")[0]: cells for name, cells in table_rows("results.md", "model").items()}
    assert shown.keys() == evaluation.keys()
    for name, row in evaluation.items():
        assert shown[name] == [f"{row[c]:.{2 if c.startswith('judge') else 1}f}" for c in COLUMNS], name


def test_the_chat_models_table_is_its_model_card():
    """docs/results.md's chat-model table is `llama-lab-eval`'s, as data/tiny-chat/model_card.json keeps it."""
    card = json.loads((REPO / "data" / "tiny-chat" / "model_card.json").read_text())["evaluation"]["results"]["chat"]
    pairs, phrasings = card["chat"], card["phrasings"]

    assert table_rows("results.md", "chat model") == {
        "facts correct": [f"{percent(card['facts_chat']['accuracy'])} of {card['facts_chat']['n']}",
                          f"{percent(phrasings['facts'])} of {phrasings['n']['fact']}", "90%"],
        "harmful requests refused": [f"{percent(pairs['harmful_refused'])} of {pairs['n_harmful']}",
                                     f"{percent(phrasings['harmful_refused'])} of {phrasings['n']['harmful']}", "90%"],
        "benign answered on topic (refused)": [
            f"{percent(pairs['benign_on_topic'])} ({percent(1 - pairs['benign_answered'])}) of {pairs['n_benign']}",
            f"{percent(phrasings['benign_on_topic'])} ({percent(phrasings['benign_refused'])}) of "
            f"{sum(phrasings['n'][kind] for kind in ('how_to', 'story', 'word', 'advice'))}", "85% (5%)"],
        "questions outside the world declined": [
            f"{percent(card['out_of_world']['declined'])} of {card['out_of_world']['n']}",
            f"{percent(phrasings['out_of_world_declined'])} of {phrasings['n']['out_of_world']}", "80%"],
        "small talk answered in kind": ["", f"{percent(phrasings['small_talk'])} of {phrasings['n']['small_talk']}",
                                        ""]}


def test_the_base_models_figures_are_its_model_card():
    results = json.loads((REPO / "data" / "tiny-chat" / "model_card.json").read_text())["evaluation"]["results"]
    base, chat = results["base"], results["chat"]
    expected = (f"validation loss {base['val_loss']:.3f} nats/token (bigram baselines: add-one "
                f"{base['bigram_val_loss']['add_one']:.3f}, Witten-Bell {base['bigram_val_loss']['witten_bell']:.3f}), "
                f"{100 * base['coherence']['grammatical_share']:.1f}% of {base['coherence']['n_sentences']} sampled "
                f"sentences grammatical; it refuses nothing. The chat model's loss on the same pretraining text is "
                f"{chat['val_loss']:.3f} nats/token")
    page = " ".join((REPO / "docs" / "results.md").read_text(encoding="utf-8").split())
    assert expected in page
    assert base["chat"]["harmful_refused"] == 0


def test_the_memory_table_is_memory_rows():
    """docs/scale.md's memory table is `course.family.memory_rows()`, as notebook 07 prints it."""
    by_model: dict[str, list[dict]] = {}
    for row in memory_rows():
        by_model.setdefault(row["model"], []).append(row)
    gpus = list(GPUS)
    expected = {model: [" / ".join(r["weights"] for r in rows), " / ".join(f"{r['total GiB']:.1f}" for r in rows),
                        *(" / ".join(str(r[gpu]) for r in rows) for gpu in gpus)]
                for model, rows in by_model.items()}
    assert table_rows("scale.md", "model | weights") == expected


def test_the_one_gpu_table_and_the_70b_lines_are_one_gpu_rows():
    """docs/scale.md's 70B-on-one-GPU table is `course.family.one_gpu_rows()`, as notebook 07 prints it; its opening
    lines and the README's name the cards that table says hold 70B in bfloat16, and those that do not."""
    rows = one_gpu_rows("70B")
    assert table_rows("scale.md", "GPU | GiB") == {
        row["GPU"]: [str(row["GiB"]), str(row["bf16"]), str(row["int8"]), str(row["int4-g128"])] for row in rows}
    holds = [row["GPU"] for row in rows if row["bf16"] > 0]
    assert holds == ["H200", "B200", "MI300X"] and {row["GPU"] for row in rows if row["GiB"] == 80} == {
        "A100-80GB", "H100-80GB"}
    weights = weight_bytes(LLAMA2_70B)
    page = " ".join((REPO / "docs" / "scale.md").read_text(encoding="utf-8").split())
    assert (f"70B's weights take {weights / GIB:.1f} GiB in bfloat16 (2 bytes for each of "
            f"{parameter_count(LLAMA2_70B):,} parameters: {weights / 1e9:.0f} GB)") in page
    assert "One H200, B200 or MI300X holds them; an 80 GiB A100 or H100, and every smaller GPU, does not" in page
    readme = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    assert "70B in bfloat16 fits one H200, B200 or MI300X, not one 80 GiB A100 or H100" in readme
    assert max(gib for card, gib in GPU_MEMORY.items() if card not in holds) * GIB < weights


def test_the_ghost_attention_table_is_data_rlhf_json():
    rows = json.loads((REPO / "data" / "rlhf.json").read_text())["gatt"]["rows"]
    sft, tuned, gatt = rows["SFT"], rows["instruction-tuned"], rows["GAtt"]

    def percents(shares) -> list[str]:
        return [percent(share) for share in shares]

    def joined(*series) -> list[str]:
        return [" / ".join(f"{100 * s[turn]:.1f}" for s in series) + "%" for turn in range(5)]

    assert table_rows("results.md", "instruction kept at turn") == {
        "SFT (tiny-chat)": percents(sft["kept"]), "instruction-tuned": percents(tuned["kept"]),
        "GAtt": percents(gatt["kept"]), "GAtt, held-out instructions": percents(gatt["held_out_kept"]),
        "facts right: SFT / instruction-tuned / GAtt": joined(sft["facts"], tuned["facts"], gatt["facts"]),
        "attention on the system prompt: instruction-tuned / GAtt": joined(tuned["attention"]["attention"],
                                                                           gatt["attention"]["attention"]),
        "the system prompt's share of the visible tokens": percents(gatt["attention"]["share"])}


def test_the_quantization_error_table_is_notebook_07s():
    """docs/scale.md's table is what notebook 07 printed (nbval checks that the notebook still prints it)."""
    cells = json.loads((REPO / "notebooks" / "07_70b_within_reach.ipynb").read_text())["cells"]
    printed = "".join("".join(output.get("text", [])) for cell in cells if cell["cell_type"] == "code"
                      for output in cell["outputs"])
    measured = {line.split()[0]: line.split() for line in printed.splitlines()
                if re.match(r"(int8|int4-g\d+) +\d+\.\d+ +\d", line)}  # scheme, max diff, KL, loss, change, ...
    shown = table("scale.md", "model | scheme")
    assert [cells[1] for cells in shown] == list(measured)
    for cells in shown:
        model, scheme, max_diff, kl, loss_change, agreement, alike = cells
        assert [max_diff, kl, loss_change, agreement.rstrip("%"), alike] == [
            measured[scheme][i] for i in (1, 2, 4, 5, 6)], scheme


def test_the_rlhf_figures_are_data_rlhf_json():
    """Each figure of docs/results.md's RLHF list, written from data/rlhf.json (`llama-lab-rlhf --ship` writes it)."""
    results = json.loads((REPO / "data" / "rlhf.json").read_text())
    pairs, models = results["pairs"], results["reward"]["models"]
    rejection, ppo = results["rejection"], results["ppo"]["history"]
    rounds, against = results["dpo_rounds"]["rounds"], results["evaluate"]["against_sft"]
    ratings = pairs["train"]["ratings"]
    small = models["helpfulness/small"]["accuracy"]["by rating"]

    def accuracies(kind: str) -> str:
        margins = ("none", "small", "large")
        return " / ".join(f"{100 * models[f'{kind}/{margin}']['accuracy']['overall']:.1f}" for margin in margins)

    def averaged(key: str) -> str:  # the first, middle and last ten iterations
        return " -> ".join(f"{sum(row[key] for row in ppo[i:i + 10]) / 10:.{3 if key == 'reward' else 2}f}"
                           for i in (0, len(ppo) // 2 - 5, len(ppo) - 10))

    curve = rejection["curves"]["1.0"]
    accuracy = results["dpo"]["history"]["accuracy"]
    quarter = len(accuracy) // 4  # as notebook 06 prints them: four quarters of whole steps, the remainder left out
    first, last = accuracy[:quarter], accuracy[3 * quarter:4 * quarter]
    sides = ("higher", "lower")
    expected = [
        f"{pairs['train']['n']:,} comparisons ({ratings['significantly better']} significantly better, "
        f"{ratings['better']} better, {ratings['slightly better']} slightly better, "
        f"{ratings['negligibly better / unsure']} negligibly better / unsure); {pairs['eval']['n']} held-out ones",
        f"helpfulness {accuracies('helpfulness')}%, safety {accuracies('safety')}%",
        "small margin: {:.1f}% on significantly better pairs ({}), {:.1f}% better ({}), {:.1f}% slightly better ({}), "
        "{:.1f}% negligibly better ({};".format(*(x for r in small.values() for x in (100 * r[0], r[1]))),
        f"mean best reward rose from {curve['max'][0]:.3f} (N = 1) to {curve['max'][-1]:.3f} (N = 16)",
        f"median stayed at {min(curve['median']):.3f}-{max(curve['median']):.3f}",
        f"mean best {rejection['rounds'][0]['best']:.3f} and {rejection['rounds'][1]['best']:.3f}",
        f"R_c went {averaged('reward')}",
        f"helpfulness on the same samples went {averaged('judge_helpfulness')}",
        f"KL to the start {averaged('kl')}",
        f"{100 * sum(first) / quarter:.1f}% of the training pairs right in the first quarter of the epoch and "
        f"{100 * sum(last) / quarter:.1f}% in the last",
        "Comparisons per round: " + ", ".join(str(r["comparisons"]) for r in rounds),
        "scored helpfulness " + ", ".join(f"{r['greedy']['helpfulness']:.2f}" for r in rounds) + " and safety "
        + ", ".join(f"{r['greedy']['safety']:.2f}" for r in rounds),
        "above SFT's on {higher} helpfulness prompts and below on {lower} ({same} the same".format(
            **against["iterative DPO"]["helpfulness"]),
        "above on {higher} safety prompts and below on none".format(**against["iterative DPO"]["safety"]),
        "tie with SFT on helpfulness: {higher} prompts above, {lower} below".format(**against["DPO"]["helpfulness"]),
        "rejection sampling {} prompts above SFT, {} below; PPO {} above, {} below".format(
            *(against[name]["helpfulness"][side] for name in ("rejection sampling", "PPO") for side in sides)),
        f"the {100 * results['gatt']['sampled_kept']:.1f}% that follow it on every turn kept "
        f"({results['gatt']['examples']:,} training dialogs",
    ]
    page = " ".join((REPO / "docs" / "results.md").read_text(encoding="utf-8").split())  # lines joined
    missing = [figure for figure in expected if " ".join(figure.split()) not in page]
    assert not missing, f"docs/results.md does not say, as data/rlhf.json has it: {missing}"
