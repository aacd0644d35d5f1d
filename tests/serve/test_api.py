"""The HTTP API against the library: every answer equals what the Python API gives for the same input."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from openclap import ClapModel, ZeroShotClassifier, embed_audio, embed_texts, load_mono
from tests.serve.conftest import TEST_LIMITS, esc50_clips

DOG = esc50_clips()["dog"][0]


def upload(path: Path, name: str | None = None) -> dict[str, tuple[str, bytes]]:
    return {"file": (name or path.name, path.read_bytes())}


def test_health_reports_model_index_and_limits(client: httpx.Client, index_dir: Path) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["model"] == "tiny-test" and body["sample_rate"] == 16000
    assert (
        body["index"]["path"] == str(index_dir) and body["index"]["items"] > 50
    )  # 10 x 5 s + 10 s, 1 s windows
    assert body["limits"]["max_labels"] == TEST_LIMITS.max_labels


def test_embed_text_equals_library(client: httpx.Client, tiny_model: ClapModel) -> None:
    texts = ["a dog barking", "rain on a tin roof"]
    body = client.post("/embed/text", json={"texts": texts}).json()
    assert body["model"] == "tiny-test"
    np.testing.assert_array_equal(np.array(body["embeddings"], np.float32), embed_texts(tiny_model, texts))


def test_embed_audio_equals_library(client: httpx.Client, tiny_model: ClapModel) -> None:
    response = client.post("/embed/audio", files=upload(DOG))
    assert response.status_code == 200, response.text
    body = response.json()
    expected = embed_audio(tiny_model, [load_mono(DOG, 16000)], 16000)[0]
    np.testing.assert_array_equal(np.array(body["embedding"], np.float32), expected)
    assert body["file"] == DOG.name and body["duration_seconds"] == pytest.approx(5.0)


def test_classify_equals_zero_shot_classifier(client: httpx.Client, tiny_model: ClapModel) -> None:
    labels = ["dog", "rain", "siren", "church bells"]
    response = client.post(
        "/classify", files=upload(DOG), data={"labels": "dog, rain,siren\nchurch bells, dog"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    emb = embed_audio(tiny_model, [load_mono(DOG, 16000)], 16000)
    expected = ZeroShotClassifier(tiny_model, labels).predict(emb, top_k=len(labels))[0]
    assert [p["label"] for p in body["predictions"]] == [p.label for p in expected]  # duplicates dropped
    assert [p["score"] for p in body["predictions"]] == pytest.approx([p.score for p in expected], abs=1e-6)
    assert sum(p["score"] for p in body["predictions"]) == pytest.approx(1.0, abs=1e-4)
    top2 = client.post("/classify", files=upload(DOG), data={"labels": "dog,rain,siren", "top_k": "2"}).json()
    assert len(top2["predictions"]) == 2


def test_search_text_equals_index(client: httpx.Client, index_dir: Path, tiny_model: ClapModel) -> None:
    from openclap.index import SoundIndex

    body = client.get("/search", params={"q": "a dog barking", "top_k": 7}).json()
    expected = SoundIndex.open(index_dir, model=tiny_model).search_text("a dog barking", top_k=7)
    assert [h["item_id"] for h in body["hits"]] == [h.item_id for h in expected]
    assert [h["score"] for h in body["hits"]] == pytest.approx([h.score for h in expected], abs=1e-6)
    first = body["hits"][0]
    assert (
        first["audio_url"] == f"/audio/{first['item_id']}" and first["end_seconds"] > first["start_seconds"]
    )


def test_search_prefix_filters_paths(client: httpx.Client, clip_folder: Path) -> None:
    prefix = str(clip_folder / "rain")
    body = client.get("/search", params={"q": "water", "top_k": 50, "prefix": prefix}).json()
    assert body["hits"] and all(h["path"].startswith(prefix) for h in body["hits"])
    assert len(body["hits"]) == 10  # two 5 s rain clips, 1 s windows


def test_search_by_example_equals_index(client: httpx.Client, index_dir: Path, tiny_model: ClapModel) -> None:
    from openclap.index import SoundIndex

    response = client.post("/search", files=upload(DOG), data={"top_k": "5"})
    assert response.status_code == 200, response.text
    expected = SoundIndex.open(index_dir, model=tiny_model).search_audio(
        load_mono(DOG, 16000), 16000, top_k=5
    )
    assert [h["item_id"] for h in response.json()["hits"]] == [h.item_id for h in expected]
    assert response.json()["query"] == DOG.name


def test_audio_streams_the_indexed_file_with_ranges(client: httpx.Client) -> None:
    hit = client.get("/search", params={"q": "rain", "top_k": 1}).json()["hits"][0]
    data = Path(hit["path"]).read_bytes()
    whole = client.get(hit["audio_url"])
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["accept-ranges"] == "bytes" and whole.headers["content-type"] == "audio/flac"
    for header, (start, stop) in {
        "bytes=100-199": (100, 200),
        "bytes=1000-": (1000, len(data)),
        "bytes=-64": (len(data) - 64, len(data)),
        f"bytes=10-{10 * len(data)}": (10, len(data)),
    }.items():
        part = client.get(hit["audio_url"], headers={"Range": header})
        assert part.status_code == 206, header
        assert part.content == data[start:stop]
        assert part.headers["content-range"] == f"bytes {start}-{stop - 1}/{len(data)}"


def test_openapi_describes_every_route_and_its_errors(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    assert set(paths) == {
        "/health",
        "/search",
        "/classify",
        "/embed/text",
        "/embed/audio",
        "/audio/{item_id}",
    }
    assert set(paths["/search"]) == {"get", "post"}
    assert {"413", "415", "422", "503"} <= set(paths["/classify"]["post"]["responses"])
    assert {"206", "404", "416"} <= set(paths["/audio/{item_id}"]["get"]["responses"])
    schema = spec["components"]["schemas"]["ErrorBody"]
    assert schema["required"] == ["error"]


def test_page_and_assets(client: httpx.Client) -> None:
    page = client.get("/")
    assert page.status_code == 200 and 'id="drop-zone"' in page.text and "/static/app.js" in page.text
    assert client.get("/static/app.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/static/style.css").headers["content-type"].startswith("text/css")
    assert client.get("/static/index.html").status_code == 404  # only the three fixed names, no folder


def test_an_index_updated_while_serving_is_picked_up(
    tiny_model: ClapModel, tiny_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openclap.index import SoundIndex, build_index, update_index
    from openclap.serve import create_app, serve_in_thread

    monkeypatch.setattr("openclap.serve.engine.REFRESH_SECONDS", 0.0)
    clips = esc50_clips()
    folder = tmp_path / "sounds"
    folder.mkdir()
    (folder / "dog.flac").symlink_to(clips["dog"][0])
    build_index([folder], tmp_path / "index", tiny_model, checkpoint=tiny_checkpoint)
    app = create_app(tiny_model, SoundIndex.open(tmp_path / "index", model=tiny_model))
    with serve_in_thread(app) as url:
        found = lambda: {Path(h["path"]).name for h in httpx.get(f"{url}/search?q=x&top_k=50").json()["hits"]}  # noqa: E731
        assert found() == {"dog.flac"}
        (folder / "rain.flac").symlink_to(clips["rain"][0])
        update_index(tmp_path / "index", tiny_model)
        assert found() == {"dog.flac", "rain.flac"}
        assert httpx.get(f"{url}/health").json()["index"]["items"] == 10


def test_concurrent_requests_get_the_answers_of_sequential_ones(
    client: httpx.Client, tiny_model: ClapModel
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    texts = [f"sound number {i}" for i in range(24)]
    expected = embed_texts(tiny_model, texts)
    clip = upload(DOG)

    def text(i: int) -> np.ndarray:
        return np.array(
            client.post("/embed/text", json={"texts": [texts[i]]}).json()["embeddings"][0], np.float32
        )

    def audio(_: int) -> np.ndarray:
        return np.array(client.post("/embed/audio", files=clip).json()["embedding"], np.float32)

    with ThreadPoolExecutor(12) as pool:
        text_futures = [pool.submit(text, i) for i in range(len(texts))]
        audio_futures = [pool.submit(audio, i) for i in range(6)]
        got_texts = np.stack([f.result() for f in text_futures])
        got_audio = [f.result() for f in audio_futures]
    np.testing.assert_allclose(got_texts, expected, atol=1e-6)  # one by one vs one batch of 24
    for emb in got_audio[1:]:
        np.testing.assert_array_equal(emb, got_audio[0])


def test_engine_runs_model_work_one_call_at_a_time(tiny_model: ClapModel) -> None:
    import asyncio
    import threading
    import time

    from openclap.serve.engine import Engine
    from openclap.serve.limits import ServeLimits

    engine = Engine(tiny_model, None, ServeLimits())
    running, most = 0, 0

    def work() -> int:
        nonlocal running, most
        running += 1
        most = max(most, running)
        time.sleep(0.01)
        running -= 1
        return threading.get_ident()

    async def many() -> list[int]:
        return await asyncio.gather(*(engine.infer(work) for _ in range(20)))

    idents = asyncio.run(many())
    engine.close()
    assert most == 1 and len(set(idents)) == 1 and threading.get_ident() not in idents
