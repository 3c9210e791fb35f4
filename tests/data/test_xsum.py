"""XSUM loader: the real split ids and 1,000 real test articles, the URL -> topic rule on URLs of every topic,
low-data and topic splits from .summary fixtures in the release format, errors, and the hub path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import io
from harness.data import DATASETS, prepare, variant_name, xsum
from harness.errors import ConfigError, DataError

SPLIT_FILE = "XSum-TRAINING-DEV-TEST-SPLIT-90-5-5.json"
SUBSET = "subsets/test_1000_DavidFanzz_llm_decoding.jsonl"

# (URL as XSUM lists it, topic by the Prefix-Tuning rule, topic by the section rule)
URLS = [
    ("http://web.archive.org/web/20150403154005/http://www.bbc.co.uk/news/uk-scotland-glasgow-west-32184815",
     ("news", "uk"), ("news", "uk")),
    ("http://www.bbc.co.uk/news/uk-politics-36009487", ("news", "uk"), ("news", "uk")),
    ("http://www.bbc.com/news/world-europe-35555555", ("news", "world"), ("news", "world")),
    ("http://www.bbc.co.uk/news/world-us-canada-35555556/", ("news", "world"), ("news", "world")),
    ("http://www.bbc.co.uk/news/business-35555557", ("news", "business"), ("news", "business")),
    ("http://www.bbc.co.uk/news/health-35555558", ("news", "health"), ("news", "health")),
    ("http://www.bbc.co.uk/news/technology-35555559", ("news", "technology"), ("news", "technology")),
    ("http://www.bbc.co.uk/news/science-environment-35555560", ("news", "science"), ("news", "science")),
    ("http://www.bbc.co.uk/news/entertainment-arts-35555561", ("news", "entertainment"), ("news", "entertainment")),
    ("http://www.bbc.co.uk/news/education-35555562", ("news", "education"), ("news", "education")),
    ("http://www.bbc.co.uk/news/35555563", ("news",), ("news",)),
    ("http://www.bbc.com/sport/football/36009488", ("sport", "football"), ("sport", "football")),
    ("http://web.archive.org/web/2014/http://www.bbc.co.uk/sport/0/rugby-union/27224569",
     ("0", "rugby-union"), ("sport", "rugby")),
    ("http://www.bbc.co.uk/sport/cricket/36009489", ("sport", "cricket"), ("sport", "cricket")),
    ("http://www.bbc.co.uk/newsbeat/36009490", ("newsbeat",), ("newsbeat",)),
]  # fmt: skip


def test_url_topic_rules() -> None:
    for url, paper, section in URLS:
        assert (xsum.url_topic(url), xsum.url_topic(url, "section")) == (paper, section), url
        assert xsum.url_id(url) == url.rstrip("/").rsplit("-", 1)[-1].rsplit("/", 1)[-1]


def test_domains() -> None:
    def side(split: str, topic: tuple[str, ...]) -> str:
        train, test = xsum.in_domain(split, "train", topic), xsum.in_domain(split, "test", topic)
        assert not (train and test)
        return "train" if train else "test" if test else "-"

    topics = {url: paper for url, paper, _ in URLS}
    assert [side("news-sports", t) for t in topics.values()] == ["train"] * 11 + ["test", "-", "test", "-"]
    assert [side("within-news", t) for t in topics.values()] == ["train"] * 5 + ["test"] * 6 + ["-"] * 4
    assert side("news-sports", ("sport", "rugby")) == "test"  # the section rule's reading of /sport/0/


# --- real files -------------------------------------------------------------------------


def test_official_split_ids(generation_root: Path) -> None:
    ids, record = xsum.read_split_ids(generation_root)
    assert {split: len(v) for split, v in ids.items()} == {"train": 204045, "validation": 11332, "test": 11334}
    assert record["checked"] == "sha256"
    assert not set(ids["train"]) & set(ids["test"]) and not set(ids["train"]) & set(ids["validation"])
    subset = io.read_jsonl(generation_root / "xsum" / SUBSET)
    assert len(subset) == 1000 and {str(r["id"]) for r in subset} <= set(ids["test"])


# --- .summary fixtures ------------------------------------------------------------------

TOPIC_PATHS = ["news/uk-england-london", "news/world-europe", "news/business", "news/health", "sport/football",
               "sport/0/tennis", "news/technology", "newsbeat"]  # fmt: skip


def summary_file(bbc_id: str, k: int) -> str:
    """A .summary file in the release's layout, with the share-button lines the loader drops."""
    path = TOPIC_PATHS[k % len(TOPIC_PATHS)]
    url = (
        f"http://web.archive.org/web/2016/http://www.bbc.co.uk/{path}{'/' if path.startswith('sport') else '-'}{bbc_id}"
    )
    return (
        f"[SN]URL[SN]\n{url}\n\n[SN]TITLE[SN]\nTitle {bbc_id}\n\n[SN]FIRST-SENTENCE[SN]\nSummary of {bbc_id}.\n\n"
        f"[SN]RESTBODY[SN]\nShare this with\nEmail\nFirst sentence of {bbc_id}.\n\nSecond sentence.\n"
        "These are external links and will open in a new window\n"
    )


@pytest.fixture(scope="module")
def xsum_root(generation_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real split ids and .summary files for the first 520 / 160 / 40 ids of train / validation / test.

    One train id has an empty body and one validation id no file: both are left out.
    """
    root = tmp_path_factory.mktemp("xsum-root")
    folder = root / "xsum" / xsum.ARTICLES_DIR
    folder.mkdir(parents=True)
    (root / "xsum" / SPLIT_FILE).symlink_to(generation_root / "xsum" / SPLIT_FILE)
    ids, _ = xsum.read_split_ids(generation_root)
    for split, n in (("train", 520), ("validation", 160), ("test", 40)):
        for k, bbc_id in enumerate(ids[split][:n]):
            (folder / f"{bbc_id}.summary").write_text(summary_file(bbc_id, k), encoding="utf-8")
    empty = folder / f"{ids['train'][3]}.summary"
    empty.write_text(empty.read_text(encoding="utf-8").split("[SN]RESTBODY[SN]")[0] + "[SN]RESTBODY[SN]\n")
    (folder / f"{ids['validation'][5]}.summary").unlink()
    return root


def test_summary_file_reads_as_the_hub_loader(xsum_root: Path) -> None:
    text = summary_file("123", 1)
    article = xsum.parse_summary_file(text, "fixture")
    # The Hugging Face loader: drop the listed lines and blank lines, split on [SN], take fields 2/6/8.
    kept = "".join(line for line in text.splitlines(keepends=True) if line not in xsum.REMOVE_LINES and line.strip())
    segs = kept.split("[SN]")
    assert (article.url, article.summary, article.document) == (segs[2].strip(), segs[6].strip(), segs[8].strip())
    assert article.document == "First sentence of 123.\nSecond sentence."
    with pytest.raises(DataError, match="RESTBODY"):
        xsum.parse_summary_file("[SN]URL[SN]\nu\n[SN]FIRST-SENTENCE[SN]\ns\n", "broken.summary")


def test_full_split(xsum_root: Path, tmp_path: Path) -> None:
    manifest = prepare("xsum", {}, xsum_root, tmp_path)
    assert {n: f["rows"] for n, f in manifest["files"].items()} == {
        "train.jsonl": 519,
        "dev.jsonl": 159,
        "test.jsonl": 40,
    }
    ids, _ = xsum.read_split_ids(xsum_root)
    test = io.read_jsonl(tmp_path / "test.jsonl")
    assert test[0] == {
        "id": f"test-{ids['test'][0]}",
        "source": f"First sentence of {ids['test'][0]}.\nSecond sentence.",
        "references": [f"Summary of {ids['test'][0]}."],
    }
    assert manifest["selection"]["train"]["indices"] == [i for i in range(520) if i != 3]
    assert manifest["inputs"][SPLIT_FILE]["sha256"] == xsum.SPLIT_SHA256


@pytest.mark.parametrize("size", [50, 500])  # the smallest and largest of the paper's sizes
def test_lowdata_manifests_are_seeded(xsum_root: Path, tmp_path: Path, size: int) -> None:
    params = {"split": "lowdata", "size": size, "subsample_seed": 0}
    first = prepare("xsum", params, xsum_root, tmp_path / "a")
    again = prepare("xsum", params, xsum_root, tmp_path / "b")
    other = prepare("xsum", {**params, "subsample_seed": 4}, xsum_root, tmp_path / "c")
    assert first["split"] == f"lowdata-{size}-s0" and other["split"] == f"lowdata-{size}-s4"
    assert first["selection"] == again["selection"] and first["files"] == again["files"]
    for part in ("train", "dev"):
        assert first["selection"][part]["sha256"] != other["selection"][part]["sha256"]
    assert (first["files"]["train.jsonl"]["rows"], first["files"]["dev.jsonl"]["rows"]) == (size, round(0.3 * size))
    assert first["files"]["test.jsonl"]["rows"] == 40
    assert 3 not in first["selection"]["train"]["indices"]  # the empty article is never drawn
    ids, _ = xsum.read_split_ids(xsum_root)
    train = io.read_jsonl(tmp_path / "a" / "train.jsonl")
    assert [r["id"] for r in train] == [f"train-{ids['train'][i]}" for i in first["selection"]["train"]["indices"]]


def test_lowdata_too_large_for_the_articles(xsum_root: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="lower `size`"):
        prepare("xsum", {"split": "lowdata", "size": 600}, xsum_root, tmp_path)


@pytest.mark.parametrize(
    "params, train_topics, test_topics",
    [
        ({"split": "news-sports"}, {"news/uk", "news/world", "news/business", "news/health", "news/technology"},
         {"sport/football"}),
        ({"split": "news-sports", "topic_rule": "section"},
         {"news/uk", "news/world", "news/business", "news/health", "news/technology"},
         {"sport/football", "sport/tennis"}),
        ({"split": "within-news"}, {"news/uk", "news/world", "news/business"}, {"news/health", "news/technology"}),
    ],
)  # fmt: skip
def test_topic_splits(xsum_root: Path, tmp_path: Path, params: dict, train_topics: set, test_topics: set) -> None:
    manifest = prepare("xsum", params, xsum_root, tmp_path)
    rows = {part: io.read_jsonl(tmp_path / f"{part}.jsonl") for part in ("train", "dev", "test")}
    assert {r["topic"] for r in rows["train"]} == {r["topic"] for r in rows["dev"]} == train_topics
    assert {r["topic"] for r in rows["test"]} == test_topics
    assert all(r["id"].startswith("test-") for r in rows["test"])
    assert manifest["split"] == variant_name("xsum", params)


def test_variant_names_and_bad_params() -> None:
    assert variant_name("xsum", {}) == "full"
    assert variant_name("xsum", {"split": "lowdata", "size": 100, "subsample_seed": 3}) == "lowdata-100-s3"
    assert variant_name("xsum", {"split": "lowdata", "size": 50, "dev_rows": 5}) == "lowdata-50-s0-dv5"
    assert variant_name("xsum", {"split": "within-news", "topic_rule": "section", "test_examples": 9}) == (
        "within-news-section-te9"
    )
    for params, word in [
        ({"split": "lowdata"}, "size"),
        ({"size": 50}, "size"),
        ({"split": "full", "topic_rule": "section"}, "topic_rule"),
        ({"split": "news-sports", "topic_rule": "host"}, "host"),
        ({"split": "sports"}, "news-sports"),
        ({"split": "lowdata", "size": 0}, "size"),
        ({"truncate": 512}, "truncate"),
    ]:
        with pytest.raises(ConfigError, match=word):
            variant_name("xsum", params)


# --- errors -----------------------------------------------------------------------------


def test_missing_articles_say_where_and_how(generation_root: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        prepare("xsum", {}, generation_root, tmp_path / "out")
    message = str(info.value)
    assert str(generation_root / "xsum" / "bbc-summary-data") in message
    assert xsum.ARTICLES_ARCHIVE in message and "HARNESS_DATA_DIR" in message and xsum.HUB_ID in message


def test_missing_or_changed_split_file(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        prepare("xsum", {}, tmp_path, tmp_path / "out")
    assert str(tmp_path / "xsum" / SPLIT_FILE) in str(info.value) and "EdinburghNLP/XSum" in str(info.value)
    (tmp_path / "xsum").mkdir()
    (tmp_path / "xsum" / SPLIT_FILE).write_text('{"train": [], "validation": [], "test": []}', encoding="utf-8")
    with pytest.raises(DataError, match=xsum.SPLIT_SHA256):
        prepare("xsum", {}, tmp_path, tmp_path / "out")


# --- the hub path -----------------------------------------------------------------------


def test_hub_path_with_real_test_articles(
    hub_library, write_hub_folder, generation_root: Path, xsum_root: Path, tmp_path: Path
) -> None:
    """Train / validation rows from the fixture, test rows the 1,000 real articles (the hub's own schema)."""
    ids, _ = xsum.read_split_ids(generation_root)
    subset = io.read_jsonl(generation_root / "xsum" / SUBSET)

    def fixture_rows(split: str, n: int) -> list[dict]:
        return [{"document": f"Body {i}.\nMore.", "summary": f"Summary {i}.", "id": i} for i in ids[split][:n]]

    hub = write_hub_folder(
        tmp_path / "hub" / xsum.HUB_DATA_DIR,
        {"train": fixture_rows("train", 60), "validation": fixture_rows("validation", 20), "test": subset},
    )
    manifest = prepare("xsum", {"split": "lowdata", "size": 50, "source": "hub", "hub_id": str(hub.parent)},
                       xsum_root, tmp_path / "out")  # fmt: skip
    assert manifest["inputs"]["articles"]["test"]["rows"] == 1000
    test = io.read_jsonl(tmp_path / "out" / "test.jsonl")
    by_id = {str(r["id"]): r for r in subset}
    assert len(test) == 1000 and [r["id"] for r in test] == sorted(
        (r["id"] for r in test), key=lambda i: ids["test"].index(i[5:])
    )
    for row in test:
        article = by_id[row["id"][len("test-") :]]
        assert row["source"] == article["document"].strip() and row["references"] == [article["summary"].strip()]
    # Whole documents: the longest real one is far past the paper's 512-token cut.
    assert max(len(r["source"].split()) for r in test) > 1500

    # Topic splits from the hub need the URL list, which the test writes for the fixture ids.
    (xsum_root / "xsum" / xsum.URLS_FILE).write_text(
        "".join(
            f"http://www.bbc.co.uk/news/{'uk' if int(i) % 2 else 'health'}-{i}\n"
            for i in ids["train"][:60] + ids["validation"][:20]
        )
        + "".join(f"http://www.bbc.co.uk/news/{'world' if r['id'] % 2 else 'health'}-{r['id']}\n" for r in subset),
        encoding="utf-8",
    )  # fmt: skip
    try:
        manifest = prepare("xsum", {"split": "within-news", "source": "hub", "hub_id": str(hub.parent)}, xsum_root,
                           tmp_path / "topics")  # fmt: skip
    finally:
        (xsum_root / "xsum" / xsum.URLS_FILE).unlink()
    train = io.read_jsonl(tmp_path / "topics" / "train.jsonl")
    test = io.read_jsonl(tmp_path / "topics" / "test.jsonl")
    assert train and {r["topic"] for r in train} == {"news/uk"}
    assert {r["topic"] for r in test} == {"news/health"} and len(test) == sum(1 - r["id"] % 2 for r in subset)
    assert manifest["inputs"]["articles"]["urls"]["checked"].startswith("none")


def test_registry_and_describe() -> None:
    assert DATASETS["xsum"] is xsum
    info = json.loads(json.dumps(xsum.describe()))
    assert info["paper_lowdata_sizes"] == [50, 100, 200, 500] and "512" in info["source_truncation"]
