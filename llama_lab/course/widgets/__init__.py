"""Explorers for Jupyter: sampling, attention, tokenization and the logit lens, in plain ipywidgets.

Each explorer is a Python object with a `.widget` to display (or leave the object last in a cell). Its controls
are ordinary ipywidgets: setting `.value` from code updates the explorer exactly as moving the control does.
What it draws, it also exposes as numbers, so that code and tests read what the learner sees, and
`snapshot()` gives its figure as a plain image for readers of a saved notebook, who have no kernel:

    SamplingPlayground(model, tokenizer)      .distribution, .result       sampling settings, Generate, Stop, Reset
    AttentionExplorer(model, tokenizer, text)  .attention, .patterns, .row  layer, head, GQA groups, a token's row
    TokenizerExplorer(tokenizer, other)        .results                     pieces, ids, byte fallback, counts
    TokenizerExplorer(..., translation=...)    .costs, .ratios              the same content in two languages
    LogitLens(model, tokenizer, text)          .rows, .logits               top tokens and a target's rank per layer

`whos_who_panel(whos_who())` is the tiny world's residents as a table, and `beside(explorer, panel)` sets a panel
to an explorer's right: notebook 05 shows the playground so, with its "try" menu (`TINY_CHAT_SUGGESTIONS`) drawn
from the same who's-who.

Nothing here loads JavaScript of its own: figures are matplotlib PNGs in `Image` widgets and coloured text is
HTML, so the explorers work offline in JupyterLab, VS Code and Colab, and several can share a notebook. Controls
that cost a forward pass act when released (`continuous_update=False`). A mistake (an empty prompt, a text too
long, top_p = 0) becomes a message inside the explorer, not a traceback; `.error` holds its text.

One file for each explorer (sampling_playground.py, attention_explorer.py, tokenizer_explorer.py, logit_lens.py),
world_panel.py for the tiny world's panel and menu, and base.py for what they all share; every name is importable
from `llama_lab.course.widgets` itself.
"""

from .attention_explorer import AttentionExplorer
from .base import Explorer, beside
from .logit_lens import LensRow, LogitLens
from .sampling_playground import YOUR_OWN, Detokenizer, Distribution, Generation, SamplingPlayground
from .tokenizer_explorer import PARALLEL_EXAMPLE, Tokenized, TokenizerExplorer, tokenize_for_display
from .world_panel import TINY_CHAT_SUGGESTIONS, tiny_chat_suggestions, whos_who_panel

__all__ = ["Explorer", "beside", "SamplingPlayground", "Distribution", "Generation", "Detokenizer", "YOUR_OWN",
           "AttentionExplorer", "TokenizerExplorer", "Tokenized", "tokenize_for_display", "LogitLens", "LensRow",
           "PARALLEL_EXAMPLE", "whos_who_panel", "tiny_chat_suggestions", "TINY_CHAT_SUGGESTIONS"]
