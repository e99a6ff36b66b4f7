"""Checkpoints in, checkpoints out: Meta's format, Hugging Face's, and the kit's own.

- Meta (`meta.py`): `params.json` + `consolidated.00.pth` (.. `consolidated.NN.pth` for model-parallel shards:
  13B ships 2, 70B 8). Each shard holds a slice of every split weight; `MERGE_DIM` says along which dimension.
- Hugging Face (`hf.py`): `config.json` + `*.safetensors` (or `pytorch_model*.bin`), with its own names and with
  wq/wk permuted so that rotary embeddings can rotate halves of each head instead of interleaved pairs.
- The kit: `params.json` + `model.safetensors`, Meta's names and layout, one file.
- GGUF, llama.cpp's format (`gguf.py`, written only): one file with the settings, the tokenizer and the weights
  (f32, f16 or Q8_0), under llama.cpp's names and in Meta's rotary layout. It is imported from its module
  (`from llama_lab.checkpoint.gguf import save_gguf`), which is also its command.
- LoRA adapters (`adapter.py`): peft's `adapter_config.json` + `adapter_model.safetensors`, Hugging Face's names.
- The kit, quantized (`llama_lab.quantize`): the same, with `quantization.json` naming the scheme and, in place
  of each linear layer's weight, its integers and scales (`layers.0.attention.wq.qweight`, `....scale`, ...).

Reading files (`read.py`) is safe and lean: tensors come from safetensors or from `torch.load(weights_only=True,
mmap=True)` (a pickle can never run code). Loading (`load.py`) checks the configuration against the shapes in the
files before anything is built, then fills a model built on the meta device a block at a time, so memory holds
about one copy of the weights and the model does not depend on the file afterwards. Anything wrong raises
`CheckpointError` naming the file. Saving (`save.py`) writes into a temporary folder beside the checkpoint and
switches it in under the folder's lock (`switch.py`): killed at any point, the folder holds the old checkpoint or
the new one, and a load reads one checkpoint, not parts of two.
"""

from .adapter import load_adapter, save_adapter
from .hf import (HF_LAYER_NAMES, HF_TOP_NAMES, args_to_hf_config, hf_config_to_args, hf_to_meta_names,
                 meta_to_hf_names, write_hf)
from .load import CONFIG_FILES, LOADERS, load_model, load_state, model_skeleton
from .meta import MERGE_DIM, merge_meta_shards, split_meta_shards, write_meta
from .read import (DTYPES, FORMATS, RECORD, SUPPORTED, CheckpointError, Unread, detect_format, read_pth,
                   read_safetensors)
from .save import save_model
from .switch import SWITCH

__all__ = [
    "CONFIG_FILES", "DTYPES", "FORMATS", "HF_LAYER_NAMES", "HF_TOP_NAMES", "LOADERS", "MERGE_DIM", "RECORD",
    "SUPPORTED", "SWITCH", "CheckpointError", "Unread", "args_to_hf_config", "detect_format", "hf_config_to_args",
    "hf_to_meta_names", "load_adapter", "load_model", "load_state", "merge_meta_shards", "meta_to_hf_names",
    "model_skeleton", "read_pth", "read_safetensors", "save_adapter", "save_model", "split_meta_shards", "write_hf",
    "write_meta",
]
