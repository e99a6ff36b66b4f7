"""One rank of a tensor-parallel check (run by tests/engine/test_parallel.py, one process per rank).

    python tests/parallel_worker.py RANK WORLD_SIZE RENDEZVOUS_FILE CHECKPOINT OUT

It joins the gloo group through a file (no TCP store; gloo's own sockets stay on the loopback interface), loads
CHECKPOINT in its parallel form, and writes to OUT.RANK.safetensors the logits of fixed tokens, the logits of one
cached decoding step, the greedy tokens, and the files it read.
"""

import json
import os
import sys

import torch
import torch.distributed as dist
from safetensors.torch import save_file

rank, world, rendezvous, checkpoint, out = int(sys.argv[1]), int(sys.argv[2]), *sys.argv[3:6]
os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), GLOO_SOCKET_IFNAME="lo")
dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=world)

from llama_lab import parallel  # noqa: E402
from llama_lab.checkpoint import hf, meta  # noqa: E402
from support import parallel_probe  # noqa: E402

read = []
for module in (meta, hf, parallel):  # every reader of .pth files
    original = module.read_pth
    module.read_pth = lambda path, original=original: read.append(os.path.basename(path)) or original(path)

mesh = parallel.setup("gloo")
model = parallel.load_parallel(checkpoint, mesh)
logits, step, greedy, cache = parallel_probe(model)
save_file({"logits": logits.contiguous(), "step": step.contiguous(), "greedy0": torch.tensor(greedy[0]),
           "greedy1": torch.tensor(greedy[1]), "cache_heads": torch.tensor(cache.k.shape[2])},
          f"{out}.{rank}.safetensors", metadata={"read": json.dumps(read)})
dist.destroy_process_group()
