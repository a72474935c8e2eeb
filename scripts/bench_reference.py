"""Times one decomposition step of the reference Python code (APD at
ApolloResearch/apd 4e29d43, SPD at goodfire-ai/spd v1) on the CPU, one
thread, for scripts/bench-reference.sh.

The reference is run, unchanged, through its own experiment entry point
(`main` of its tms or resid_mlp decomposition module) with its own config
file, so that everything its step does is what is timed. Only three things
differ from a real run of it:

- the target is a random one of the right shape, written where the
  reference's `from_pretrained` reads a local checkpoint (its runs fetch
  theirs from wandb, which is out of reach, and a step costs the same
  whatever the weights are);
- wandb, plots and periodic saves are off and printing falls on step 0
  only, so no step but the first pays for logging;
- the entry point's `optimize` is wrapped to hand it a data loader that
  notes the time whenever the next batch is asked for: the time between
  two such requests is one whole step (its batch included, as the
  reference draws it), and setup, the warm-up steps and the last
  (logging-only) step fall outside the interval measured.

Usage: python bench_reference.py --ref {apd,spd} --tree DIR --case CASE
           --warmup W --steps N --work DIR
Prints one line: `ms_per_step=X instances=K` (K > 1 where the reference
batches K instances in one step).
"""

import argparse
import importlib
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path

# One thread before torch starts its pools.
for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(var, "1")
os.environ["WANDB_MODE"] = "disabled"
os.environ.pop("CI", None)  # the reference resolves its paths against its tree only outside CI

# (config file, the commented block to read from it or None for the live
# one, the block's end marker, the entry module, the target's shape)
CASES = {
    "spd": {
        "tms-5-2-id": ("spd/experiments/tms/tms_config.yaml", None, None,
                       "spd.experiments.tms.tms_decomposition",
                       dict(kind="tms", n_features=5, n_hidden=2, n_hidden_layers=1,
                            init_bias_to_zero=False)),
        "tms-40-10-id": ("spd/experiments/tms/tms_config.yaml", "# # TMS 40-10", None,
                         "spd.experiments.tms.tms_decomposition",
                         dict(kind="tms", n_features=40, n_hidden=10, n_hidden_layers=1,
                              init_bias_to_zero=True)),
        "resid-mlp-1": ("spd/experiments/resid_mlp/resid_mlp_config.yaml", None, None,
                        "spd.experiments.resid_mlp.resid_mlp_decomposition",
                        dict(kind="resid", n_features=100, d_embed=1000, d_mlp=50, n_layers=1)),
        "resid-mlp-2": ("spd/experiments/resid_mlp/resid_mlp_config.yaml",
                        "# ########## 2 layers", "# ########## 3 layers",
                        "spd.experiments.resid_mlp.resid_mlp_decomposition",
                        dict(kind="resid", n_features=100, d_embed=1000, d_mlp=25, n_layers=2)),
    },
    "apd": {
        # The TMS 5-2 target the config names was trained as 12 instances
        # (train_tms's TMS 5-2 setting); the decomposition keeps them.
        "tms-5-2": ("spd/experiments/tms/tms_topk_config.yaml", "# # TMS 5-2", "# TMS 40-10",
                    "spd.experiments.tms.tms_decomposition",
                    dict(kind="tms", n_instances=12, n_features=5, n_hidden=2, n_hidden_layers=0)),
        "resid-mlp-1": ("spd/experiments/resid_mlp/resid_mlp_topk_config.yaml", None, None,
                        "spd.experiments.resid_mlp.resid_mlp_decomposition",
                        dict(kind="resid", n_instances=1, n_features=100, d_embed=1000, d_mlp=50,
                             n_layers=1)),
    },
}


def config_dict(path, start, end):
    """The config file's live settings, or those of one of its commented-out
    blocks (the other models' settings live in the same file as comments)."""
    import yaml

    text = Path(path).read_text()
    if start is None:
        return yaml.safe_load(text)
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith(start))
    last = next((i for i, line in enumerate(lines) if i > first and end and line.startswith(end)),
                len(lines))
    block = []
    for line in lines[first:last]:
        if line.startswith("# "):
            line = line[2:]
        elif line.startswith("#"):
            line = line[1:]
        block.append(line)
    return yaml.safe_load("\n".join(block))


def write_target(ref, shape, out):
    """A random target where the reference's `from_pretrained` looks for a
    local one: the checkpoint, its training config beside it (the only part
    `from_pretrained` reads is the model's config) and, for the residual
    MLPs, label coefficients."""
    import torch
    import yaml

    out.mkdir(parents=True, exist_ok=True)
    shape = dict(shape)
    kind = shape.pop("kind")
    if kind == "tms":
        from spd.experiments.tms.models import TMSModel, TMSModelConfig

        if ref == "spd":
            # As train_tms builds the SPD configs' targets: tied weights.
            cfg = TMSModelConfig(**shape, tied_weights=True, device="cpu")
        else:
            cfg = TMSModelConfig(**shape, device="cpu")
        model = TMSModel(cfg)
        if model.hidden_layers is not None:
            # train_tms's fixed identity hidden layers.
            with torch.no_grad():
                for layer in model.hidden_layers:
                    layer.weight.copy_(torch.eye(cfg.n_hidden).expand_as(layer.weight))
        train_cfg = {"tms_model_config": cfg.model_dump(mode="json")}
        name = "tms_train_config.yaml"
    else:
        from spd.experiments.resid_mlp.models import ResidualMLPConfig

        extra = dict(act_fn_name="relu", in_bias=False, out_bias=False)
        if ref == "apd":
            from spd.experiments.resid_mlp.models import ResidualMLPModel as Model

            extra["apply_output_act_fn"] = False
        else:
            from spd.experiments.resid_mlp.models import ResidualMLP as Model
        cfg = ResidualMLPConfig(**shape, **extra)
        model = Model(cfg)
        train_cfg = {"resid_mlp_config": cfg.model_dump(mode="json")}
        name = "resid_mlp_train_config.yaml"
        coeffs = [1.0] * cfg.n_features
        if ref == "apd":
            coeffs = [coeffs] * cfg.n_instances
        (out / "label_coeffs.json").write_text(json.dumps(coeffs))
    (out / name).write_text(yaml.safe_dump(train_cfg))
    checkpoint = out / "model.pth"
    torch.save(model.state_dict(), checkpoint)
    return checkpoint, getattr(cfg, "n_instances", 1)


class StepClock:
    """Hands out the wrapped loader's batches, noting the time of each request."""

    def __init__(self, loader):
        self.loader = loader
        self.stamps = []

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        it = iter(self.loader)
        while True:
            self.stamps.append(time.perf_counter())
            try:
                item = next(it)
            except StopIteration:
                return
            yield item


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ref", choices=["apd", "spd"], required=True)
    p.add_argument("--tree", required=True)
    p.add_argument("--case", required=True)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--work", required=True)
    a = p.parse_args()

    tree = Path(a.tree).resolve()
    sys.path.insert(0, str(tree))
    import torch

    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    random.seed(0)
    torch.manual_seed(0)

    cfg_file, start, end, entry, shape = CASES[a.ref][a.case]
    checkpoint, n_instances = write_target(a.ref, shape, Path(a.work) / f"{a.ref}-{a.case}")

    d = config_dict(tree / cfg_file, start, end)
    total = a.warmup + a.steps
    d.update(wandb_project=None, steps=total, print_freq=total + 1, image_freq=None,
             save_freq=None)
    if a.ref == "spd":
        d["pretrained_model_path"] = str(checkpoint)
        from spd.configs import Config
    else:
        d["task_config"] = {**d["task_config"], "pretrained_model_path": str(checkpoint)}
        from spd.run_spd import Config
    config = Config(**d)

    module = importlib.import_module(entry)
    real_optimize = module.optimize
    clocks = []

    def timed_optimize(*args, **kwargs):
        key = "train_loader" if "train_loader" in kwargs else "dataloader"
        kwargs[key] = StepClock(kwargs[key])
        clocks.append(kwargs[key])
        return real_optimize(*args, **kwargs)

    module.optimize = timed_optimize
    # The entry point writes its run folder (config, target, final
    # checkpoint) beside itself; the run's is removed afterwards.
    out_root = Path(module.__file__).parent / "out"
    before = set(out_root.iterdir()) if out_root.exists() else set()
    try:
        module.main(config)
    finally:
        if out_root.exists():
            for run_dir in set(out_root.iterdir()) - before:
                shutil.rmtree(run_dir, ignore_errors=True)

    stamps = clocks[0].stamps
    assert len(stamps) >= total + 1, f"only {len(stamps)} batches were asked for"
    ms = 1000.0 * (stamps[total] - stamps[a.warmup]) / a.steps
    print(f"ms_per_step={ms:.4f} instances={n_instances} torch={torch.__version__} "
          f"threads={torch.get_num_threads()} C={config.C} batch={config.batch_size}", flush=True)


if __name__ == "__main__":
    main()
