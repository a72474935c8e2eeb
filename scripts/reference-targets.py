#!/usr/bin/python3
"""tms-5-2 targets trained by the SPD reference code's recipe, in PyTorch, for
the robustness sweep over targets (docs/scale.md): what `train_tms` at the
reference's tag v1 does for its TMS 5-2 setting, rewritten with torch alone
(no wandb, pydantic or plotting) so that it runs here:

- the model: `linear1` (5 -> 2, no bias), `linear2` (2 -> 5, with bias) whose
  weight is made to share `linear1`'s storage (transposed) after
  initialisation, output ReLU; PyTorch's default `nn.Linear` initialisation;
- the data: each feature on with probability 0.05, uniform in [0, 1];
- training: AdamW with PyTorch's defaults (weight decay 0.01) over all three
  parameters (so the tied weight gets two updates per step, one per use),
  constant lr 5e-3, 10,000 steps of batch 1024, loss mean((x - y)^2);
- the seed: torch.manual_seed(seed) (and numpy's and random's) before the
  model is built.

Writes OUT/<seed>.json in this project's target format (docs/formats.md),
ready for `apd decompose --model tms-5-2 --target OUT/<seed>.json`, and
prints per seed how many features the target reproduces alone (fed at 0.75,
back within 0.1: the check train_tms prints), the feature norms and the bias.

Needs PyTorch: on Debian, `apt-get install python3-torch` (1.13, CPU only;
run with /usr/bin/python3). About 5 s per seed on one core.
Usage: scripts/reference-targets.py A..B OUT
"""
import json
import os
import random
import sys

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

N, D = 5, 2
PROBE, TOLERANCE = 0.75, 0.1
RECIPE = {"lr": 0.005, "weight_decay": 0.01, "lr_schedule": "constant", "lr_warmup_pct": 0.0,
          "batch_size": 1024, "steps": 10000, "untied_adam": True, "init": "torch"}


class Tms(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear1 = nn.Linear(N, D, bias=False)
        self.linear2 = nn.Linear(D, N, bias=True)
        # Tied as the reference ties them: one storage, two parameters.
        self.linear2.weight.data = self.linear1.weight.data.T

    def forward(self, x):
        return F.relu(self.linear2(self.linear1(x)))


def train(seed, steps=RECIPE["steps"], batch=RECIPE["batch_size"], lr=RECIPE["lr"], p=0.05):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    model = Tms()
    opt = torch.optim.AdamW(list(model.parameters()), lr=lr)
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        x = torch.rand((batch, N))
        x = x * (torch.rand_like(x) < p)
        loss = ((x - model(x)) ** 2).mean()
        loss.backward()
        opt.step()
    return model


def main():
    a, b = (int(v) for v in sys.argv[1].split(".."))
    out = sys.argv[2]
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    for seed in range(a, b):
        model = train(seed)
        w = model.linear1.weight.data.T  # features x hidden, this project's W
        bias = model.linear2.bias.data
        with torch.no_grad():
            alone = [model(torch.eye(N)[i:i + 1] * PROBE)[0, i].item() for i in range(N)]
        kept = sum(abs(v - PROBE) < TOLERANCE for v in alone)
        config = {"model": {"kind": "tms", "n_features": N, "n_hidden": D, "n_hidden_layers": 0, "feature_prob": 0.05},
                  "target": RECIPE}
        with open(os.path.join(out, f"{seed}.json"), "w") as f:
            json.dump({"model": "tms-5-2", "config": config, "seed": seed,
                       "params": {"W": w.tolist(), "b": bias.tolist()}}, f)
        norms = " ".join(f"{v:.3f}" for v in w.norm(dim=1).tolist())
        biases = " ".join(f"{v:.3f}" for v in bias.tolist())
        print(f"seed {seed}: reproduces {kept} of {N} features alone; feature norms {norms}; bias {biases}", flush=True)


if __name__ == "__main__":
    main()
