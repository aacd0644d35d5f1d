"""YAMNet pseudo-captions (recipes/default_model/yamnet_captions.py) and the GitHub sources' per-file licences
(recipes/default_model/git_sources.py).

The scores are TensorFlow YAMNet's on three real clips (tests/fixtures/yamnet_tf.npz: an FSDD digit, a
Philharmonia banjo note, an AudioCaps-demo siren clip; only the scores are used, never the audio).
tests/fixtures/audioset_ontology_subset.json holds the 46 entries of the AudioSet ontology (github
audioset/ontology, CC BY-SA 4.0) that those clips' top classes and their ancestors need;
tests/fixtures/yamnet_class_map.csv is YAMNet's class map (Apache-2.0).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import load_recipe, yamnet_fixture_classes, yamnet_fixture_scores

FIX = Path(__file__).resolve().parent / "fixtures"
yc = load_recipe("yamnet_captions")
gits = load_recipe("git_sources")


@pytest.fixture(scope="module")
def classes() -> list:
    return yamnet_fixture_classes(yc)


@pytest.fixture(scope="module")
def scores() -> list[np.ndarray]:
    return yamnet_fixture_scores()


def test_noun_phrases() -> None:
    assert yc.noun_phrases("Burping, eructation") == ("burping", "eructation")
    assert yc.noun_phrases("Fire engine, fire truck (siren)") == ("siren fire engine", "siren fire truck")


def test_confident_classes_of_real_clips(classes: list, scores: list[np.ndarray]) -> None:
    speech, banjo, siren = (yc.confident(s, classes, 0.1) for s in scores)
    assert [c.name for c in speech] == ["Speech"] and yc.only_speech_or_music(speech)
    # the banjo's top class is "Silence" (excluded as uninformative); "Music" is left, alone not enough
    assert [c.name for c in banjo] == ["Music"] and yc.only_speech_or_music(banjo)
    # the specific sirens win over their confident ancestors (Emergency vehicle, Vehicle, Siren)
    assert [c.name for c in siren] == ["Police car (siren)", "Fire engine, fire truck (siren)"]
    assert not yc.only_speech_or_music(siren)
    assert yc.confident(scores[2], classes, 0.99) == []


def test_without_ontology_names_alone(scores: list[np.ndarray]) -> None:
    bare = yc.load_classes(FIX / "yamnet_class_map.csv")
    names = [c.name for c in yc.confident(scores[2], bare, 0.1)]
    assert names == ["Emergency vehicle", "Motor vehicle (road)"]  # no tree: nothing pruned


def test_captions_merge_names_first(classes: list, scores: list[np.ndarray]) -> None:
    found = yc.confident(scores[2], classes, 0.1)
    alone = yc.merge_captions([], found, "clip")
    assert len(alone) == 5 and len({c.lower() for c in alone}) == 5
    assert alone[0].startswith("siren police car: ")  # the ontology's description
    assert alone == yc.merge_captions([], found, "clip")  # deterministic
    named = ["a siren wailing", "siren", "an alarm", "a siren can be heard", "sound of a siren"]
    merged = yc.merge_captions(named, found, "clip")
    assert merged[:4] == named[:4] and merged[4] not in named and "police car" in merged[4]
    assert yc.merge_captions(named, [], "clip") == named


def test_choose_threshold_maximises_net_agreement(classes: list, scores: list[np.ndarray]) -> None:
    texts = ["a man saying the number zero", "a banjo playing a note", "a police car siren"]
    best, table = yc.choose_threshold(np.stack(scores), texts, classes, grid=(0.02, 0.1, 0.5, 0.9))
    rows = {r["threshold"]: (r["agree"], r["disagree"]) for r in table}
    # at 0.9 only the digit's "Speech" (0.997) is confident, and "speech" is not in its text: 0 agree, 1 not
    assert rows[0.9] == (0, 1)
    assert best == max(table, key=lambda r: (r["net"], r["threshold"]))["threshold"]


LICENSES = """
| Filename (sounds_) / Source       | Author      | License      | Notes |
| --------------------------------- | ----------- | ------------ | ----- |
| [ar_burst_0[1-2]][ar_fire]        | W. Dilley   | CC BY 3.0    |       |
| [loon_[02-03]][loon_02]           | J. Jongsma  | CC BY-SA 3.0 |       |
| [ghost][]*                        | BlockMen    | CC BY-NC 3.0 |       |
| [lava_cool][default]              | celeron55   | CC0          |       |

| Filename (sounds_node_) / Source  | Author      | License      | Notes |
| --------------------------------- | ----------- | ------------ | ----- |
| [dig_choppy.*][dig_choppy]        | Sheyvan     | CC0          |       |
"""


def _git_repo(tmp: Path) -> Path:
    """A real git repository holding a credits table and three real clips (FSDD), and its bare clone."""
    work = tmp / "clone" / "owner" / "sounds"
    (work / "sounds").mkdir(parents=True)
    (work / "sources.md").write_text(LICENSES)
    fsdd = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd" / "audio"
    for name, clip in (("ar_burst_02", "0_george_0"), ("ghost_01", "1_george_0"), ("unlisted", "2_george_0")):
        shutil.copy(fsdd / f"{clip}.flac", work / "sounds" / f"sounds_{name}.flac")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(work)]
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "clips"], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(tmp / "mirror" / "owner+sounds" / "repo")])
    return work


def test_license_table_and_both_repo_layouts(tmp_path: Path) -> None:
    table = dict(gits.parse_license_table(LICENSES))
    assert table["sounds_ghost*"] == "CC BY-NC 3.0" and table["sounds_node_dig_choppy.*"] == "CC0"
    work = _git_repo(tmp_path)
    commit = subprocess.run(["git", "-C", str(work), "rev-parse", "HEAD"], capture_output=True, text=True)
    src = gits.GitSource("owner/sounds", commit.stdout.strip(), r"^sounds/.*\.flac$", "table:sources.md")
    for root in (tmp_path / "mirror", tmp_path / "clone"):
        path = gits.find_repo(root, "owner/sounds")
        assert path is not None
        lookup = gits.license_lookup(src, path)
        files = gits.iter_files(path, src.commit, re.compile(src.include))
        got = {rel: (lookup(rel), len(raw)) for rel, raw in files}
        assert set(got) == {
            "sounds/sounds_ar_burst_02.flac",
            "sounds/sounds_ghost_01.flac",
            "sounds/sounds_unlisted.flac",
        }
        assert got["sounds/sounds_ar_burst_02.flac"][0] == "CC BY 3.0"
        assert got["sounds/sounds_ghost_01.flac"][0] is None  # non-commercial: never used
        assert got["sounds/sounds_unlisted.flac"][0] is None  # no licence listed: never used
    assert [gits.glob_regex(g).fullmatch(s) is not None for g, s in (
        ("sounds_loon_[02-03]", "sounds_loon_03"), ("sounds_loon_[02-03]", "sounds_loon_04"),
        ("sounds_lava_cool", "sounds_lava_cool.2"), ("sounds_ar_burst_0[1-2]", "sounds_ar_burst_03"),
    )] == [True, False, True, False]  # fmt: skip


def test_folder_credits_tables(tmp_path: Path) -> None:
    """CDDA-Soundpacks' layout: a credits.md beside the sounds, plain file names, spelling variants."""
    folder = tmp_path / "clone" / "sound" / "weather"
    folder.mkdir(parents=True)
    (folder / "credits.md").write_text(
        "| File Name | Author | License | Link |\n|---|---|---|---|\n"
        "| rain.ogg | a | **CC0 1.0** | x |\n| thunder.ogg | b | CC BY-3.0 | y |\n"
        "| wind.ogg | c | Sampling Plus 1.0 | z |\n"
    )
    src = gits.GitSource("o/clone", "HEAD", r"\.ogg$", "folder-table:credits.md")
    lookup = gits.license_lookup(src, tmp_path / "clone")
    got = [lookup(f"sound/weather/{n}.ogg") for n in ("rain", "thunder", "wind", "hail")]
    assert got == ["CC0", "CC BY 3.0", None, None]
    assert lookup("sound/other/rain.ogg") is None  # a folder without credits: never used


def test_manifest_rows_from_names_and_yamnet(classes: list, scores: list[np.ndarray]) -> None:
    """prepare_data's per-clip rule: a named clip keeps its description, an unnamed one gets YAMNet's
    classes unless it only hears speech or music, a voice line stays out."""
    prep = load_recipe("prepare_data")
    tags = prep.YamnetTags({"/speech.flac": scores[0], "/siren.flac": scores[2]}, classes, threshold=0.1)
    voice = re.compile(r"/voices/")

    def rec(orig: str) -> dict:
        return {"orig": orig, "hint": ""}

    desc, labels, found = prep.describe_record("gh-x", rec("x/sfx/dog_bark.ogg"), "/siren.flac", voice, tags)
    assert desc.phrases and "dog" in labels[0] and found == []  # YAMNet's sirens contradict the name
    desc, labels, found = prep.describe_record("gh-x", rec("x/sfx/siren.ogg"), "/siren.flac", voice, tags)
    assert desc.phrases and [c.name for c in found] == [
        "Police car (siren)",
        "Fire engine, fire truck (siren)",
    ]
    desc, labels, found = prep.describe_record("gh-x", rec("x/sfx/k3z9.ogg"), "/siren.flac", voice, tags)
    assert not desc.phrases and labels == ["siren police car", "siren fire engine"]
    assert prep.describe_record("gh-x", rec("x/sfx/k3z9.ogg"), "/speech.flac", voice, tags) is None
    assert prep.describe_record("gh-x", rec("x/sfx/k3z9.ogg"), "/unscored.flac", voice, tags) is None
    assert prep.describe_record("gh-x", rec("x/voices/k3z9.ogg"), "/siren.flac", voice, tags) is None


def test_event_credits() -> None:
    """Dynamic Surroundings' layout: credits per sound event, files per event in sounds.json."""
    credits = """*dsurround:crow*
<ul><li>S: <a href="x">Crow</a> by y | License: Creative Commons 0</li></ul>
*dsurround:thunder / dsurround:fs.thunder_far*
<li>S: a | License: Creative Commons 0</li>
<li>S: b | License: Attribution</li>
*dsurround:owl*
<li>S: c | License: Attribution Noncommercial</li>
"""
    sounds = {
        "crow": {"sounds": ["dsurround:ambient/crow1"]},
        "thunder": {"sounds": [{"name": "dsurround:ambient/thunder1", "stream": True}]},
        "thunder_far": {"sounds": ["dsurround:ambient/thunder1"]},
        "owl": {"sounds": ["dsurround:ambient/owl1"]},
        "steps": {"sounds": ["dsurround:steps/grass1"]},
    }
    got = gits.event_licences(credits, sounds, "assets")
    assert got == {
        "assets/sounds/ambient/crow1.ogg": "CC0",
        "assets/sounds/ambient/thunder1.ogg": "CC BY + CC0",
    }
