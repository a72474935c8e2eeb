#!/usr/bin/python3
"""Writes tests/fixtures/interop/: targets as the real tools write them, for
tests/interop.rs.

- tms-5-2.pth: `torch.save(model.state_dict())` of a tms-5-2 trained by the
  SPD reference code's recipe (scripts/reference-targets.py), under
  param-decomp's names (seed 4: the first of 0..5 whose target reproduces
  every feature alone, so that it has a pentagon to recover); linear2.weight is linear1.weight's storage,
  transposed, as the reference ties them.
- tms-5-2.f32.safetensors, tms-5-2.f16.safetensors: the same weights written
  by `safetensors.numpy.save_file`, in f32 and in f16.
- resid-mlp.pth, resid-mlp.bf16.safetensors, resid-mlp.f64.safetensors: a
  small residual MLP (6 features, width 8, 4 neurons, 2 layers; random
  weights, W_U = W_E transposed, zero biases) under param-decomp's names.
- whole-model.pth: `torch.save(model)`, the whole module pickled, which the
  readers must refuse (it names a class to run).

Needs PyTorch and safetensors: on Debian `apt-get install python3-torch
python3-numpy` and `/usr/bin/python3 -m pip install --break-system-packages
safetensors`. Runs in about 10 s.
Usage: /usr/bin/python3 scripts/interop-fixtures.py
"""
import importlib.util
import os
import sys

import numpy as np
import torch
from safetensors.numpy import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures", "interop")

spec = importlib.util.spec_from_file_location("reference_targets", os.path.join(HERE, "reference-targets.py"))
reference = importlib.util.module_from_spec(spec)
# Registered, so that torch.save(model) can name the model's class.
sys.modules["reference_targets"] = reference
spec.loader.exec_module(reference)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    model = reference.train(4)
    torch.save(model.state_dict(), os.path.join(OUT, "tms-5-2.pth"))
    # Contiguous: safetensors.numpy writes an array's memory as it lies, and
    # linear2.weight is a transposed view.
    arrays = {k: np.ascontiguousarray(v.detach().numpy()) for k, v in model.state_dict().items()}
    save_file(arrays, os.path.join(OUT, "tms-5-2.f32.safetensors"))
    save_file({k: v.astype(np.float16) for k, v in arrays.items()}, os.path.join(OUT, "tms-5-2.f16.safetensors"))
    torch.save(model, os.path.join(OUT, "whole-model.pth"))

    torch.manual_seed(1)
    n, d, d_mlp, layers = 6, 8, 4, 2
    w_e = torch.randn(n, d) / d ** 0.5
    resid = {"W_E": w_e, "W_U": w_e.T.clone()}
    for i in range(layers):
        resid[f"layers.{i}.mlp_in.weight"] = torch.randn(d_mlp, d) / d ** 0.5
        resid[f"layers.{i}.mlp_out.weight"] = torch.randn(d, d_mlp) / d_mlp ** 0.5
        resid[f"layers.{i}.mlp_in.bias"] = torch.zeros(d_mlp)
    torch.save(resid, os.path.join(OUT, "resid-mlp.pth"))
    arrays = {k: np.ascontiguousarray(v.numpy()) for k, v in resid.items()}
    # bfloat16 through torch (numpy has none); f64 through numpy.
    from safetensors.torch import save_file as save_torch
    save_torch({k: v.to(torch.bfloat16).contiguous() for k, v in resid.items()}, os.path.join(OUT, "resid-mlp.bf16.safetensors"))
    save_file({k: v.astype(np.float64) for k, v in arrays.items()}, os.path.join(OUT, "resid-mlp.f64.safetensors"))
    for f in sorted(os.listdir(OUT)):
        print(f, os.path.getsize(os.path.join(OUT, f)), "bytes")


if __name__ == "__main__":
    main()
