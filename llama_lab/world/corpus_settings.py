"""How much of the tiny world `make data` writes, and from which seed: the corpus settings that the build
(build.py) writes the corpus with and the evaluation (evaluate.py) checks it against, writing it the same way
where a fresh checkout lacks it.
"""

from . import tinyworld

WORLD_SEED = tinyworld.DEFAULT_SEED
# More documents than the generator's default, so that pretraining reads each about once rather than many times.
# 48,000 chat dialogs, 2,400 steps of 16 (0.8 of an epoch): against 24,000 for 1,200 steps, held-out phrasings rose
# from 81% to 88% of facts right, 54% to 69% of benign requests answered on topic, 92% to 98% of harmful ones refused.
# A second round of 16,000 dialogs aimed at what the first taught worst (tinyworld.chat_dialogs_round), 800
# steps from the first round's model: held-out phrasings rose from 69% to 88% of benign requests answered on topic
# and from 58% to 77% of out-of-world questions declined (48 of each kind then). On the balanced draw of held-out
# styles and 144 of each kind, the second round's model: facts 94.4%, harmful refused 97.2%, benign on topic 90.1%,
# out-of-world declined 72.9%. A third round of 8,000 dialogs, 400 steps from the second round's model, aimed at
# out-of-world questions (tinyworld.LATER_ROUNDS["three"]): 72.9% to 82.6% declined, facts 92.4%, harmful refused
# 97.2%, benign on topic 89.6%; the same round with no stories or requests about unknown things and harmful
# requests at 12% reached 77.8% declined but let harmful refusals fall to 88.2%.
CORPUS = {"n_train_docs": 72_000, "n_val_docs": 1_000, "n_train_chat": 48_000, "n_val_chat": 800,
          "n_train_chat_round_two": 16_000, "n_val_chat_round_two": 400,
          "n_train_chat_round_three": 8_000, "n_val_chat_round_three": 400}
