"""The train stage under torchrun with 2 CPU processes on gloo."""
import subprocess
import sys

import torch

from train_helpers import generator_weights, make_project, stage_env

torch.set_num_threads(1)

# Runs the real stage, capturing the networks it builds so each rank can dump
# its final weights for the test to compare (only rank 0 writes models/).
RANK_DUMP = '''
import os, sys, torch
import pipeline.gan.loop as loop
from pipeline import train
nets = {}
build = loop.build
def capture(cfg, start):
    out = build(cfg, start)
    nets.update(G=out[0], D=out[1], G_ema=out[2])
    return out
loop.build = capture
train.main(sys.argv[1:])
torch.save({k: v.state_dict() for k, v in nets.items()}, f"rank{os.environ['RANK']}.pt")
'''


def test_two_process_gloo_run_keeps_ranks_identical(tmp_path):
    root = make_project(tmp_path / "p", res={"kimg": 0.24, "batch": 8}, train={"checkpoint_kimg": 0.08})
    (root / "rank_dump.py").write_text(RANK_DUMP)
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                           "--standalone", "rank_dump.py", "8"],
                          cwd=root, env=stage_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert done.stdout.count("train 8px: 0.2 kimg") == 1          # rank 0 alone reports
    ranks = [torch.load(root / f"rank{r}.pt", weights_only=False) for r in (0, 1)]
    for net in ("G", "D", "G_ema"):
        for k, v in ranks[0][net].items():
            assert torch.equal(v, ranks[1][net][k]), f"{net}.{k} differs between ranks"
    # Rank 0 wrote the model and logs; they are rank 0's networks.
    weights = generator_weights(root / "models" / "8")
    assert all(torch.equal(weights[k], ranks[0]["G_ema"][k]) for k in weights)
    assert (root / "dvclive" / "8").is_dir()
    # The image counter counts the global batch (4 images per rank per step).
    assert torch.load(root / "models" / "8" / "state.pt", weights_only=False)["nimg"] == 240
