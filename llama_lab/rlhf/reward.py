"""Reward models (Llama 2, section 3.2.2): the chat model with a scalar head, trained on ranked pairs of replies.

Llama 2 trained two reward models, one for helpfulness and one for safety, each initialised from a pretrained chat
checkpoint "so that both models benefit from knowledge acquired in pretraining": the next-token head is replaced by
a regression head that reads the last token's hidden state and outputs one number, the reward. Trained on pairs
(chosen, rejected) with the binary ranking loss of InstructGPT, plus a margin that grows with how clearly the
annotator preferred the chosen reply:

    L = -log sigmoid(r(x, y_chosen) - r(x, y_rejected) - m(rating))

Two margin tables were tried (the paper's Table 27, and their ablation in Table 28). The margin improved the
helpfulness reward model's accuracy, most on the pairs whose two replies are clearly separable; the larger margin,
though, also regressed performance on similar pairs (negligibly better / unsure). The tables:

    rating           significantly better   better   slightly better   negligibly better / unsure
    margin small             1               2/3          1/3                      0
    margin large             3                2            1                       0

Their data mixes: the helpfulness model saw all helpfulness comparisons and as many safety ones; the safety model
saw the safety comparisons with helpfulness ones as a tenth of the mix, which helped most on pairs where both replies
were safe. `training_mix` builds both.
"""
from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..files import finish_replacing, replacing
from ..model import Llama, ModelArgs
from ..optim import Recipe
from ..progress import progress
from ..world.preferences import RATINGS, prompt_kind
from .sequences import Row, epoch_order, pad, text_row

MARGINS = {
    "none": dict.fromkeys(RATINGS, 0.0),
    "small": dict(zip(RATINGS, (1.0, 2 / 3, 1 / 3, 0.0))),
    "large": dict(zip(RATINGS, (3.0, 2.0, 1.0, 0.0))),
}


def ranking_loss(chosen, rejected, margin=0.0) -> torch.Tensor:
    """Llama 2's reward-model loss for a comparison (section 3.2.2): -log sigmoid(r(chosen) - r(rejected) - margin).

    chosen, rejected: the reward model's scalar scores of the preferred and the other answer (numbers or tensors of
    one shape); margin: a number or a tensor of that shape. The margin grows with how clearly the annotators
    preferred the chosen answer; margin 0 is the binary ranking loss of InstructGPT (Ouyang et al. 2022). Computed
    as softplus(-(difference - margin)), the same number without overflow, in the scores' floating dtype (float64
    for plain numbers).
    Example: chosen 1.5, rejected 0.5 -> log(1 + e^-1) = 0.3133; with margin 1 -> log 2 = 0.6931.
    """
    dtype = chosen.dtype if isinstance(chosen, torch.Tensor) and chosen.is_floating_point() else torch.float64
    chosen, rejected = torch.as_tensor(chosen, dtype=dtype), torch.as_tensor(rejected)
    difference = chosen - rejected.to(chosen.dtype)
    return F.softplus(-(difference - torch.as_tensor(margin, dtype=chosen.dtype, device=chosen.device)))


class RewardModel(nn.Module):
    """Token ids of a prompt and its reply -> one number, the reward: a Llama read at the reply's last token.

    `RewardModel.from_chat(model)` copies the chat model and puts a scalar head (a dim -> 1 linear map, no bias,
    as Hugging Face's LlamaForSequenceClassification has it) where the next-token head was. The head starts at zero,
    so every reply scores 0 and the first loss is log 2.
    """

    def __init__(self, args: ModelArgs):
        super().__init__()
        self.transformer = Llama(args)
        self.transformer.output = None  # the next-token head: replaced by `score`
        self.score = nn.Linear(args.dim, 1, bias=False)
        nn.init.zeros_(self.score.weight)

    @classmethod
    def from_chat(cls, chat_model: Llama) -> "RewardModel":
        model = cls(chat_model.args).to(device=chat_model.device, dtype=chat_model.dtype)
        weights = {k: v for k, v in chat_model.state_dict().items() if not k.startswith("output.")}  # copied in
        model.transformer.load_state_dict(weights)
        return model

    @property
    def args(self) -> ModelArgs:
        return self.transformer.args

    @property
    def device(self) -> torch.device:
        return self.transformer.device

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """tokens (B, T), right-padded; lengths (B,): each row's real length. Returns the rewards (B,)."""
        hidden = self.transformer(tokens, head=False)  # (B, T, D), after the final RMSNorm
        last = hidden[torch.arange(tokens.shape[0], device=tokens.device), lengths - 1]  # (B, D): the EOS's state
        return self.score(last).squeeze(-1).float()  # (B,)

    def rewards(self, rows: Sequence[Row], pad_id: int, batch_size: int = 64) -> torch.Tensor:
        """(N,) rewards of the rows (`sequences.text_row`/`token_row`), without gradients."""
        out = []
        with torch.no_grad():
            for i in range(0, len(rows), batch_size):
                tokens, _, lengths = pad(rows[i:i + batch_size], pad_id, self.device)
                out.append(self(tokens, lengths))
        return torch.cat(out) if out else torch.zeros(0)


def comparison_rows(tokenizer, records: Sequence[dict], max_len: int) -> tuple[list[Row], list[Row]]:
    """(chosen rows, rejected rows) of the comparisons (`preferences.sample_pairs` records)."""
    chosen = [text_row(tokenizer, r["item"]["dialog"], r["chosen"], max_len) for r in records]
    rejected = [text_row(tokenizer, r["item"]["dialog"], r["rejected"], max_len) for r in records]
    return chosen, rejected


def training_mix(records: Sequence[dict], kind: str, seed: int = 0) -> list[dict]:
    """The comparisons a reward model of `kind` trains on, mixed as Llama 2 mixed them.

    "helpfulness": every helpfulness comparison, and as many safety ones (all of them, if there are fewer).
    "safety": every safety comparison, and helpfulness ones making up a tenth of the mix.
    """
    if kind not in ("helpfulness", "safety"):
        raise ValueError(f"kind={kind!r}: the reward models are 'helpfulness' and 'safety'")
    rng = random.Random(f"reward-mix/{kind}/{seed}")
    own = [r for r in records if prompt_kind(r["item"]) == kind]
    other = [r for r in records if prompt_kind(r["item"]) != kind]
    n_other = len(own) if kind == "helpfulness" else len(own) // 9
    mix = own + rng.sample(other, min(n_other, len(other)))
    rng.shuffle(mix)
    return mix


def train_reward_model(chat_model: Llama, tokenizer, records: Sequence[dict], margin: str = "small",
                       epochs: float = 2.0, batch_size: int = 32, lr: float = 1e-4, warmup: float = 0.03,
                       seed: int = 0) -> tuple[RewardModel, list[float]]:
    """A reward model initialised from `chat_model`, trained on the comparisons with the ranking loss and a margin
    table of MARGINS ("none", "small" or "large"). AdamW, warm-up over a `warmup` share of the steps, then cosine
    to a tenth of `lr` (the paper's schedule, with a maximum learning rate of 5e-6 for the 70B reward model and 1e-5
    for the rest, batches of 512 pairs, one epoch, on far more data). Returns (model in eval mode, the loss of each
    step)."""
    if margin not in MARGINS:
        raise ValueError(f"margin={margin!r}: the margin tables are {list(MARGINS)}")
    if not records:
        raise ValueError("no comparisons to train on")
    torch.manual_seed(seed)
    model = RewardModel.from_chat(chat_model).train()
    chosen, rejected = comparison_rows(tokenizer, records, chat_model.args.max_seq_len)
    margins = torch.tensor([MARGINS[margin][r["rating"]] for r in records])
    steps = max(1, math.ceil(epochs * len(records) / batch_size))
    warm = max(1, round(warmup * steps))
    # the paper's schedule, as pretraining's; the weight decay on every parameter (the norms' gains and the score
    # head too) and torch's eps (1e-8): the settings the shipped reward models were trained with
    recipe = Recipe(lr=lr, steps=steps, warmup=warm, decay_vectors=True, eps=1e-8)
    optimizer = recipe.optimizer(model)
    order = epoch_order(len(records), steps, batch_size, seed)
    losses = []
    for step in progress(range(steps), "reward model", unit="step"):
        picked = order[step * batch_size:(step + 1) * batch_size]
        tokens, _, lengths = pad([chosen[i] for i in picked] + [rejected[i] for i in picked], tokenizer.eos_id,
                                 model.device)
        scores = model(tokens, lengths)  # (2B,): the chosen replies' rewards, then the rejected ones'
        loss = ranking_loss(scores[:len(picked)], scores[len(picked):], margins[picked].to(scores.device)).mean()
        loss.backward()
        recipe.update(optimizer, model.parameters(), step)
        losses.append(loss.item())
    return model.eval(), losses


def accuracy(model: RewardModel, tokenizer, records: Sequence[dict]) -> dict:
    """Share of comparisons where the chosen reply gets the higher reward: overall and by rating level
    (the paper's Table 8 reports both). {"overall": float, "n": int, "by rating": {rating: (share, n)}}."""
    chosen, rejected = comparison_rows(tokenizer, records, model.args.max_seq_len)
    right = (model.rewards(chosen, tokenizer.eos_id) > model.rewards(rejected, tokenizer.eos_id)).tolist()
    by_rating = {}
    for rating in RATINGS:
        hits = [ok for ok, r in zip(right, records) if r["rating"] == rating]
        by_rating[rating] = (sum(hits) / len(hits) if hits else float("nan"), len(hits))
    return {"overall": sum(right) / len(right) if right else float("nan"), "n": len(right), "by rating": by_rating}


def save_reward_model(model: RewardModel, folder: str | Path, card: dict | None = None) -> None:
    """Write `reward_model.safetensors` and `reward_model.json` (the model's shape and `card`) into `folder`, each
    file replaced whole; nothing else in the folder is touched."""
    from safetensors.torch import save_file
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with replacing(folder / "reward_model.safetensors") as tmp:
        save_file(state, str(tmp))
    with replacing(folder / "reward_model.json") as tmp:
        tmp.write_text(json.dumps({"args": model.args.to_dict(), **(card or {})}, indent=1) + "\n")


def load_reward_model(folder: str | Path, device=None) -> tuple[RewardModel, dict]:
    """(model in eval mode, its card) from a folder `save_reward_model` wrote."""
    from safetensors.torch import load_file
    folder = Path(folder)
    finish_replacing(folder.parent)  # shipped reward models switch together with the aligned model: see ship
    files = [folder / "reward_model.json", folder / "reward_model.safetensors"]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"no reward model in {folder}: {', '.join(missing)} missing. Build one with "
                                "`python -m llama_lab.rlhf.pipeline`")
    card = json.loads(files[0].read_text())
    model = RewardModel(ModelArgs.from_dict(card["args"]))
    model.load_state_dict(load_file(str(files[1])))
    return model.to(device or "cpu").eval(), card
