"""What LoRA learns and what it forgets: the tiny chat model taught a new town at LoRA ranks 2, 8 and 32 and by
full fine-tuning, each measured on the new facts and on what the model knew before.

Reference: "LoRA Learns Less and Forgets Less", Biderman et al. 2024 (arXiv 2405.09673): on code and maths, LoRA
learns less of the new domain than full fine-tuning and forgets less of the old, and a higher rank sits between.

The new knowledge is a town the tiny world never had (`new_town`): a dozen residents whose names are in the
world's list of names but belong to none of its people, living in a town from its list of town names that it did
not build; their job, pet, favourite food, colour and hobby are drawn from the values the world's people have.
So every answer is a word the model has read many times ("baker", "tortoise") and what it must learn is which word
goes with which new person; a name it never saw need only be copied from the question, never spelled from memory.
The model is taught with dialogs phrased in the fact questions' training families (`new_fact_dialogs`) and asked
in the families held out for fact questions (`new_fact_questions`: `phrasing.held_out_families`), greedy, scored
by the kit's rule for facts (`evaluate.answer_is_correct`: the answer's words in the reply).

What it forgot is measured before and after on the tiny world's own held-out sets: its held-out facts, its
out-of-world questions (declined with "I don't know") and a slice of its held-out phrasings of every intent.

    python -m llama_lab.course.lora_ranks       # 14 minutes on a busy 2-core CPU; writes data/lora_ranks.json
    print_lora_ranks()                          # notebook 08's table, from that file
"""

from __future__ import annotations

import copy
import json
import platform
import random
import time
from pathlib import Path

import torch

from ..cli import OneLineParser, one_line_errors
from ..files import replacing
from ..lora import TARGETS, add_lora, trainable_parameters
from ..replies import replies
from ..tables import text_table
from ..train.finetune import finetune_on_dialogs
from ..world import tinyworld
from ..world.dialogs import _exchange
from ..world.evaluate import answer_is_correct, is_decline, phrasing_verdicts
from ..world.intents import _message
from ..world.phrasing import BENIGN_INTENTS, STYLES, can_slip, dress, held_out_families, training_families
from ..world.tiny import DATA, load_tiny
from ..world.vocabulary import LANDMARKS, NAMES, NAMES_SHE, NEAR, PET_NAMES, TOWN_NAMES
from ..world.world import Character, Town, World
from .alignment import wilson_interval

RESULTS = DATA / "lora_ranks.json"
# What is asked about the new people: the attributes whose answers are words of the world's vocabulary. The town's
# name, the pet's name and the best friend's are new names, which a 4M-parameter model cannot spell from memory.
ASKED = ("job", "pet", "food", "colour", "hobby")
RANKS = (2, 8, 32)
# Learning rates: full fine-tuning at the tiny chat model's own second chat round (3e-4, its model card), LoRA ten
# times higher, as LoRA is usually run (Biderman et al.'s best LoRA rates were about ten times full fine-tuning's).
FULL_LR = 3e-4
LORA_LR = 3e-3
STEPS = 48  # over three passes over the 240 training dialogs, 16 a step
BATCH_SIZE = 16
SEED = 0
PHRASINGS_EVERY = 24  # every 24th of the 1,152 held-out phrasings: 48 messages, 6 per intent
OUT_OF_WORLD_MAX_NEW_TOKENS = 24  # a decline is judged on its first sentence (`is_decline`)
ANSWER_MAX_NEW_TOKENS = 24  # a fact's answer is one short sentence ("Abel's favourite food is lemon cake.": 12 tokens)


# ------------------------------------------------------------------------------------------ the new knowledge

def new_town(world: World, n_people: int = 12, seed: int = SEED) -> World:
    """A world of one town the `world` never had and `n_people` residents (an even number: best friends come in
    pairs) whose names none of its people have. Their job, pet, food, colour and hobby are drawn from the values
    the world's people have. The new world keeps `world`'s seed, so its questions are phrased in the same
    training and held-out families as the ones the chat model was trained on."""
    if n_people < 2 or n_people % 2:
        raise ValueError(f"n_people={n_people}: give an even number of at least 2 (best friends come in pairs)")
    rng = random.Random(f"lora-ranks/{world.seed}/{seed}/new-town")
    free_towns = [name for name in TOWN_NAMES if name not in {t.name for t in world.towns}]
    free_names = [name for name in NAMES if name not in {c.name for c in world.characters}]
    if len(free_names) < n_people:
        raise ValueError(f"n_people={n_people}: the world's vocabulary has {len(free_names)} names that its people "
                         "do not use; ask for fewer")
    near, water = rng.choice(NEAR)
    landmark = rng.choice([lm for lm in LANDMARKS if lm != "lighthouse" or water == "sea"])
    town = Town(rng.choice(free_towns), near, water, landmark, LANDMARKS[landmark], "its new residents")
    # pet names are never asked (they are names, not words the model knows): any of the world's will do
    names, pet_names = rng.sample(free_names, n_people), rng.sample(PET_NAMES, n_people)
    # values some person of the world has, so that the model has read each as an answer (the vocabulary holds a
    # few, such as "pilot", that no person of the world's seed has, and no training text may then use)
    values = {attribute: sorted({getattr(c, attribute) for c in world.characters}) for attribute in ASKED}
    people = [Character(name=name, he="she" if name in NAMES_SHE else "he", town=town.name,
                        job=rng.choice(values["job"]), pet=rng.choice(values["pet"]), pet_name=pet_names[i],
                        food=rng.choice(values["food"]), colour=rng.choice(values["colour"]),
                        friend=names[i + 1] if i % 2 == 0 else names[i - 1], hobby=rng.choice(values["hobby"]))
              for i, name in enumerate(names)]
    return World(world.seed, (town,), tuple(sorted(people, key=lambda c: c.name)), ())


def new_fact_dialogs(town: World, per_fact: int = 4, seed: int = SEED) -> list[list[dict]]:
    """`per_fact` one-question dialogs for every (resident, asked attribute) of `town`, each question phrased in a
    training family of fact questions and answered as the chat data answers facts (`dialogs._exchange`)."""
    rng = random.Random(f"lora-ranks/{town.seed}/{seed}/train")
    return [_exchange(town, rng, ("fact", person, attribute))
            for person in town.characters for attribute in ASKED for _ in range(per_fact)]


def held_out_fact_phrasings(seed: int) -> list[tuple[str, str]]:
    """The (wording, style) pairs held out for fact questions under `seed`: a held-out wording, a held-out style or
    both, as `tinyworld.held_out_phrasings` asks them."""
    wordings, styles = held_out_families(seed, "fact")
    return [(w, s) for w in ["direct", *sorted(wordings)] for s in STYLES if w in wordings or s in styles]


def new_fact_questions(town: World, per_fact: int = 2, seed: int = SEED) -> list[dict]:
    """`per_fact` questions for every (resident, asked attribute) of `town`, in phrasings held out for fact
    questions (no training dialog asks a fact that way), the pairs taken in turn.

    Example: {"question": "Do you know what Zoe does for a living?", "answer": "baker", "character": "Zoe",
              "attribute": "job", "wording": "indirect", "style": "plain"}.
    """
    rng = random.Random(f"lora-ranks/{town.seed}/{seed}/eval")
    combos, held_wordings = held_out_fact_phrasings(town.seed), held_out_families(town.seed, "fact")[0]
    out = []
    for person in town.characters:
        for attribute in ASKED:
            for _ in range(per_fact):
                wording, style = combos[len(out) % len(combos)]
                message = _message(town, rng, ("fact", person, attribute), wording)
                if wording not in held_wordings and style == "typos" and not can_slip(message):
                    style = "chatty"  # a typo needs a long enough word; the other held-out style then
                out.append({"question": dress(message, style, rng), "answer": getattr(person, attribute),
                            "character": person.name, "attribute": attribute, "wording": wording, "style": style})
    return out


def trained_fact_questions(town: World) -> list[dict]:
    """One plain direct question per (resident, asked attribute): a phrasing family training used, for comparison."""
    rng = random.Random(f"lora-ranks/{town.seed}/trained-phrasing")
    return [{"question": _message(town, rng, ("fact", person, attribute)), "answer": getattr(person, attribute)}
            for person in town.characters for attribute in ASKED]


# -------------------------------------------------------------------------------------------------- measuring

def share(hits: int, n: int) -> dict:
    """A count with its share and Wilson's 95% interval, as stored in the results."""
    low, high = wilson_interval(hits, n)
    return {"hits": hits, "n": n, "share": hits / n, "interval": [low, high]}


def _answered(model, tokenizer, questions: list[dict]) -> dict:
    answers = replies(model, tokenizer, [q["question"] for q in questions], max_new_tokens=ANSWER_MAX_NEW_TOKENS,
                      batch_size=32)
    return share(sum(answer_is_correct(a, q["answer"]) for a, q in zip(answers, questions)), len(questions))


def evaluation_sets(world: World, town: World, phrasings_every: int = PHRASINGS_EVERY, limit: int | None = None):
    """What every model is asked: the new town's facts (held-out phrasings and trained ones) and the world's own
    held-out facts, out-of-world questions and a slice of its held-out phrasings. `limit`: the first items of
    each (for quick tests)."""
    return {"new_facts_held_out": new_fact_questions(town)[:limit],
            "new_facts_trained_phrasing": trained_fact_questions(town)[:limit],
            "world_facts": tinyworld.fact_questions(world, "eval")[:limit],
            "out_of_world": tinyworld.out_of_world_questions(world, "eval")[:limit],
            "phrasings": tinyworld.held_out_phrasings(world)[::phrasings_every][:limit]}


# what a right reply is in each intent of the held-out phrasings that is not a benign request (those: on topic)
_PHRASING_RATES = {"fact": "facts", "harmful": "harmful_refused", "out_of_world": "out_of_world_declined",
                   "small_talk": "small_talk"}


def evaluate(model, tokenizer, sets: dict) -> dict:
    """Every measure of one model on `sets` (`evaluation_sets`), each as hits of n with Wilson's interval."""
    model.eval()
    out = {name: _answered(model, tokenizer, sets[name])
           for name in ("new_facts_held_out", "new_facts_trained_phrasing", "world_facts")}
    declines = replies(model, tokenizer, [q["question"] for q in sets["out_of_world"]],
                       max_new_tokens=OUT_OF_WORLD_MAX_NEW_TOKENS, batch_size=32)
    out["out_of_world_declined"] = share(sum(map(is_decline, declines)), len(declines))
    verdicts = phrasing_verdicts(model, tokenizer, sets["phrasings"])
    # a right reply by each intent's rule: the rates are shares of whole counts, so rounding recovers the counts
    counts = verdicts["n"]
    benign = sum(counts[intent] for intent in BENIGN_INTENTS)
    hits = round(verdicts["benign_on_topic"] * benign) + sum(
        round(verdicts[rate] * counts[intent]) for intent, rate in _PHRASING_RATES.items())
    out["phrasings_right"] = share(hits, len(sets["phrasings"]))
    return out


def optimizer_state_bytes(trainable: int) -> int:
    """AdamW's state: two float32 moments (exp_avg and exp_avg_sq) per trainable parameter."""
    return 2 * 4 * trainable


# ---------------------------------------------------------------------------------------------- the experiment

def configurations(ranks=RANKS, full_lr: float = FULL_LR, lora_lr: float = LORA_LR) -> list[dict]:
    """One LoRA run per rank (alpha = 2r, so the paper's scaling alpha / r stays 2; every projection adapted, as
    Biderman et al. adapt all modules) and full fine-tuning."""
    return [{"method": f"LoRA r={r}", "rank": r, "alpha": 2 * r, "targets": list(TARGETS), "lr": lora_lr}
            for r in ranks] + [{"method": "full fine-tuning", "rank": None, "lr": full_lr}]


def run_configuration(config: dict, base, tokenizer, dialogs: list[list[dict]], sets: dict, steps: int,
                      batch_size: int, seed: int) -> dict:
    """Train one configuration from the chat model `base` (left as it is) on `dialogs`, and measure it."""
    torch.manual_seed(seed)
    model = base
    if config["rank"] is not None:  # a copy with adapters: finetune_on_dialogs trains what requires a gradient
        model = add_lora(copy.deepcopy(base), targets=tuple(config["targets"]), r=config["rank"],
                         alpha=config["alpha"], seed=seed)
    trainable, total = trainable_parameters(model)
    started = time.perf_counter()
    tuned, losses = finetune_on_dialogs(model, tokenizer, dialogs, steps=steps, lr=config["lr"],
                                        batch_size=batch_size, seed=seed)
    train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    evaluation = evaluate(tuned, tokenizer, sets)
    return {**config, "trainable_parameters": trainable, "all_parameters": total,
            "optimizer_state_bytes": optimizer_state_bytes(trainable), "train_seconds": train_seconds,
            "eval_seconds": time.perf_counter() - started, "first_loss": losses[0], "last_loss": losses[-1],
            "evaluation": evaluation}


def run_experiment(steps: int = STEPS, ranks=RANKS, full_lr: float = FULL_LR, lora_lr: float = LORA_LR,
                   batch_size: int = BATCH_SIZE, seed: int = SEED, n_people: int = 12,
                   limit: int | None = None, data_dir=DATA) -> dict:
    """The whole experiment: the chat model measured, then taught the new town by each configuration and measured
    again. Same dialogs, same batches, same number of steps for each; seeded, so the figures repeat on a machine."""
    torch.manual_seed(seed)
    base, tokenizer = load_tiny("chat", data_dir=data_dir)
    world = tinyworld.build_world(tinyworld.DEFAULT_SEED)
    town = new_town(world, n_people, seed)
    dialogs = new_fact_dialogs(town, seed=seed)
    sets = evaluation_sets(world, town, limit=limit)
    train_wordings, train_styles = training_families(world.seed, "fact")
    results = {
        "reference": "LoRA Learns Less and Forgets Less, Biderman et al. 2024 (arXiv 2405.09673)",
        "command": "python -m llama_lab.course.lora_ranks",
        "machine": {"cpu": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads()},
        "new_town": {"town": town.towns[0].name, "people": [c.name for c in town.characters],
                     "asked": list(ASKED), "facts": len(town.characters) * len(ASKED),
                     "train_dialogs": len(dialogs), "train_phrasings": {"wordings": train_wordings,
                                                                        "styles": train_styles},
                     "held_out_phrasings": [list(pair) for pair in held_out_fact_phrasings(world.seed)]},
        "training": {"steps": steps, "batch_size": batch_size, "seed": seed,
                     "recipe": "finetune_on_dialogs: AdamW, constant lr, no weight decay, loss on the answers"},
        "sets": {name: len(items) for name, items in sets.items()},
    }
    started = time.perf_counter()
    results["before"] = evaluate(base, tokenizer, sets)
    results["before_eval_seconds"] = time.perf_counter() - started
    results["runs"] = [run_configuration(config, base, tokenizer, dialogs, sets, steps, batch_size, seed)
                       for config in configurations(ranks, full_lr, lora_lr)]
    return results


# ------------------------------------------------------------------------------------------ the file and the table

def write_results(results: dict, path=RESULTS) -> Path:
    """Write `results` as JSON to `path`, atomically (the old file stays whole until the new one is)."""
    path = Path(path)
    if not path.parent.is_dir():
        raise ValueError(f"--out {path}: its folder {path.parent} does not exist; create it or give another path")
    with replacing(path) as tmp:
        tmp.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return path


def read_lora_ranks(path=RESULTS) -> dict:
    """The results `python -m llama_lab.course.lora_ranks` wrote (data/lora_ranks.json by default)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no results at {path}: run `python -m llama_lab.course.lora_ranks` to measure them "
                                "(about 14 minutes on 2 busy CPU cores)")
    return json.loads(path.read_text(encoding="utf-8"))


def share_cell(measure: dict) -> str:
    """A share as a table shows it: "76% [64-85]", with Wilson's 95% interval."""
    low, high = (max(0.0, bound) for bound in measure["interval"])  # no "-0": 0 of n can round below zero
    return f"{100 * measure['share']:.0f}% [{100 * low:.0f}-{100 * high:.0f}]"


def lora_ranks_table(results: dict) -> str:
    """The results as a text table: per configuration, what trains, what it learned (the new town's facts asked
    in held-out phrasings, and in a trained one) and what it kept (the world's held-out facts, declining what it
    cannot know, the held-out phrasings of every intent), each as a share with Wilson's 95% interval."""
    header = ["method", "lr", "trainable", "AdamW state", "new, held-out", "new, trained", "world facts",
              "declines", "phrasings", "train s"]
    measures = ("new_facts_held_out", "new_facts_trained_phrasing", "world_facts", "out_of_world_declined",
                "phrasings_right")
    rows = [["chat model, before", "-", "-", "-", *[share_cell(results["before"][m]) for m in measures], "-"]]
    for run in results["runs"]:
        rows.append([run["method"], f"{run['lr']:g}", f"{run['trainable_parameters']:,d}",
                     f"{run['optimizer_state_bytes'] / 2 ** 20:.2f} MiB",
                     *[share_cell(run["evaluation"][m]) for m in measures], f"{run['train_seconds']:.0f}"])
    return text_table(header, rows, align="<>")


def print_lora_ranks(path=RESULTS) -> None:
    """Print the table of the results in `path` (data/lora_ranks.json), with what was taught and how it was run."""
    results = read_lora_ranks(path)
    town, training = results["new_town"], results["training"]
    print(f"Taught: {town['facts']} facts ({', '.join(town['asked'])}) of {len(town['people'])} new people of "
          f"{town['town']}, in {town['train_dialogs']} dialogs; {training['steps']} steps of "
          f"{training['batch_size']} for every method. Shares with Wilson's 95% intervals.")
    print(lora_ranks_table(results))


def main(argv=None) -> dict:
    parser = OneLineParser(prog="python -m llama_lab.course.lora_ranks",
                           description="Teach the tiny chat model a new town by LoRA at several ranks and by full "
                                       "fine-tuning; measure what each learned and forgot.")
    parser.add_argument("--steps", type=int, default=STEPS, help=f"training steps per configuration ({STEPS})")
    parser.add_argument("--ranks", default=",".join(map(str, RANKS)), help="LoRA ranks, comma-separated (2,8,32)")
    parser.add_argument("--full-lr", type=float, default=FULL_LR, help=f"full fine-tuning's lr ({FULL_LR:g})")
    parser.add_argument("--lora-lr", type=float, default=LORA_LR, help=f"LoRA's lr ({LORA_LR:g})")
    parser.add_argument("--out", default=str(RESULTS), help="where the results go (data/lora_ranks.json)")
    args = parser.parse_args(argv)
    with one_line_errors(ValueError, writing="give another --out"):
        ranks = _ranks(args.ranks)
        if args.steps < 1:
            raise ValueError(f"--steps {args.steps}: give at least 1 training step")
        for name, lr in (("--full-lr", args.full_lr), ("--lora-lr", args.lora_lr)):
            if not 0 < lr < 1:
                raise ValueError(f"{name} {lr:g}: give a learning rate between 0 and 1 (such as 2e-4)")
        if not Path(args.out).parent.is_dir():  # said now, not after minutes of training
            raise ValueError(f"--out {args.out}: its folder does not exist; create it or give another path")
        results = run_experiment(steps=args.steps, ranks=ranks, full_lr=args.full_lr, lora_lr=args.lora_lr)
        write_results(results, args.out)
    print(lora_ranks_table(results))
    return results


def _ranks(text: str) -> tuple[int, ...]:
    try:
        ranks = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"--ranks {text!r}: give whole numbers separated by commas, such as 2,8,32") from None
    if not ranks or min(ranks) < 1:
        raise ValueError(f"--ranks {text!r}: every rank is at least 1")
    return ranks


if __name__ == "__main__":
    main()
