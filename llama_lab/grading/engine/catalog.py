"""The assignments the grader knows: each assignment notebook's name and the module of llama_lab/grading/parts/
that holds its graded parts (ASSIGNMENTS), loaded by name (load, get_part).

The parts are found by name, not imported here: they are built on the engine (checks.Part), and a fresh copy of
the grading package (harness.part_step) finds its own fresh copies of them the same way.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .checks import Part

# assignment (the notebook's name) -> the module with its graded parts
ASSIGNMENTS = {
    "01_rmsnorm_swiglu": "rmsnorm_swiglu",
    "02_rotary_embeddings": "rotary",
    "03_attention_kv_cache": "attention",
    "04_sampling": "sampling",
    "05_bpe_tokenizer": "bpe",
    "06_safety_mc2_probe": "mc2_probe",
    "07_rlhf_losses": "rlhf_losses",
    "08_memory_int8_parallel": "scale",
    "09_lora_nf4": "lora_nf4",
}
PARTS_PACKAGE = __name__.rsplit(".", 2)[0] + ".parts"  # llama_lab.grading.parts, or a fresh copy's


def load(assignment: str) -> ModuleType:
    """The module of an assignment; it defines TITLE and PARTS (a list of `Part`)."""
    if assignment not in ASSIGNMENTS:
        raise KeyError(f"no assignment named {assignment!r}: the assignments are {', '.join(ASSIGNMENTS)}")
    return importlib.import_module(f"{PARTS_PACKAGE}.{ASSIGNMENTS[assignment]}")


def get_part(assignment: str, name: str) -> Part:
    """The part called `name` (its function's name) of an assignment."""
    parts = {part.name: part for part in load(assignment).PARTS}
    if name not in parts:
        raise KeyError(f"assignment {assignment} has no part {name!r}: its parts are {', '.join(parts)}")
    return parts[name]
