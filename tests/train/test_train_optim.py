from __future__ import annotations

import itertools
import math

import torch

from openclap.model import ClapModel
from openclap.registry import get_config
from openclap.train.config import OptimConfig
from openclap.train.optim import WarmupCosine, build_optimizer, param_groups


def _model() -> ClapModel:
    torch.manual_seed(0)
    return ClapModel(get_config("tiny-test"))


def test_groups_split_towers_and_exclude_norms_biases_scale_from_decay() -> None:
    model = _model()
    groups = {
        g["name"]: g for g in param_groups(model, OptimConfig(lr=1e-3, audio_lr=2e-3, weight_decay=0.1))
    }
    assert set(groups) == {f"{t}/{d}" for t in ("audio", "text", "head") for d in ("decay", "no_decay")}
    names = {id(p): n for n, p in model.named_parameters()}
    for name, group in groups.items():
        members = [names[id(p)] for p in group["params"]]
        if name.endswith("/no_decay"):
            assert group["weight_decay"] == 0.0
            assert all(model.get_parameter(m).ndim < 2 for m in members)
        else:
            assert group["weight_decay"] == 0.1
            assert all("norm" not in m and not m.endswith(".bias") for m in members)
    assert "logit_scale" in [names[id(p)] for p in groups["head/no_decay"]["params"]]
    assert groups["audio/decay"]["lr"] == 2e-3 and groups["text/decay"]["lr"] == 1e-3
    total = sum(len(g["params"]) for g in groups.values())
    assert total == sum(1 for p in model.parameters() if p.requires_grad)


def test_warmup_then_cosine_to_floor() -> None:
    schedule = WarmupCosine(total_steps=110, warmup_steps=10, min_lr_ratio=0.1)
    assert schedule.factor(0) == 0.1 and schedule.factor(9) == 1.0
    assert math.isclose(schedule.factor(10), 1.0)
    assert math.isclose(schedule.factor(60), 0.55)
    assert math.isclose(schedule.factor(110), 0.1) and math.isclose(schedule.factor(500), 0.1)
    factors = [schedule.factor(s) for s in range(10, 111)]
    assert all(a >= b for a, b in itertools.pairwise(factors))
    optimizer = build_optimizer(_model(), OptimConfig(lr=1e-3, text_lr=1e-4))
    schedule.apply(optimizer, 60)
    lrs = {g["name"]: g["lr"] for g in optimizer.param_groups}
    assert math.isclose(lrs["head/decay"], 5.5e-4) and math.isclose(lrs["text/decay"], 5.5e-5)
