"""How Llama-2-Chat was made after SFT (Touvron et al. 2023, section 3.2-3.3), in miniature, on the tiny world.

    sequences.py   prompt + reply as token ids, padded batches, the log-probabilities of a reply's tokens
    reward.py      reward models: a scalar head on the chat model, the binary ranking loss with a margin (3.2.2)
    rejection.py   rejection sampling: the best of K samples under the reward, fine-tuned on (3.2.3)
    ppo.py         PPO with Llama 2's reward: the piecewise choice, logit and whitening, KL penalty, GAE (3.2.3)
    dpo.py         Direct Preference Optimization (Rafailov et al., May 2023): not used by Llama 2, used by Llama 3
    gatt.py        Ghost Attention: an instruction kept over many turns (3.3)
    measure.py     how far the reward models can be trusted: accuracy by data, verdicts against the judge's (3.4.1)
    pipeline.py    the whole pipeline, one command: `python -m llama_lab.rlhf.pipeline`

The preference data and the judge that stands in for annotators are the world's: `llama_lab.world.preferences`.
"""
