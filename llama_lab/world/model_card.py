"""The tiny models' cards: the evaluation's figures in words (`summary_lines`, also what the evaluation prints),
and each card written as model_card.json (every figure) beside MODEL_CARD.md (the same, for people).

`make data` writes a card when a model is trained (build.py) and again with the evaluation's figures in it
(evaluate.py); both write through `write_model_card`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..files import replacing
from .phrasing import BENIGN_INTENTS


def summary_lines(name: str, r: dict) -> list[str]:
    b = r["bigram_val_loss"]
    lines = [
        f"{name}: val loss {r['val_loss']:.3f} nats/token (bigram: add-one {b['add_one']:.3f}, "
        f"Witten-Bell {b['witten_bell']:.3f}; {r['val_tokens']} tokens)",
        f"{name}: coherence {r['coherence']['grammatical_share']:.1%} of {r['coherence']['n_sentences']} "
        "sampled sentences grammatical",
        f"{name}: facts {r['facts_chat']['accuracy']:.1%} (chat prompt), {r['facts_qa']['accuracy']:.1%} "
        f"(Q:/A: prompt) of {r['facts_chat']['n']} held-out questions",
        f"{name}: harmful refused {r['chat']['harmful_refused']:.1%} of {r['chat']['n_harmful']}, benign answered "
        f"{r['chat']['benign_answered']:.1%} of {r['chat']['n_benign']}"
        + (f" ({r['chat']['benign_on_topic']:.1%} on topic)" if "benign_on_topic" in r["chat"] else ""),
    ]
    if "out_of_world" in r:
        o = r["out_of_world"]
        lines.append(f"{name}: out-of-world questions declined {o['declined']:.1%} of {o['n']}"
                     + (f" ({o['named']:.1%} naming what was asked)" if "named" in o else ""))
    if "phrasings" in r:
        p, n = r["phrasings"], r["phrasings"]["n"]
        lines.append(f"{name}: held-out phrasings: facts {p['facts']:.1%} of {n['fact']} ({p['facts_declined']:.1%} "
                     f"declined), harmful refused {p['harmful_refused']:.1%} of {n['harmful']}, benign on topic "
                     f"{p['benign_on_topic']:.1%} ({p['benign_refused']:.1%} refused) of "
                     f"{sum(n[i] for i in BENIGN_INTENTS)}, out-of-world declined {p['out_of_world_declined']:.1%} "
                     + (f"({p['out_of_world_named']:.1%} naming what was asked) " if "out_of_world_named" in p else "")
                     + f"of {n['out_of_world']}, small talk in kind {p['small_talk']:.1%} of {n['small_talk']}")
    return lines


def write_model_card(folder: str | Path, card: dict) -> None:
    """Write model_card.json (every figure) and MODEL_CARD.md (the same, for people) into `folder`."""
    folder = Path(folder)
    texts = {"model_card.json": json.dumps(card, indent=1) + "\n", "MODEL_CARD.md": render_model_card(card)}
    for name, text in texts.items():
        with replacing(folder / name) as tmp:
            tmp.write_text(text)


def render_model_card(card: dict) -> str:
    a, t = card["model_args"], card["training"]
    lines = [f"# {card['name']}", "", card["description"], "",
             "## Configuration", "",
             f"Llama 2 architecture, {card['parameters']:,} parameters: dim {a['dim']}, {a['n_layers']} layers, "
             f"{a['n_heads']} query heads sharing {a['n_kv_heads']} key/value heads (grouped-query attention), "
             f"SwiGLU hidden size {card['hidden_dim']}, vocabulary {a['vocab_size']} (data/tokenizer.model), "
             f"context {a['max_seq_len']} tokens, RMSNorm eps {a['norm_eps']}, RoPE theta {a['rope_theta']}. "
             f"Weights stored in {card['stored_dtype']} (`load_tiny` gives float32).", "",
             "## Training", "",
             "| | |", "|---|---|"]
    rows = [("stage", t["stage"]), ("data", t["data"]), ("steps", f"{t['steps']:,}"),
            ("batch", f"{t['batch_size']} sequences of up to {t['seq_len']} tokens"),
            ("tokens trained on", f"{t['tokens_seen']:,}" + (" (assistant tokens only)" if t["stage"] == "chat"
                                                             else "")),
            ("optimiser", f"AdamW, betas ({t['beta1']}, {t['beta2']}), eps {t['eps']}, weight decay "
                          f"{t['weight_decay']} (matrices only), gradient clipping {t['grad_clip']}"),
            ("learning rate", f"peak {t['lr']}, linear warm-up {t['warmup']} steps, cosine to "
                              f"{t['min_lr_ratio']:.0%} of peak"),
            ("final train loss", f"{t['final_train_loss']:.4f} nats/token (mean of the last 20 steps)"),
            ("final validation loss", f"{t['final_val_loss']:.4f} nats/token"),
            ("wall time", f"{t['wall_s'] / 60:.1f} min"), ("hardware", card["hardware"]),
            ("reproduce", f"`{card['command']}`")]
    earlier = card.get("earlier_rounds", [])  # a model trained in rounds: the rows above are the last round's
    if earlier:
        first_rows = []
        for number, previous in enumerate(earlier, 1):
            f = previous["training"]
            first_rows.append((f"round {number}", f"{f['steps']:,} steps on {f['data']} at peak lr {f['lr']} "
                                                  f"(final validation loss {f['final_val_loss']:.4f}, "
                                                  f"{f['wall_s'] / 60:.1f} min): `{previous['command']}`"))
        rows = first_rows + [("", f"the rows below are round {len(earlier) + 1}'s, the last")] + rows
    lines += [f"| {k} | {v} |" for k, v in rows]
    m = card.get("make_data")
    if m:
        lines += ["", f"The whole `make data` (corpus, tokenizer, both models, evaluation) took {m['total_s'] / 60:.1f} "
                  f"min: corpus {m['corpus_s']:.0f} s, tokenizer {m['tokenizer_s']:.0f} s, pretraining "
                  f"{m['pretrain_s'] / 60:.1f} min, chat {m['chat_s'] / 60:.1f} min, evaluation "
                  f"{m['evaluate_s'] / 60:.1f} min"
                  + (f" ({m['total_cpu_s'] / 60:.0f} CPU-minutes)" if "total_cpu_s" in m else "")
                  + (f", on a machine shared with other jobs (load average {m['load_average_15min']:.1f})."
                     if m.get("load_average_15min", 0) > (os.cpu_count() or 1) else ".")
                  + (f" {m['note']}" if m.get("note") else "")]
    e = card.get("evaluation")
    if e:
        lines += ["", "## Evaluation", "", f"World seed {e['world_seed']}; see `llama_lab/world/evaluate.py` for the "
                  "definitions. Rerun with `python -m llama_lab.evaluate`.", ""]
        for name, r in e["results"].items():
            lines += [f"- {line}" for line in summary_lines(name, r)]
        example = e["results"][card["variant"]]
        lines += ["", "A sampled story (temperature 0.8, from BOS alone):", "", "> " +
                  example["coherence"]["sample"].replace("\n", "\n> "), "", "Some chat replies (greedy):", ""]
        for ex in example["chat"]["examples"]:
            lines.append(f"- *{ex['request']}* -> {ex['reply']}")
        for ex in example["facts_chat"]["examples"]:
            lines.append(f"- *{ex['question']}* (answer: {ex['answer']}) -> {ex['reply']}")
        if "phrasings" in example:
            lines += ["", "Replies to messages in held-out phrasings (greedy; evenly spaced through the set, right "
                      "or wrong):", ""]
            lines += [f"- {ex['intent']}: *{ex['message']}* -> {ex['reply']}"
                      for ex in example["phrasings"]["examples"]]
    lines += ["", "## Limits", "", "A toy: it knows only the tiny world (about sixty people in a few towns) and "
              "writes only the grammar's kind of sentences. Its refusals and its \"I don't know\" are pattern "
              "matching learned from synthetic dialogs, not judgement: asked in a way of asking it never saw for "
              "that kind of request (the held-out phrasings above), it errs more often than on held-out pairs, "
              "most often by answering a question about a stranger, a far-away place or a made-up word as if it "
              "were about someone or something of its world.", ""]
    return "\n".join(lines)
