"""The trainer's validation embeds long clips the way users' embeddings do (window mean by default)."""

from __future__ import annotations

import numpy as np

from openclap.data.manifest import ManifestEntry
from openclap.inference import embed_audio
from openclap.train.evaluate import Evaluator, load_eval_clips
from tests.helpers import ESC50_CLIP


def test_evaluator_embeds_long_clips_as_users_do(tiny_model) -> None:
    entries = [ManifestEntry(str(ESC50_CLIP), ("a hand saw sawing",), ("hand saw",))]
    clips = load_eval_clips(entries, tiny_model.config.audio.sample_rate)  # 5 s of real audio, 1 s model
    wave = clips.waves[0]
    for policy in ("mean", "crop"):
        got = Evaluator(clips, None, long_audio=policy)._audio(tiny_model, clips, {})
        want = embed_audio(tiny_model, [wave], tiny_model.config.audio.sample_rate, long_audio=policy)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    mean = Evaluator(clips, None)._audio(tiny_model, clips, {})
    crop = Evaluator(clips, None, long_audio="crop")._audio(tiny_model, clips, {})
    assert not np.allclose(mean, crop, atol=1e-4)  # the default averages windows, not one crop
