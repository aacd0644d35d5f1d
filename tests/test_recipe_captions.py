"""Tests of the caption writing of the default-model data recipe (pure functions, no downloads)."""

from __future__ import annotations

import pytest

from tests.helpers import load_recipe

cap = load_recipe("captions")


@pytest.mark.parametrize(
    ("name", "tokens"),
    [
        ("FootStepGrass.ogg", ["foot", "step", "grass"]),
        ("male_death_01.ogg", ["male", "death"]),
        ("LRBark_3_LA_cut.ogg", ["lr", "bark", "la", "cut"]),
        ("101450__menegass__tomh.flac", ["tomh"]),
        ("default_break_glass.2.ogg", ["default", "break", "glass"]),
        ("HTTPServerLoop.wav", ["http", "server", "loop"]),
        ("01-0.wav", []),
    ],
)
def test_split_name(name: str, tokens: list[str]) -> None:
    assert cap.split_name(name) == tokens


def test_normalise_drops_technical_tokens_and_maps_jargon() -> None:
    assert cap.normalise_tokens(["loop", "sfx", "mono", "rain"]) == ["rain"]
    assert cap.normalise_tokens(["lrgexpl"]) == ["large", "explosion"]
    assert cap.normalise_tokens(["cattle"]) == ["cow"]
    assert cap.normalise_tokens(["honkhonk"]) == ["car", "horn"]


def test_segment_compound() -> None:
    assert cap.segment_compound("metalfootstep", cap.VOCAB) == ["metal", "footstep"]
    assert cap.segment_compound("qwzxv", cap.VOCAB) == []


def _first(path: str, hint: str = "") -> str:
    desc = cap.describe_path(path, hint)
    assert desc is not None, path
    return desc.phrases[0][0]


def test_describe_everyday_sounds() -> None:
    assert _first("0ad/audio/actor/fauna/animal/cattle_01.ogg") == "a cow mooing"
    assert _first("gcompris/resource/LRBark_3_LA_cut.ogg") == "a dog barking"
    assert _first("tuxpaint/stamps/animals/birds/rooster.ogg") == "a rooster crowing"
    assert _first("minetest/sounds/default_break_glass.1.ogg") == "glass breaking"
    assert _first("flightgear/Sounds/helicopter.wav") == "a helicopter flying"
    assert _first("tuxpaint/stamps/household/vacuum_cleaner.ogg") == "a vacuum cleaner running"
    assert _first("DynamicSurroundings/sounds/ambient/frog/bullfrog1.ogg") == "frogs croaking"  # not a bull


def test_footsteps_take_the_surface_from_file_or_folder() -> None:
    assert _first("ufoai/sound/footsteps/grass1.ogg") == "footsteps on grass"
    assert _first("lugaru/Sounds/FootStepSnow.ogg") == "footsteps on snow"
    assert _first("minetest/default_wood_footstep.1.ogg") == "footsteps on a wooden floor"


def test_specific_rules_win_over_generic_ones() -> None:
    # "sea lion" is an animal, not sea waves; a weapon "fire" is a shot, not flames
    assert _first("stamps/animals/mammals/aquatic/sea_lion.ogg") == "a sea lion barking"
    assert _first("wesnoth/sounds/crossbow-fire.ogg") == "a weapon firing"
    desc = cap.describe_path("freeciv/stdsounds/LrgExpl.ogg")
    assert desc is not None and desc.phrases[0][0] == "a huge explosion"


def test_names_misread_by_earlier_rules() -> None:
    # scratch's library: a kitten is not a big cat, running water is not a runner, a party is chatter
    assert _first("scratch/Media/Sounds/Animal/Kitten.wav") == "a cat meowing"
    assert "big cat" not in str(cap.describe_path("scratch/Media/Sounds/Animal/Kitten.wav"))
    assert _first("scratch/Media/Sounds/Effects/WaterRunning.wav") == "running water"
    assert _first("scratch/Media/Sounds/Human/PartyNoise.wav") == "people chatting at a party"
    assert _first("lugaru/Sounds/run1.ogg") == "footsteps"
    assert _first("zoo/sounds/lion.ogg") == "a lion roaring"


def test_undescribable_names_are_dropped() -> None:
    assert cap.describe_path("somegame/wav/01-0.wav") is None
    assert cap.describe_path("somegame/audio/misc/pcv402.ogg") is None
    # an archive's own name is not a folder description ("opensfx.cat" is no cat)
    assert cap.describe_path("openttd/baseset/opensfx/opensfx.cat!opensfx_65.wav") is None


def test_hint_describes_the_clip() -> None:
    desc = cap.describe_path("opensfx.cat!opensfx_65.wav", "Maglev train station departure")
    assert desc is not None and "train" in desc.labels
    keyboard = cap.describe_path("bucklespring/wav/01-0.wav", "keyboard")
    assert keyboard is not None and keyboard.labels[0] == "keyboard typing"


def test_write_captions_is_varied_and_deterministic() -> None:
    desc = cap.describe_path("animals/dogs/dog.ogg")
    assert desc is not None
    caps = cap.write_captions(desc, "src:dog.flac", 3.0, n=5)
    assert len(caps) == 5 and len({c.lower() for c in caps}) == 5
    assert caps == cap.write_captions(desc, "src:dog.flac", 3.0, n=5)
    assert all("dog" in c for c in caps)
    assert not any(c.endswith((".ogg", ".wav")) or "_" in c for c in caps)
    other = cap.write_captions(desc, "src:dog2.flac", 3.0, n=5)
    assert other != caps


def test_write_captions_keeps_human_text_first() -> None:
    desc = cap.describe_path("x/train.wav")
    assert desc is not None
    caps = cap.write_captions(desc, "k", 2.0, extra=["Steam train station departure"], n=4)
    assert caps[0] == "Steam train station departure" and len(caps) == 4


def test_bare_strips_articles() -> None:
    assert cap.bare("a dog barking") == "dog barking"
    assert cap.bare("an explosion") == "explosion"
    assert cap.bare("footsteps on grass") == "footsteps on grass"


def test_esc50_coverage_counts_clips_once() -> None:
    counts = cap.esc50_coverage([["a dog barking", "a barking dog"], ["rain falling"], ["a cat meowing"]])
    assert counts["dog"] == 1 and counts["rain"] == 1 and counts["cat"] == 1 and counts["siren"] == 0
    assert len(counts) == 50


def test_doorbells_bells_and_staple_guns_are_not_phones_or_gunshots() -> None:
    assert cap.describe_path("sounds/door_bell.ogg").labels[0] == "doorbell"
    assert cap.describe_path("sfx/doorbell.wav").labels[0] == "doorbell"
    assert cap.describe_path("sounds/bell_ring.ogg").labels == ["bell"]
    assert cap.describe_path("sounds/staple_gun.ogg").labels == ["stapler"]
    assert cap.describe_path("sounds/phone_ring.ogg").labels[0] == "telephone"
    assert cap.describe_path("sounds/gun_shot.ogg").labels[0] == "gunshot"
