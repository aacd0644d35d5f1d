"""Every dataset adapter on a tiny fixture folder in its official layout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from openclap.eval.datasets import DatasetLayoutError, EvalDataset, get_dataset, list_datasets


def _write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _labels(ds: EvalDataset) -> list[tuple[str, tuple[int, ...]]]:
    return [(item.path.name, item.labels) for item in ds.items]


def test_esc50_official_layout(tmp_path: Path, write_audio) -> None:
    _write_text(
        tmp_path / "meta" / "esc50.csv",
        "filename,fold,target,category,esc10,src_file,take\n"
        "1-100-A-0.wav,1,0,dog,True,100,A\n1-101-A-1.wav,1,1,rooster,False,101,A\n"
        "2-102-A-0.wav,2,0,dog,True,102,A\n",
    )
    for name in ("1-100-A-0.wav", "1-101-A-1.wav", "2-102-A-0.wav"):
        write_audio(tmp_path / "audio" / name)
    ds = get_dataset("esc50", tmp_path)
    assert ds.task == "single-label" and ds.class_names == ("dog", "rooster")
    assert ds.targets().tolist() == [0, 1, 0] and ds.folds == ["1", "1", "2"]
    assert len(get_dataset("esc50", tmp_path, folds=[2])) == 1
    esc10 = get_dataset("esc-50", tmp_path, esc10=True)
    assert esc10.class_names == ("dog",) and len(esc10) == 2
    (tmp_path / "audio" / "1-101-A-1.wav").unlink()
    with pytest.raises(DatasetLayoutError, match=r"1-101-A-1\.wav"):
        get_dataset("esc50", tmp_path)
    assert get_dataset("esc50", tmp_path, allow_missing=True).missing[0].endswith("1-101-A-1.wav")


def test_esc50_shared_layout_and_missing_metadata(tmp_path: Path, write_audio) -> None:
    _write_text(
        tmp_path / "metadata.csv",
        "filename,fold,target,category,esc10\n"
        "audio/4-1-A-1.flac,4,1,rooster,False\naudio/4-2-A-0.flac,4,0,dog,True\n",
    )
    write_audio(tmp_path / "audio" / "4-1-A-1.flac")
    write_audio(tmp_path / "audio" / "4-2-A-0.flac")
    ds = get_dataset("esc50", tmp_path)
    assert ds.class_names == ("dog", "rooster") and ds.targets().tolist() == [1, 0]
    with pytest.raises(DatasetLayoutError, match=r"meta/esc50.csv"):
        get_dataset("esc50", tmp_path / "audio")


def test_urbansound8k(tmp_path: Path, write_audio) -> None:
    _write_text(
        tmp_path / "metadata" / "UrbanSound8K.csv",
        "slice_file_name,fsID,start,end,salience,fold,classID,class\n"
        "100-0-0-0.wav,100,0,1,1,1,0,air_conditioner\n200-1-0-0.wav,200,0,1,1,3,1,car_horn\n",
    )
    write_audio(tmp_path / "audio" / "fold1" / "100-0-0-0.wav")
    write_audio(tmp_path / "audio" / "fold3" / "200-1-0-0.wav")
    ds = get_dataset("us8k", tmp_path)
    assert ds.class_names == ("air_conditioner", "car_horn")
    assert ds.folds == ["1", "3"] and ds.items[1].meta["freesound_id"] == "200"


def test_fsd50k_multi_label(tmp_path: Path, write_audio) -> None:
    gt = tmp_path / "FSD50K.ground_truth"
    _write_text(gt / "vocabulary.csv", "0,Bark,/m/05tny_\n1,Dog,/m/0bt9lr\n2,Rain,/m/06mb1\n")
    _write_text(
        gt / "dev.csv",
        'fname,labels,mids,split\n11,"Bark,Dog","/m/05tny_,/m/0bt9lr",train\n12,Rain,/m/06mb1,val\n',
    )
    _write_text(gt / "eval.csv", 'fname,labels,mids\n37,"Rain,Dog","/m/06mb1,/m/0bt9lr"\n')
    for sub, name in (("dev", "11"), ("dev", "12"), ("eval", "37")):
        write_audio(tmp_path / f"FSD50K.{sub}_audio" / f"{name}.wav")
    ds = get_dataset("fsd50k", tmp_path)
    assert ds.task == "multi-label" and ds.class_names == ("Bark", "Dog", "Rain")
    assert _labels(ds) == [("11.wav", (0, 1)), ("12.wav", (2,)), ("37.wav", (1, 2))]
    assert ds.folds == ["train", "val", "eval"]
    assert ds.label_matrix().astype(int).tolist() == [[1, 1, 0], [0, 0, 1], [0, 1, 1]]
    assert len(get_dataset("fsd50k", tmp_path, subsets=["eval"])) == 1


def test_dcase2017_task4(tmp_path: Path, write_audio) -> None:
    _write_text(
        tmp_path / "metadata" / "training_set.csv",
        '-5QrBL6MzLg,60.000,70.000,"Train horn,Train","/m/0284vy3,/m/07jdr"\n'
        'abc,0.000,10.000,"Air horn, truck horn,Car","/m/05x_td,/m/0k4j"\n',
    )
    _write_text(
        tmp_path / "metadata" / "groundtruth_weak_label_evaluation_set.csv",
        "xyz_30.000_40.000.wav\t30.000\t40.000\tBus\nxyz_30.000_40.000.wav\t30.000\t40.000\tTruck\n",
    )
    write_audio(tmp_path / "training" / "Y-5QrBL6MzLg_60.000_70.000.wav")
    write_audio(tmp_path / "evaluation" / "Yxyz_30.000_40.000.wav")
    ds = get_dataset("dcase2017-task4", tmp_path)
    assert ds.task == "multi-label"
    names = [[ds.class_names[i] for i in item.labels] for item in ds.items]
    assert names == [["Train horn", "Train"], ["Bus", "Truck"]]
    assert ds.folds == ["training", "evaluation"]
    assert ds.missing == (str(tmp_path / "training" / "Yabc_0.000_10.000.wav"),)


def test_tut2017_development_and_evaluation(tmp_path: Path, write_audio) -> None:
    dev = tmp_path / "TUT-acoustic-scenes-2017-development"
    ev = tmp_path / "TUT-acoustic-scenes-2017-evaluation"
    _write_text(
        dev / "meta.txt", "audio/b020_90_100.wav\tbeach\tb020\naudio/a001_0_10.wav\tcafe/restaurant\ta001\n"
    )
    _write_text(dev / "evaluation_setup" / "fold1_evaluate.txt", "audio/b020_90_100.wav\tbeach\n")
    _write_text(dev / "evaluation_setup" / "fold2_evaluate.txt", "audio/a001_0_10.wav\tcafe/restaurant\n")
    _write_text(ev / "meta.txt", "audio/1.wav\ttram\n")
    for path in (dev / "audio" / "b020_90_100.wav", dev / "audio" / "a001_0_10.wav", ev / "audio" / "1.wav"):
        write_audio(path)
    ds = get_dataset("tut2017", tmp_path)
    assert [ds.class_names[t] for t in ds.targets()] == ["beach", "cafe/restaurant", "tram"]
    assert ds.folds == ["1", "2", "evaluation"]
    assert len(get_dataset("tut2017", dev)) == 2


def test_gtzan_genres_and_music_speech(tmp_path: Path, write_audio) -> None:
    genres = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")
    for genre in genres:
        write_audio(tmp_path / "genres" / genre / f"{genre}.00000.au")
    ds = get_dataset("gtzan", tmp_path)
    assert len(ds) == 10 and ds.targets().tolist() == list(range(10)) and ds.items[0].path.suffix == ".au"
    (tmp_path / "genres" / "rock" / "rock.00000.au").unlink()
    (tmp_path / "genres" / "rock").rmdir()
    with pytest.raises(DatasetLayoutError, match="'rock'"):
        get_dataset("gtzan-genres", tmp_path)
    ms = tmp_path / "ms" / "music_speech"
    write_audio(ms / "music_wav" / "bagpipe.wav")
    write_audio(ms / "speech_wav" / "comedy.wav")
    write_audio(ms / "speech_wav" / "talk.wav")
    ds = get_dataset("gtzan-music-speech", tmp_path / "ms")
    assert ds.class_names == ("music", "speech") and ds.targets().tolist() == [0, 1, 1]


def test_mridangam_stroke_and_tonic(tmp_path: Path, write_audio) -> None:
    root = tmp_path / "mridangam_stroke_1.5"
    for tonic in ("B", "C", "C#", "D", "D#", "E"):
        (root / tonic).mkdir(parents=True)
    write_audio(root / "B" / "224030__akshaylaya__bheem-b-001.wav")
    write_audio(root / "C#" / "224100__akshaylaya__thom-c#-003.wav")
    stroke = get_dataset("mridangam-stroke", tmp_path)
    assert [stroke.class_names[t] for t in stroke.targets()] == ["bheem", "thom"]
    tonic = get_dataset("mridangam-tonic", root)
    assert [tonic.class_names[t] for t in tonic.targets()] == ["B", "C#"]
    assert tonic.items[0].meta["stroke"] == "bheem"


def test_beijing_opera(tmp_path: Path, write_audio) -> None:
    write_audio(tmp_path / "BeijingOpera" / "Bangu" / "b1.wav")
    write_audio(tmp_path / "BeijingOpera" / "xiaoluo" / "x1.wav")
    write_audio(tmp_path / "BeijingOpera" / "readme_audio.wav")  # outside any class folder: ignored
    ds = get_dataset("beijing-opera", tmp_path)
    assert _labels(ds) == [("b1.wav", (0,)), ("x1.wav", (3,))]


def test_crema_d_and_ravdess(tmp_path: Path, write_audio) -> None:
    write_audio(tmp_path / "crema" / "AudioWAV" / "1001_DFA_ANG_XX.wav")
    write_audio(tmp_path / "crema" / "AudioWAV" / "1002_IEO_SAD_HI.wav")
    crema = get_dataset("crema-d", tmp_path / "crema")
    assert crema.targets().tolist() == [0, 5] and crema.items[1].meta["speaker"] == "1002"
    rav = tmp_path / "ravdess" / "Audio_Speech_Actors_01-24"
    write_audio(rav / "Actor_01" / "03-01-01-01-01-01-01.wav")
    write_audio(rav / "Actor_12" / "03-02-08-02-02-01-12.wav")
    ds = get_dataset("ravdess", tmp_path / "ravdess")
    assert [ds.class_names[t] for t in ds.targets()] == ["neutral", "surprised"]
    assert ds.items[1].meta == {"speaker": "12", "channel": "song", "intensity": "02"}
    write_audio(rav / "Actor_02" / "bad-name.wav")
    with pytest.raises(DatasetLayoutError, match=r"bad-name\.wav"):
        get_dataset("ravdess", tmp_path / "ravdess")


def test_vocalsound_with_splits(tmp_path: Path, write_audio) -> None:
    write_audio(tmp_path / "audio_16k" / "f0003_0_cough.wav")
    write_audio(tmp_path / "audio_16k" / "m0101_0_throatclearing.wav")
    _write_text(
        tmp_path / "datafiles" / "te.json", json.dumps({"data": [{"wav": "/x/audio_16k/f0003_0_cough.wav"}]})
    )
    ds = get_dataset("vocalsound", tmp_path)
    assert [ds.class_names[t] for t in ds.targets()] == ["cough", "throatclearing"]
    assert ds.folds == ["test", None] and ds.items[1].meta["speaker"] == "m0101"


def test_sesa(tmp_path: Path, write_audio) -> None:
    write_audio(tmp_path / "train" / "casual_000.wav")
    write_audio(tmp_path / "train" / "gunshot_001.wav")
    write_audio(tmp_path / "test" / "alarm_002.wav")
    ds = get_dataset("sesa", tmp_path)
    assert [ds.class_names[t] for t in ds.targets()] == ["casual", "gunshot", "siren"]
    assert ds.folds == ["train", "train", "test"]
    write_audio(tmp_path / "test" / "mystery_003.wav")
    with pytest.raises(DatasetLayoutError, match=r"mystery_003\.wav"):
        get_dataset("sesa", tmp_path)


def test_libricount(tmp_path: Path, write_audio) -> None:
    write_audio(tmp_path / "test" / "0_abc.wav")
    write_audio(tmp_path / "test" / "10_def.wav")
    _write_text(tmp_path / "test" / "10_def.json", "[]")
    ds = get_dataset("libricount", tmp_path)
    assert ds.targets().tolist() == [0, 10] and len(ds.class_names) == 11


def test_speech_commands(tmp_path: Path, write_audio) -> None:
    write_audio(tmp_path / "yes" / "aa11_nohash_0.wav")
    write_audio(tmp_path / "yes" / "bb22_nohash_0.wav")
    write_audio(tmp_path / "no" / "cc33_nohash_1.wav")
    write_audio(tmp_path / "_background_noise_" / "noise.wav")
    _write_text(tmp_path / "validation_list.txt", "yes/bb22_nohash_0.wav\n")
    _write_text(tmp_path / "testing_list.txt", "no/cc33_nohash_1.wav\n")
    ds = get_dataset("speech-commands", tmp_path)
    assert ds.class_names == ("no", "yes")
    assert sorted(zip(ds.folds, ds.targets().tolist(), strict=True)) == [
        ("test", 0),
        ("train", 1),
        ("validation", 1),
    ]
    (tmp_path / "testing_list.txt").unlink()
    with pytest.raises(DatasetLayoutError, match=r"testing_list\.txt"):
        get_dataset("speech-commands", tmp_path)


def test_fsdd_official_and_shared_layouts(tmp_path: Path, write_audio) -> None:
    write_audio(tmp_path / "official" / "recordings" / "3_jackson_4.wav")
    write_audio(tmp_path / "official" / "recordings" / "7_theo_12.wav")
    ds = get_dataset("fsdd", tmp_path / "official")
    assert ds.targets().tolist() == [3, 7] and ds.folds == ["test", "train"]
    assert ds.meta_values("speaker") == ["jackson", "theo"]
    shared_root = tmp_path / "shared"
    _write_text(shared_root / "metadata.csv", "filename,digit,speaker\naudio/5_george_30.flac,5,george\n")
    write_audio(shared_root / "audio" / "5_george_30.flac")
    ds = get_dataset("fsdd", shared_root)
    assert ds.targets().tolist() == [5] and ds.folds == ["train"]


def test_philharmonia_csv_and_folder_layouts(tmp_path: Path, write_audio) -> None:
    root = tmp_path / "csv"
    _write_text(
        root / "metadata.csv",
        "filename,instrument,note,dynamic,articulation\n"
        "audio/flute/flute_A5_1_forte_normal.mp3,flute,A5,forte,normal\n"
        "audio/percussion/cowbell/cowbell__1_forte_struck.mp3,cowbell,,forte,struck\n",
    )
    write_audio(root / "audio" / "flute" / "flute_A5_1_forte_normal.wav").rename(
        root / "audio" / "flute" / "flute_A5_1_forte_normal.mp3"
    )
    write_audio(root / "audio" / "percussion" / "cowbell" / "cowbell__1_forte_struck.mp3")
    ds = get_dataset("philharmonia", root)
    assert ds.class_names == ("cowbell", "flute") and ds.targets().tolist() == [1, 0]
    assert ds.meta_values("note") == ["A5", ""]
    folder = tmp_path / "folders"
    write_audio(folder / "banjo" / "banjo_A3_very-long_forte_normal.wav")
    write_audio(folder / "percussion" / "cowbell" / "cowbell__1_forte_struck.wav")
    ds = get_dataset("philharmonia", folder)
    assert ds.class_names == ("banjo", "cowbell") and ds.meta_values("note") == ["A3", ""]


def test_nsynth(tmp_path: Path, write_audio) -> None:
    examples = {
        "bass_synthetic_033-022-050": {
            "instrument_family": 0,
            "pitch": 22,
            "instrument_source_str": "synthetic",
            "instrument_str": "bass_synthetic_033",
        },
        "vocal_acoustic_000-060-100": {"instrument_family": 10, "pitch": 60},
    }
    for split in ("valid", "test"):
        _write_text(tmp_path / f"nsynth-{split}" / "examples.json", json.dumps(examples))
        for note in examples:
            write_audio(tmp_path / f"nsynth-{split}" / "audio" / f"{note}.wav")
    ds = get_dataset("nsynth", tmp_path)
    assert ds.targets().tolist() == [0, 10, 0, 10] and ds.folds == ["valid", "valid", "test", "test"]
    assert ds.items[0].meta["pitch"] == "22" and ds.class_names[9] == "synth_lead"
    assert len(get_dataset("nsynth", tmp_path / "nsynth-test")) == 2


def test_audiocaps_official_layout(tmp_path: Path, write_audio) -> None:
    _write_text(
        tmp_path / "test.csv",
        "audiocap_id,youtube_id,start_time,caption\n"
        "1,abc,30,A dog barks\n2,abc,30,Barking\n3,def,0,Rain falls\n4,ghi,10,Wind\n",
    )
    write_audio(tmp_path / "audio" / "test" / "abc_30.wav")
    write_audio(tmp_path / "audio" / "Ydef.flac")
    ds = get_dataset("audiocaps", tmp_path)
    assert ds.task == "retrieval" and [item.captions for item in ds.items] == [
        ("A dog barks", "Barking"),
        ("Rain falls",),
    ]
    texts, owner = ds.captions_flat()
    assert texts == ["A dog barks", "Barking", "Rain falls"] and owner.tolist() == [0, 0, 1]
    assert len(ds.missing) == 1 and "ghi" in ds.missing[0]
    with pytest.raises(DatasetLayoutError, match=r"val\.csv"):
        get_dataset("audiocaps", tmp_path, splits=["val"])


def test_audiocaps_shared_layout(tmp_path: Path, write_audio) -> None:
    _write_text(
        tmp_path / "metadata.csv",
        "filename,caption,audiocap_id,youtube_id,start_s\n"
        'audio/a_1.flac,"Birds sing, then a car",1,a,1\naudio/a_1.flac,Chirping,2,a,1\n'
        "audio/b_2.flac,Thunder,3,b,2\n",
    )
    write_audio(tmp_path / "audio" / "a_1.flac")
    write_audio(tmp_path / "audio" / "b_2.flac")
    ds = get_dataset("audiocaps", tmp_path)
    assert [item.captions for item in ds.items] == [("Birds sing, then a car", "Chirping"), ("Thunder",)]


def test_clotho(tmp_path: Path, write_audio) -> None:
    header = "file_name,caption_1,caption_2,caption_3,caption_4,caption_5\n"
    _write_text(tmp_path / "clotho_captions_evaluation.csv", header + '"a, b.wav",c1,c2,c3,c4,c5\n')
    write_audio(tmp_path / "evaluation" / "a, b.wav")
    ds = get_dataset("clotho", tmp_path)
    assert ds.items[0].captions == ("c1", "c2", "c3", "c4", "c5") and ds.folds == ["evaluation"]
    with pytest.raises(ValueError, match="splits must be drawn"):
        get_dataset("clotho", tmp_path, splits=["train"])


def test_generic_csv_labels_and_captions(tmp_path: Path, write_audio) -> None:
    for name in ("a.wav", "b.wav", "c.wav"):
        write_audio(tmp_path / "clips" / name)
    _write_text(tmp_path / "single.csv", "path,label,fold\nclips/a.wav,dog,1\nclips/b.wav,cat,2\n")
    ds = get_dataset("csv", tmp_path / "single.csv")
    assert ds.task == "single-label" and ds.class_names == ("cat", "dog") and ds.folds == ["1", "2"]
    _write_text(
        tmp_path / "multi.csv",
        'filename,labels\nclips/a.wav,"dog;cat"\nclips/b.wav,rain;dog\nclips/c.wav,"Bark, dog"\n',
    )
    ds = get_dataset("csv", tmp_path, file="multi.csv")  # a comma never splits a label
    assert ds.task == "multi-label" and ds.class_names == ("Bark, dog", "cat", "dog", "rain")
    assert [item.labels for item in ds.items] == [(1, 2), (2, 3), (0,)]
    _write_text(tmp_path / "caps.csv", "path,caption\nclips/a.wav,one\nclips/a.wav,two\nclips/b.wav,three\n")
    ds = get_dataset("csv", tmp_path / "caps.csv")
    assert ds.task == "retrieval" and [i.captions for i in ds.items] == [("one", "two"), ("three",)]
    _write_text(tmp_path / "bad.csv", "path,score\nclips/a.wav,1\n")
    with pytest.raises(DatasetLayoutError, match="label column"):
        get_dataset("csv", tmp_path / "bad.csv")
    with pytest.raises(DatasetLayoutError, match="not in classes"):
        get_dataset("csv", tmp_path / "single.csv", classes=["dog"])


def test_registry_and_dataset_helpers(tmp_path: Path, write_audio) -> None:
    assert len(list_datasets()) == 22 and "esc50" in list_datasets()
    with pytest.raises(KeyError, match="choose one of"):
        get_dataset("imagenet", tmp_path)
    with pytest.raises(DatasetLayoutError, match="not a folder"):
        get_dataset("esc50", tmp_path / "nowhere")
    _write_text(
        tmp_path / "l.csv",
        "path,label,fold\n"
        + "".join(f"c{i}.wav,{'ab'[i % 2] if i < 5 else 'c'},{i % 2}\n" for i in range(6)),
    )
    for i in range(6):
        write_audio(tmp_path / f"c{i}.wav", seed=i)
    with pytest.raises(ValueError, match=r"take option\(s\) \['colour'\]; it takes \['file', 'name'"):
        get_dataset("csv", tmp_path / "l.csv", colour="red")
    ds = get_dataset("csv", tmp_path / "l.csv", min_class_count=2)
    assert ds.class_names == ("a", "b") and len(ds) == 5
    with pytest.raises(ValueError, match="folds present"):
        ds.filter_folds(["7"])
    assert np.array_equal(ds.select([0, 1]).targets(), [0, 1])
    with pytest.raises(KeyError, match="no metadata 'speaker'"):
        ds.meta_values("speaker")
