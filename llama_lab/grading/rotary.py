"""Where assignment 02's notebook finds `use_rope_tables` and `use_apply_rotary_emb` (`from
llama_lab.grading.rotary import ...`): the parts live in llama_lab/grading/parts/rotary.py."""

from .parts.rotary import use_apply_rotary_emb, use_rope_tables

__all__ = ["use_apply_rotary_emb", "use_rope_tables"]
