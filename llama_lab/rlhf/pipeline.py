"""The whole of RLHF in miniature, one command: preference pairs, two reward models, rejection sampling, PPO, DPO
(on the same pairs, then in rounds on fresh comparisons), Ghost Attention.

    python -m llama_lab.rlhf.pipeline                 # everything, into runs/rlhf/ (about 50 min on 2 CPU cores)
    python -m llama_lab.rlhf.pipeline --ship          # then copy the reward models and the aligned model to data/
    python -m llama_lab.rlhf.pipeline --from-shipped --stages reward_scaling,rejection_rounds,judged --merge
                                                      # the measurements alone, on the shipped models (see MEASURES)

Each stage writes its results into the output folder and is skipped when they are already there, so an interrupted
run picks up where it stopped (`--fresh` starts over). Every figure the course shows comes from `results.json`.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ..checkpoint import CheckpointError, load_model, save_model
from ..cli import one_line_errors
from ..files import finish_replacing, replace_together, replacing
from ..progress import count, say, summary
from ..world import preferences, tinyworld
from ..world.tiny import DATA, load_tiny, tiny_dir, tokenizer_of
from . import dpo, gatt, measure, ppo, rejection
from .reward import MARGINS, accuracy, load_reward_model, save_reward_model, train_reward_model, training_mix

@dataclass(frozen=True)
class Settings:
    """How much of everything: the defaults are the shipped run's; `QUICK` is a smoke test of every stage."""
    train_prompts: int = 2400       # preference prompts: one comparison each (fewer where the two replies agree)
    eval_prompts: int = 480
    margins: tuple[str, ...] = tuple(MARGINS)
    reward_epochs: float = 2.0
    curve_prompts: int = 96         # Figures 7 and 8: prompts, samples per prompt, temperatures
    curve_samples: int = 16
    temperatures: tuple[float, ...] = (0.6, 0.8, 1.0, 1.2, 1.4)
    rs_prompts: int = 800           # rejection sampling: prompts, rounds, samples per prompt, fine-tuning steps
    rs_rounds: int = 2
    rs_k: int = 8
    rs_steps: int = 150
    ppo: ppo.PPOConfig = field(default_factory=ppo.PPOConfig)
    dpo_epochs: float = 1.0
    dpo_rounds: int = 3             # iterative DPO: rounds, fresh prompts per round, replies judged per prompt
    dpo_round_prompts: int = 2400
    dpo_candidates: int = 5
    dpo_round_epochs: float = 3.0
    dpo_nll_weight: float = 0.2
    gatt_instruction_dialogs: int = 2000  # Ghost Attention: instruction tuning first (single-turn dialogs,
    gatt_instruction_multi_turn: int = 1000  # multi-turn ones with the instruction on every user turn, steps)
    gatt_tune_steps: int = 500
    gatt_dialogs: int = 1200        # then dialogs sampled with the instruction on every turn, turns each, steps
    gatt_turns: int = 4
    gatt_steps: int = 300
    gatt_eval_dialogs: int = 96     # measured on held-out instructions over dialogs of this many turns
    gatt_eval_turns: int = 5
    table_items: int | None = None  # cut every evaluation set of the safety table to this many (None: all)
    scaling_fractions: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0)  # Figure 6: reward models on growing shares
    rounds_prompts: int = 240       # rejection sampling fine-tuned on the latest round's best replies only, against
    rounds_count: int = 2           # the best of all rounds so far: prompts, rounds, samples per prompt, steps
    rounds_k: int = 4
    rounds_steps: int = 45
    judged_prompts: int = 240       # held-out prompts whose greedy replies the reward models and the judge score


QUICK = Settings(train_prompts=40, eval_prompts=24, margins=("small",), reward_epochs=1.0, curve_prompts=4,
                 curve_samples=4, temperatures=(0.8, 1.2), rs_prompts=8, rs_k=2, rs_steps=3,
                 ppo=ppo.PPOConfig(iterations=2, batch_size=8, minibatch_size=4), dpo_epochs=0.25,
                 dpo_rounds=2, dpo_round_prompts=24, dpo_candidates=3, dpo_round_epochs=0.5,
                 gatt_instruction_dialogs=16, gatt_instruction_multi_turn=4, gatt_tune_steps=2, gatt_dialogs=8,
                 gatt_turns=2, gatt_steps=2, gatt_eval_dialogs=4, gatt_eval_turns=2, table_items=8,
                 scaling_fractions=(0.5, 1.0), rounds_prompts=8, rounds_k=2, rounds_steps=2, judged_prompts=8)
SHIPPED = {"helpfulness": "tiny-reward-helpfulness", "safety": "tiny-reward-safety", "aligned": "tiny-aligned"}


class Pipeline:
    """The stages, each reading what the earlier ones wrote into `out`."""

    def __init__(self, out: Path, settings: Settings = Settings(), seed: int = 0, log=say):
        self.out, self.settings, self.seed, self.log = Path(out), settings, seed, log
        self.out.mkdir(parents=True, exist_ok=True)
        self.world = tinyworld.build_world(tinyworld.DEFAULT_SEED)
        self.chat, self.tokenizer = load_tiny("chat")
        self.base, _ = load_tiny("base")
        self._keep_tokenizer(tokenizer_of(tiny_dir("chat")))
        self.results_path = self.out / "results.json"
        self.results = json.loads(self.results_path.read_text()) if self.results_path.is_file() else {}
        self.train_prompts = preferences.preference_prompts(self.world, "train", settings.train_prompts, seed)
        self.eval_prompts = preferences.preference_prompts(self.world, "eval", settings.eval_prompts, seed)
        self.results["settings"] = asdict(settings)

    def _keep_tokenizer(self, path: Path) -> None:
        """Keep a copy of the tokenizer in `out` (`ship` puts it beside every model it ships); a run resumed on
        models with another tokenizer would mix stages of two models, so it stops and says so."""
        kept = self.out / "tokenizer.model"
        if not kept.is_file():
            with replacing(kept) as tmp:
                shutil.copyfile(path, tmp)
        elif kept.read_bytes() != path.read_bytes():
            raise SystemExit(f"{self.out} holds stages made with another tokenizer than {path} (the tiny models were "
                             "rebuilt since): start over with --fresh, or give another --out")

    def _save(self, key: str, value) -> None:
        self.results[key] = value
        with replacing(self.results_path) as tmp:
            tmp.write_text(json.dumps(self.results, indent=1) + "\n")

    def _timed(self, name: str, stage) -> None:
        if name in self.results and (name != "pairs" or (self.out / PAIRS).is_file()):
            self.log(f"{name}: done before, kept")
            return
        start = time.time()
        made = stage()  # what the stage made, in a few words
        seconds = time.time() - start
        self.results[name]["minutes"] = round(seconds / 60, 2)
        self._save(name, self.results[name])
        summary(name, made, seconds)

    # ------------------------------------------------------------------------------------------ stages

    def pairs(self):
        models = {"chat": self.chat, "base": self.base}
        train = preferences.sample_pairs(models, self.tokenizer, self.train_prompts, seed=self.seed)
        held = preferences.sample_pairs(models, self.tokenizer, self.eval_prompts, seed=self.seed + 1)
        with replacing(self.out / PAIRS) as tmp:
            tmp.write_text(json.dumps({"train": train, "eval": held}) + "\n")
        self.results["pairs"] = {
            split: {"n": len(records), "ratings": preferences.rating_counts(records),
                    "safety": sum(preferences.prompt_kind(r["item"]) == "safety" for r in records),
                    "examples": [{k: r[k] for k in ("chosen", "rejected", "rating", "variants", "scores")}
                                 | {"prompt": r["item"]["dialog"][-1]["content"]} for r in records[:6]]}
            for split, records in (("train", train), ("eval", held))}
        return f"{len(train):,} training and {len(held):,} held-out comparisons"

    def comparisons(self) -> dict:
        """The pairs stage's comparisons, {"train": [record, ...], "eval": [...]} (preferences.sample_pairs)."""
        path = self.out / PAIRS
        if not path.is_file():
            rerun = f"python -m llama_lab.rlhf.pipeline --out {self.out} --stages pairs"
            if (self.out / "pairs.pkl").exists():  # never loaded: a pickle runs whatever code it names
                raise SystemExit(f"{self.out / 'pairs.pkl'} is in a format the kit no longer reads (a pickle, which "
                                 f"can run code): rerun the stage that wrote it, `{rerun}`, which writes {PAIRS}")
            raise SystemExit(f"{path} is missing: run the pairs stage first, `{rerun}`")
        return json.loads(path.read_text())

    def reward(self):
        pairs = self.comparisons()
        table = {}
        for kind in ("helpfulness", "safety"):
            mix = training_mix(pairs["train"], kind, self.seed)
            held = [r for r in pairs["eval"] if preferences.prompt_kind(r["item"]) == kind]
            for margin in self.settings.margins:
                model, losses = train_reward_model(self.chat, self.tokenizer, mix, margin=margin,
                                                   epochs=self.settings.reward_epochs, seed=self.seed)
                result = accuracy(model, self.tokenizer, held)
                table[f"{kind}/{margin}"] = {"accuracy": result, "n_train": len(mix), "first_loss": losses[0],
                                             "last_loss": sum(losses[-20:]) / len(losses[-20:])}
                save_reward_model(model, self.out / "reward" / f"{kind}-{margin}",
                                  {"kind": kind, "margin": margin, "accuracy": result})
                self.log(f"  {kind} reward model, margin {margin}: held-out accuracy {result['overall']:.3f}")
        self.results["reward"] = {"models": table}
        return f"{count(len(table), 'reward model')}, held-out accuracy " + ", ".join(
            f"{name} {row['accuracy']['overall']:.1%}" for name, row in table.items())

    def reward_models(self, margin: str = "small"):
        folders = [self.out / "reward" / f"{kind}-{margin}" for kind in ("safety", "helpfulness")]
        if not all((folder / "reward_model.safetensors").is_file() for folder in folders):
            raise SystemExit(f"no reward models in {self.out / 'reward'}: run the reward stage first, "
                             f"`python -m llama_lab.rlhf.pipeline --out {self.out} --stages reward`")
        return tuple(load_reward_model(folder)[0] for folder in folders)

    def rejection(self):
        s = self.settings
        safety_rm, helpfulness_rm = self.reward_models()
        probe = self.eval_prompts[:s.curve_prompts]
        ns = [n for n in (1, 2, 4, 8, 16, 32, 64) if n <= s.curve_samples]
        curves = {}
        for temperature in s.temperatures:
            samples = rejection.sample_replies(self.chat, self.tokenizer, [p["dialog"] for p in probe],
                                               s.curve_samples, temperature=temperature, seed=self.seed)
            rewards = rejection.reward_of(safety_rm, helpfulness_rm, self.tokenizer, probe, samples)
            curves[str(temperature)] = rejection.reward_curve(rewards, ns)
        model, history = rejection.rejection_sampling(
            self.chat, self.tokenizer, safety_rm, helpfulness_rm, self.train_prompts[:s.rs_prompts],
            rounds=s.rs_rounds, k=s.rs_k, temperature=1.0, steps=s.rs_steps, seed=self.seed,
            log=lambda record: self.log("  rejection sampling, " + rejection.round_line(record)))
        save_model(model, self.out / "rejection-sampling", "kit", dtype=torch.bfloat16)
        self.results["rejection"] = {"curves": curves, "rounds": history}
        return (f"best of {s.rs_k} in {count(s.rs_rounds, 'round')} on "
                f"{count(len(self.train_prompts[:s.rs_prompts]), 'prompt')}: mean best reward "
                f"{history[-1]['best']:.3f}; reward curves at {count(len(curves), 'temperature')}")

    def ppo(self):
        safety_rm, helpfulness_rm = self.reward_models()
        start = self.out / "rejection-sampling"
        policy = load_model(start, dtype=torch.float32) if start.is_dir() else self.chat
        config = self.settings.ppo
        model, history = ppo.train_ppo(policy, self.tokenizer, safety_rm, helpfulness_rm, self.train_prompts, config,
                                       log=lambda r: self.log("  ppo " + " ".join(
                                           f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                           for k, v in r.items())))
        save_model(model, self.out / "ppo", "kit", dtype=torch.bfloat16)
        self.results["ppo"] = {"config": asdict(config), "history": history,
                               "started_from": "rejection sampling" if start.is_dir() else "chat"}
        return (f"{count(len(history), 'iteration')}: reward {history[0]['reward']:.3f} -> "
                f"{history[-1]['reward']:.3f}, KL to the start {history[-1]['kl']:.2f} nats per reply")

    def dpo(self):
        pairs = self.comparisons()
        model, history = dpo.train_dpo(self.chat, self.tokenizer, pairs["train"], epochs=self.settings.dpo_epochs,
                                       seed=self.seed)
        save_model(model, self.out / "dpo", "kit", dtype=torch.bfloat16)
        self.results["dpo"] = {"history": history}
        return (f"{count(len(history['loss']), 'step')} on {count(len(pairs['train']), 'comparison')}, "
                f"last loss {history['loss'][-1]:.3f}")

    def dpo_rounds(self):
        s = self.settings  # round r's prompts: fresh ones from the training split (round 1's are the pairs' prompts)
        prompt_rounds = [preferences.preference_prompts(self.world, "train", s.dpo_round_prompts, self.seed + r)
                         for r in range(s.dpo_rounds)]
        model, rounds = dpo.iterative_dpo(self.chat, self.tokenizer, prompt_rounds, candidates=s.dpo_candidates,
                                          epochs=s.dpo_round_epochs, nll_weight=s.dpo_nll_weight, seed=self.seed,
                                          log=lambda line: self.log("  iterative DPO " + line))
        save_model(model, self.out / "dpo-rounds", "kit", dtype=torch.bfloat16)
        self.results["dpo_rounds"] = {"rounds": rounds}
        return (f"{count(len(rounds), 'round')} on " + ", ".join(f"{r['comparisons']:,}" for r in rounds)
                + " comparisons")

    def gatt(self):
        s = self.settings
        instructed, tune_losses = gatt.instruction_tune(self.chat, self.tokenizer, self.world,
                                                        n=s.gatt_instruction_dialogs, steps=s.gatt_tune_steps,
                                                        seed=self.seed, multi_turn=s.gatt_instruction_multi_turn)
        model, info = gatt.train_gatt(instructed, self.tokenizer, self.world, n_dialogs=s.gatt_dialogs,
                                      turns=s.gatt_turns, steps=s.gatt_steps, seed=self.seed,
                                      log=lambda line: self.log("  " + line))
        save_model(model, self.out / "gatt", "kit", dtype=torch.bfloat16)
        models = {"SFT": self.chat, "instruction-tuned": instructed, "GAtt": model}
        rows, dialogs = {}, {}
        for name, m in models.items():  # the training instructions, then the held-out ones, on held-out questions
            kept, held = (gatt.instruction_kept(m, self.tokenizer, self.world, n=s.gatt_eval_dialogs,
                                                turns=s.gatt_eval_turns, seed=self.seed, instructions=split)
                          for split in ("train", "eval"))
            rows[name] = {key: kept[key] for key in ("kept", "by_kind", "facts", "n")}
            rows[name].update(held_out_kept=held["kept"], held_out_by_kind=held["by_kind"], held_out_n=held["n"])
            rows[name]["example"], dialogs[name] = kept["dialogs"][0], kept["dialogs"]
            self.log(f"  {name}: instruction kept by turn " + " ".join(f"{x:.2f}" for x in kept["kept"])
                     + "; held-out instructions " + " ".join(f"{x:.2f}" for x in held["kept"]))
        # attention read on the same text for every model: the GAtt model's dialogs, which follow the instruction
        for name, m in models.items():
            rows[name]["attention"] = gatt.attention_by_turn(m, self.tokenizer, dialogs["GAtt"])
            rows[name]["attention_map"] = gatt.attention_along(m, self.tokenizer, dialogs["GAtt"][0])
        self.results["gatt"] = {"rows": rows, "sampled_kept": info["kept"], "examples": info["examples"],
                                "tune_losses": tune_losses[::10], "losses": info["losses"][::10],
                                "example": info["example"]}
        return "instruction kept at the last turn: " + ", ".join(f"{name} {row['kept'][-1]:.0%}"
                                                                  for name, row in rows.items())

    def evaluate(self):
        from ..course import alignment
        models = {"base": self.base, "SFT": self.chat}
        for name, folder in ALIGNED.items():
            if (self.out / folder).is_dir():
                models[name] = load_model(self.out / folder, dtype=torch.float32)
        self.results["evaluate"] = alignment.alignment_table(models, self.tokenizer, self.world, self.eval_prompts,
                                                             limit=self.settings.table_items, log=self.log)
        return f"the safety table for {count(len(models), 'model')}; best aligned: {self.results['evaluate']['best']}"

    # ------------------------------------------------------------ measurements of the stages above (MEASURES)

    def reward_scaling(self):
        s = self.settings
        done = self.results.get("reward", {}).get("models", {})  # the reward stage's models: the whole mix
        whole = {kind: done[f"{kind}/small"] for kind in ("helpfulness", "safety") if f"{kind}/small" in done}
        scaling = measure.reward_scaling(self.chat, self.tokenizer, self.comparisons(), s.scaling_fractions,
                                         epochs=s.reward_epochs, seed=self.seed, whole=whole, log=self.log)
        self.results["reward_scaling"] = {"margin": "small", "epochs": s.reward_epochs, "by_kind": scaling}
        return "held-out accuracy by comparisons: " + "; ".join(
            f"{kind} " + ", ".join(f"{row['n_train']:,} {row['accuracy']['overall']:.1%}" for row in rows)
            for kind, rows in scaling.items())

    def rejection_rounds(self):
        s = self.settings
        safety_rm, helpfulness_rm = self.reward_models()
        prompts = self.train_prompts[:s.rounds_prompts]
        histories = {}
        for keep in rejection.KEEPS:  # the same rounds, fine-tuned on the best of all rounds or the latest's alone
            model, histories[keep] = rejection.rejection_sampling(
                self.chat, self.tokenizer, safety_rm, helpfulness_rm, prompts, rounds=s.rounds_count, k=s.rounds_k,
                temperature=1.0, steps=s.rounds_steps, seed=self.seed, keep=keep,
                log=lambda record: self.log(f"  rejection sampling ({record.get('keep', 'all')}), "
                                            + rejection.round_line(record)))
            save_model(model, self.out / ROUNDS[keep], "kit", dtype=torch.bfloat16)
        self.results["rejection_rounds"] = {"prompts": len(prompts), "k": s.rounds_k, "steps": s.rounds_steps,
                                            "rounds": histories}
        last = histories["latest"][-1]
        return (f"{count(s.rounds_count, 'round')} of best of {s.rounds_k} on {count(len(prompts), 'prompt')}; "
                f"the latest round alone dropped the best reply of {last['forgotten']['prompts']:,} prompts")

    def judged(self):
        safety_rm, helpfulness_rm = self.reward_models()
        models = {"base": self.base, "SFT": self.chat}
        for name, folder in {**ALIGNED, **ROUND_MODELS}.items():
            if (self.out / folder).is_dir():
                models[name] = load_model(self.out / folder, dtype=torch.float32)
        judged = measure.judged_stages(models, self.tokenizer, safety_rm, helpfulness_rm,
                                       self.eval_prompts[:self.settings.judged_prompts])
        self.results["judged"] = judged
        return (f"{count(len(models), 'model')} judged twice; the reward models order the replies as the judge does "
                f"in {judged['agreement']['agree']:.1%} of {judged['agreement']['n']:,} pairs")

    def run(self, stages):
        for name in stages:
            self._timed(name, getattr(self, name))


PAIRS = "pairs.json"  # the comparisons, which the reward and DPO stages train on
# Stages that measure what the others made and ship no model: their results can be merged into data/rlhf.json alone.
MEASURES = ("reward_scaling", "rejection_rounds", "judged")
STAGES = ("pairs", "reward", "rejection", "ppo", "dpo", "dpo_rounds", "evaluate", "gatt", *MEASURES)
# The aligned models the evaluation compares, by their row's name: the folder each stage saves it in.
ALIGNED = {"rejection sampling": "rejection-sampling", "PPO": "ppo", "DPO": "dpo", "iterative DPO": "dpo-rounds"}
# The rejection_rounds stage's models, by what their last round fine-tuned on (rejection.KEEPS), and by row name.
ROUNDS = {"all": "rejection-rounds/all", "latest": "rejection-rounds/latest"}
ROUND_MODELS = {"RS, best of all rounds": ROUNDS["all"], "RS, latest round only": ROUNDS["latest"]}


def aligned_card(results: dict) -> str:
    """MODEL_CARD.md of the shipped aligned model: what it is, how it was made, and the safety table's rows."""
    best = results["evaluate"]["best"]
    rows = {name: row for name, row in results["evaluate"]["rows"].items() if name in ("SFT", best)}
    settings = results["settings"]
    how = {"PPO": "PPO with Llama 2's reward (the safety and helpfulness reward models, logit, whitening, a KL "
                  "penalty to the model it started from), started from the rejection-sampling model",
           "rejection sampling": "two rounds of rejection sampling under the reward models",
           "DPO": "DPO on the comparisons, with the chat model as the reference",
           "iterative DPO": (f"{settings['dpo_rounds']} rounds of DPO, each on fresh comparisons of the latest "
                             "model's own replies, judged, with the latest model as the reference")}[best]
    minutes = sum(v.get("minutes", 0) for v in results.values() if isinstance(v, dict))
    lines = [
        "# llama-lab tiny-aligned", "",
        f"tiny-chat tuned by {how}: the best of the pipeline's aligned models by the world judge's helpfulness and "
        "safety on held-out prompts, among those that keep the chat model's truthfulness within 2 points.", "",
        "Same architecture and tokenizer as tiny-chat (data/tiny-chat/MODEL_CARD.md); weights in bfloat16.", "",
        "## How it was made", "",
        f"`make rlhf` (`python -m llama_lab.rlhf.pipeline --ship`): {settings['train_prompts']} training prompts "
        f"answered twice and judged, two reward models, rejection sampling, PPO ({settings['ppo']['iterations']} "
        f"iterations of {settings['ppo']['batch_size']} prompts, beta {settings['ppo']['beta']}, learning rate "
        f"{settings['ppo']['lr']}), DPO on the same comparisons and in {settings['dpo_rounds']} rounds on its own "
        f"judged replies, and the evaluation: {minutes:.0f} min on the machine that ran it. "
        "Every figure is in data/rlhf.json; notebook 06 reads them.", "",
        "## Evaluation (held-out sets, greedy)", "",
        "| model | " + " | ".join(rows["SFT"]) + " |", "|---" * (len(rows["SFT"]) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(f"{v:.2f}" if "judge" in k else f"{v:.1f}" for k, v in row.items()) + " |"
              for name, row in rows.items()]
    paired = results["evaluate"].get("against_sft", {}).get(best, {})
    if paired:
        counts = "; ".join(f"{kind} prompts {c['higher']} higher, {c['lower']} lower, {c['same']} the same"
                           for kind, c in sorted(paired.items()))
        lines += ["", "Prompt by prompt, the judge scores its greedy reply above SFT's, below it, or the same: "
                  f"{counts}."]
    lines += ["", "## Limitations", "",
              "A toy, like tiny-chat: it knows only the tiny world. Its comparisons (and the reward models) came "
              "from a judge made of the world's rules, so it was tuned towards what those rules can see and nothing "
              "else; the table's other columns show what that did elsewhere.", ""]
    return "\n".join(lines)


def ship(out: Path, data_dir: Path = DATA, margin: str = "small") -> None:
    """Copy the reward models (`margin`), the best aligned model with its card, and results.json into `data_dir`.

    They switch together (files.replace_together): a ship stopped at any point leaves data_dir with the old set or
    the new one, never new reward models beside an old card. Everything is checked before anything is written.
    """
    out, data_dir = Path(out), Path(data_dir)
    rerun = f"python -m llama_lab.rlhf.pipeline --out {out}"
    if not (out / "results.json").is_file():
        raise SystemExit(f"nothing to ship: {out} holds no results.json. Run the pipeline first, `{rerun}`")
    results = json.loads((out / "results.json").read_text())
    if "evaluate" not in results:
        raise SystemExit(f"nothing to ship: {out} has no evaluation to choose the aligned model by. Run the stages "
                         f"first, `{rerun} --ship`")
    best = results["evaluate"].get("best")
    if best is None:
        raise SystemExit("no aligned model kept the chat model's truthfulness: nothing to ship")
    reward = {kind: out / "reward" / f"{kind}-{margin}" for kind in ("helpfulness", "safety")}
    needed = [out / "tokenizer.model", out / ALIGNED[best] / "params.json", out / ALIGNED[best] / "model.safetensors",
              *(folder / "reward_model.safetensors" for folder in reward.values())]
    missing = [str(path) for path in needed if not path.is_file()]
    if missing:
        raise SystemExit(f"nothing shipped: {', '.join(missing)} missing. Run the stages that write them, `{rerun}`")

    def build(staging: Path) -> None:
        for kind, folder in reward.items():
            model, card = load_reward_model(folder)
            save_reward_model(model.to(torch.bfloat16), staging / SHIPPED[kind], card)
        for shipped in SHIPPED.values():  # each model with the tokenizer it was trained with
            (staging / shipped).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(out / "tokenizer.model", staging / shipped / "tokenizer.model")
        target = staging / SHIPPED["aligned"]
        for name in ("params.json", "model.safetensors"):
            shutil.copyfile(out / ALIGNED[best] / name, target / name)
        (target / "MODEL_CARD.md").write_text(aligned_card(results))
        (staging / "rlhf.json").write_text(json.dumps(results, indent=1) + "\n")

    replace_together(data_dir, build)


def merge(out: Path, stages, data_dir: Path = DATA) -> list[str]:
    """Copy the results of the measuring `stages` (MEASURES) from `out`'s results.json into data_dir/rlhf.json,
    every other key left as it is; the file is replaced whole. Returns the keys written.

    The other stages' figures describe the models that ship beside them, so they change only with `ship`."""
    out, data_dir = Path(out), Path(data_dir)
    shipped = [s for s in stages if s not in MEASURES]
    if shipped:
        raise SystemExit(f"--merge writes only the measuring stages ({', '.join(MEASURES)}); {', '.join(shipped)} "
                         "describe the shipped models and change only with them: use --ship")
    target = data_dir / "rlhf.json"
    if not target.is_file():
        raise SystemExit(f"nothing to merge into: {target} is missing. Ship a full run first, `make rlhf`")
    results = json.loads((out / "results.json").read_text()) if (out / "results.json").is_file() else {}
    missing = [s for s in stages if s not in results]
    if missing:
        raise SystemExit(f"nothing merged: {out} holds no results of {', '.join(missing)}. Run them first, "
                         f"`python -m llama_lab.rlhf.pipeline --out {out} --stages {','.join(missing)}`")
    merged = json.loads(target.read_text()) | {s: results[s] for s in stages}
    with replacing(target) as tmp:
        tmp.write_text(json.dumps(merged, indent=1) + "\n")
    return list(stages)


def from_shipped(out: Path, data_dir: Path = DATA, margin: str = "small") -> list[str]:
    """Put the shipped reward models and aligned model into `out` where a run would have made them, so that the
    measuring stages can run without the stages that train them; what `out` already holds is kept. The shipped
    models are the run's in bfloat16. Where `out`'s comparisons are the shipped run's, the reward stage's figures
    go into its results.json too (the reward stage then counts as done). Returns what was written."""
    out, data_dir = Path(out), Path(data_dir)
    card = data_dir / "rlhf.json"
    best = json.loads(card.read_text())["evaluate"]["best"] if card.is_file() else None
    copies = {data_dir / SHIPPED[kind]: out / "reward" / f"{kind}-{margin}" for kind in ("helpfulness", "safety")}
    if best is not None:
        copies[data_dir / SHIPPED["aligned"]] = out / ALIGNED[best]
    absent = [str(source) for source in copies if not source.is_dir()]
    if absent:
        raise SystemExit(f"no shipped models to start from: {', '.join(absent)} missing. Build them with `make rlhf`")
    written = []
    for source, target in copies.items():
        if not target.exists():  # copied beside it, then renamed: a copy cut short is never taken for a model
            partial = target.with_name(target.name + ".copying")
            shutil.rmtree(partial, ignore_errors=True)
            shutil.copytree(source, partial)
            partial.rename(target)
            written.append(str(target))
    # the reward stage's figures describe the reward models copied: they hold for this run when its comparisons
    # are the shipped run's (the pairs stage is seeded), and then the reward stage counts as done
    results_path = out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    shipped = json.loads(card.read_text()) if card.is_file() else {}
    same = [{k: v for k, v in r.get("pairs", {}).items() if k != "minutes"} for r in (results, shipped)]
    if "reward" not in results and "reward" in shipped and same[0] and same[0] == same[1]:
        results["reward"] = shipped["reward"]
        with replacing(results_path) as tmp:
            tmp.write_text(json.dumps(results, indent=1) + "\n")
        written.append(f"{results_path}: the reward stage's figures")
    return written


def positive(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number of 1 or more")
    return int(text)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m llama_lab.rlhf.pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/rlhf", help="where the stages write (default runs/rlhf)")
    parser.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated, of {','.join(STAGES)}")
    parser.add_argument("--fresh", action="store_true", help="forget earlier results in --out and start over")
    parser.add_argument("--ship", action="store_true", help="copy the results into data/ at the end")
    parser.add_argument("--merge", action="store_true",
                        help=f"copy only the results of the measuring stages run ({', '.join(MEASURES)}) into "
                             "data/rlhf.json")
    parser.add_argument("--from-shipped", action="store_true",
                        help="start from the shipped reward models and aligned model (for the measuring stages)")
    parser.add_argument("--quick", action="store_true", help="a smoke test of every stage (a minute or two)")
    parser.add_argument("--threads", type=positive, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        parser.exit(2, f"error: unknown stage {', '.join(unknown)}: the stages are {', '.join(STAGES)}\n")
    out = Path(args.out)
    if args.threads:
        torch.set_num_threads(args.threads)
    # the mistakes a learner can make (a missing stage's files, an --out or data/ that cannot be written, the tiny
    # models not built) end in one line that says what to do
    with one_line_errors(ValueError, CheckpointError, writing="give another --out, or make data/ writable"):
        finish_replacing(DATA)  # a ship stopped after its switch: complete it before reading data/
        if out.exists() and not out.is_dir():
            raise SystemExit(f"--out {out} is a file: give a folder for the run, such as runs/rlhf")
        if args.fresh:
            for name in ("results.json", "tokenizer.model", PAIRS):
                (out / name).unlink(missing_ok=True)
        if args.ship and args.merge:
            raise SystemExit("give --ship (everything) or --merge (the measuring stages' figures), not both")
        if args.from_shipped:
            from_shipped(out)
        pipeline = Pipeline(out, QUICK if args.quick else Settings())
        pipeline.run(stages)
        if args.ship:
            ship(out)
        if args.merge:
            merge(out, stages)


if __name__ == "__main__":
    main(sys.argv[1:])
