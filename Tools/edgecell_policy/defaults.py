"""The trainer's defaults (docs/TRAINING.md "Choosing the defaults" has the measurements behind them). Kept
apart from `train` so the command line can show them without importing JAX."""

from __future__ import annotations

from typing import Any

DEFAULTS: dict[str, Any] = {
    "width": 128, "depth": 4, "heads": 4, "mlp_width": 512, "patch_size": 16, "horizon": 20,
    "action_period": 0.05, "max_text_tokens": 16, "batch_size": 32, "lr": 3e-4, "steps": 6000,
    "finetune_steps": 1500, "weight_decay": 1e-4, "clip": 1.0, "eval_fraction": 0.05,
    "state_noise": 0.0, "aux_weight": 1.0, "state_dropout": 0.0,
    "keypoints": 8, "shift_pixels": 4,
}
