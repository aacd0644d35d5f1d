"""Write a stand-in for CLAP_weights_2022.pth: the seeded msclap-2022 checkpoint of ../shared/parity
in msclap's published format (``torch.save({"model": state_dict})``, the real file's layout and keys).

The real weights cannot be downloaded on this machine; with network access use ``init_from:
msclap-2022`` instead (fetched, verified and converted by ``openclap pull``). The seeded weights are not
trained, so a run starting from them measures the fine-tuning path, not the published model's quality.

    .venv/bin/python recipes/finetune_published/stand_in_checkpoint.py \
        runs/finetune_published/CLAP_weights_2022.pth
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="output .pth file")
    parser.add_argument("--parity", default=str(ROOT.parent / "shared" / "parity" / "msclap-2022"),
                        help="the parity case folder (keys.json + buffers)")
    args = parser.parse_args()
    spec = importlib.util.spec_from_file_location("parity_rule", ROOT / "tests" / "parity" / "rule.py")
    rule = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(rule)  # type: ignore[union-attr]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    torch.save({"model": rule.state_dict(args.parity)}, tmp)
    tmp.replace(out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.0f} MB)")


if __name__ == "__main__":
    main()
