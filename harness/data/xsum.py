"""XSUM (Narayan et al. 2018): the official split ids, articles from the release or the hub, and the
Prefix-Tuning paper's low-data and topic (extrapolation) splits, rebuilt deterministically.

Inputs under `<data_root>/xsum/`:
- `XSum-TRAINING-DEV-TEST-SPLIT-90-5-5.json`, the official ids (204,045 / 11,332 / 11,334); pinned sha256.
- Articles: `bbc-summary-data/<id>.summary` (the official XSUM-EMNLP18-Summary-Data-Original.tar.gz,
  extracted), read as the Hugging Face `xsum` loader reads them (share/follow boilerplate lines
  dropped; FIRST-SENTENCE is the summary, RESTBODY the document); or, with `source: hub`, the hub's
  `xsum`, which is those files read that way. An id whose article is missing or empty is left out
  and listed in the manifest (the hub has 204,017 / 11,327 / 11,333 of the ids).
- URLs (topic splits only): the `[SN]URL[SN]` line of each .summary file; with `source: hub`,
  `XSum-WebArxiveUrls.txt` from the XSum repository (the hub has no URLs). An id is the trailing
  digits of its URL.

Documents are kept whole, sentences on separate lines as the release has them: truncating to 512
source tokens, as the paper's BART runs did (train_bart.py max_source_length), is the model's job at
training time, because the cut depends on its tokeniser.

Splits (`split`):
- `full`: the official split.
- `lowdata` (`size`, `subsample_seed`): `size` training articles and round(0.3 * size) dev articles
  drawn by a generator seeded with (size, seed), as the paper's 50/100/200/500 x 5 subsamples (its own
  draws were never released); full test set.
- `news-sports`: train and dev on the official train / dev articles whose topic is news, test on the
  official test articles whose topic is sport.
- `within-news`: train and dev on news/uk, news/world and news/business; test on every other news topic.

Topics come from the URL (`topic_rule`). `prefix-tuning` is the Prefix-Tuning repo's
`topic_url_process.process_url`, ported line for line: the last three path segments; if the last is a
number it is dropped, otherwise it is replaced by its first hyphen-separated word; a segment holding
"www" (the host) is dropped. So `.../news/uk-england-london-123` -> (news, uk), `.../sport/football/123`
-> (sport, football), `.../news/123` -> (news,), but `.../sport/0/football/123` -> (0, football), which
is in neither domain. `section` reads the path after the host instead: numeric segments dropped, the
first segment is the section and the first hyphen word of the next one the subsection, so that URL is
(sport, football). The repo also sampled 8,000 test articles with an unseeded generator (not
reproducible); here the test split is every official test article of the test domain
(`test_examples` keeps the first N).
"""

from __future__ import annotations

import json
import os
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from harness.data import paths
from harness.data.output import write_prepared
from harness.data.sources import KNOBS, Knobs, ReleaseFile, check_params, hub_rows, official_file, one_of
from harness.data.splits import selection_record
from harness.errors import ConfigError, DataError

NAME = "xsum"
FOLDER = "xsum"
FORMAT_VERSION = 1
LICENCE = "research use (the BBC articles' copyright stays with the BBC; see the XSum repository)"
REPO = "the EdinburghNLP/XSum repository (github.com/EdinburghNLP/XSum, folder XSum-Dataset/)"

SPLIT_FILE = "XSum-TRAINING-DEV-TEST-SPLIT-90-5-5.json"
SPLIT_SHA256 = "9c0c5d8f048a90bd68b19a34e4c30577ed270d3247b2119fa06a04ef46292068"
SPLIT_SIZES = {"train": 204045, "validation": 11332, "test": 11334}
OUR_SPLITS = {"train": "train", "dev": "validation", "test": "test"}  # ours -> the split file's (and hub's)
ARTICLES_DIR = "bbc-summary-data"
ARTICLES_ARCHIVE = "XSUM-EMNLP18-Summary-Data-Original.tar.gz"
URLS_FILE = "XSum-WebArxiveUrls.txt"
# Lines the Hugging Face `xsum` loader drops from a .summary file (share buttons and the like).
REMOVE_LINES = frozenset(
    line + "\n"
    for line in (
        "Share this with", "Email", "Facebook", "Messenger", "Twitter", "Pinterest", "WhatsApp", "Linkedin",
        "LinkedIn", "Copy this link", "These are external links and will open in a new window",
    )
)  # fmt: skip

# The hub's parquet export of `xsum` (main holds a loading script, which `datasets` >= 4 no longer
# runs). Not checked against the live hub from here (no network): `hub_id` overrides it.
HUB_ID, HUB_REVISION, HUB_DATA_DIR = "EdinburghNLP/xsum", "refs/convert/parquet", "default"

SPLITS = ("full", "lowdata", "news-sports", "within-news")
TOPIC_SPLITS = ("news-sports", "within-news")
TOPIC_RULES = ("prefix-tuning", "section")
WITHIN_NEWS_TRAIN = (("news", "uk"), ("news", "world"), ("news", "business"))
PAPER_LOWDATA_SIZES = (50, 100, 200, 500)  # Li & Liang 2021, sec. 7.3: 5 subsamples per size
LOWDATA_DEV_RATIO = 0.3
PAPER_MAX_SOURCE_TOKENS = 512  # BART-large, train_bart.py --max_source_length
PARAMS = ("split", "size", "topic_rule", *KNOBS)


@dataclass(frozen=True)
class Article:
    summary: str
    document: str
    url: str | None = None


# --- topics -----------------------------------------------------------------------------


def url_topic(url: str, rule: str = "prefix-tuning") -> tuple[str, ...]:
    """The topic of a BBC article from its URL, by `rule` (see the module docstring)."""
    url = url.strip().strip("/")
    if rule == "section":
        segments = [s for s in url.rsplit("://", 1)[-1].split("/")[1:] if s and not s.isdigit()]
        return tuple(segments[:1] + [segments[1].split("-")[0]] if len(segments) > 1 else segments[:1])
    keywords = url.split("/")[-3:]
    if keywords[-1].isdigit():
        if "www" in keywords[0]:
            del keywords[0]
        keywords = keywords[:-1]
    else:
        detailed_topic = keywords[-1].split("-")[:-1]
        if "www" in keywords[0]:
            del keywords[0]
        keywords = keywords[:-1] + detailed_topic[:1]
    return tuple(k for k in keywords if k)


def in_domain(split: str, part: str, topic: tuple[str, ...]) -> bool:
    """Whether an article of `topic` belongs to the train side ("train"/"dev") or the test side of `split`."""
    if split == "news-sports":
        return topic[:1] == (("news",) if part != "test" else ("sport",))
    is_train_topic = topic[:2] in WITHIN_NEWS_TRAIN
    return topic[:1] == ("news",) and (is_train_topic if part != "test" else not is_train_topic)


def url_id(url: str) -> str | None:
    """The BBC id of an article URL: its trailing digits."""
    match = re.search(r"(\d+)/?\s*$", url)
    return match.group(1) if match else None


# --- official files ---------------------------------------------------------------------


def folder(root: Path) -> Path:
    return root / FOLDER


def read_split_ids(root: Path) -> tuple[dict[str, list[str]], dict]:
    path, record = official_file(
        root,
        ReleaseFile(f"{FOLDER}/{SPLIT_FILE}", sha256=SPLIT_SHA256),
        what="XSUM split ids",
        how_to_get=f"Download XSum-Dataset/{SPLIT_FILE} from {REPO} into {folder(root)}.",
        hub_id=HUB_ID,
    )
    ids = json.loads(path.read_text(encoding="utf-8"))
    return {split: [str(i) for i in ids[split]] for split in SPLIT_SIZES}, record


def parse_summary_file(text: str, where: str) -> Article:
    """A .summary file as the Hugging Face loader reads it: boilerplate and blank lines dropped, then
    [SN]URL[SN] / [SN]FIRST-SENTENCE[SN] (the summary) / [SN]RESTBODY[SN] (the document)."""
    kept = "".join(line for line in text.splitlines(keepends=True) if line not in REMOVE_LINES and line.strip())
    parts = re.split(r"\[SN\]([A-Z-]+)\[SN\]", kept)
    fields = {name: value.strip() for name, value in zip(parts[1::2], parts[2::2], strict=True)}
    missing = [f for f in ("URL", "FIRST-SENTENCE", "RESTBODY") if f not in fields]
    if missing:
        raise DataError(f"{where} has no {missing} section(s); it is not an XSUM .summary file.")
    return Article(fields["FIRST-SENTENCE"], fields["RESTBODY"], fields["URL"])


class OfficialArticles:
    """Articles read on demand from `<root>/xsum/bbc-summary-data/<id>.summary`."""

    def __init__(self, root: Path):
        self.dir = folder(root) / ARTICLES_DIR
        if not self.dir.is_dir():
            raise DataError(
                f"XSUM articles not found: expected {self.dir}/<id>.summary. Get {ARTICLES_ARCHIVE} (see {REPO}; "
                f"the Hugging Face `xsum` loader downloads it) and `tar -xzf` it in {folder(root)}, or point "
                f"{paths.ENV_VAR} (or the config's data_dir) at a folder holding {FOLDER}/{ARTICLES_DIR}/, or set "
                f"`source: hub` to load {HUB_ID} from the Hugging Face hub."
            )
        # One directory listing instead of a stat per id (226,711 of them).
        self.present = {name[: -len(".summary")] for name in os.listdir(self.dir) if name.endswith(".summary")}
        self.cache: dict[str, Article] = {}

    def get(self, bbc_id: str) -> Article | None:
        if bbc_id not in self.present:
            return None
        if bbc_id not in self.cache:
            path = self.dir / f"{bbc_id}.summary"
            self.cache[bbc_id] = parse_summary_file(path.read_text(encoding="utf-8"), str(path))
        return self.cache[bbc_id]

    def record(self) -> dict:
        return {"path": str(self.dir), "files_read": len(self.cache), "checked": "none (no published checksum)"}


class HubArticles:
    """Articles of the hub's `xsum`, by id; URLs, when needed, from XSum-WebArxiveUrls.txt."""

    def __init__(self, root: Path, hub_id: str, needs_urls: bool):
        self.articles: dict[str, Article] = {}
        self.records = {}
        for split, hub_split in OUR_SPLITS.items():
            rows, self.records[split] = hub_rows(hub_id, hub_split, data_dir=HUB_DATA_DIR, revision=HUB_REVISION)
            self.articles.update({str(r["id"]): Article(r["summary"].strip(), r["document"].strip()) for r in rows})
        self.urls: dict[str, str] = {}
        if needs_urls:
            path, self.records["urls"] = official_file(
                root,
                ReleaseFile(f"{FOLDER}/{URLS_FILE}"),
                what="XSUM article URLs (the hub's xsum has none; topic splits need them)",
                how_to_get=f"Download XSum-Dataset/{URLS_FILE} from {REPO} into {folder(root)}.",
                hub_id=HUB_ID,
            )
            lines = path.read_text(encoding="utf-8").splitlines()
            self.urls = {bbc_id: line.strip() for line in lines if (bbc_id := url_id(line))}

    def get(self, bbc_id: str) -> Article | None:
        article = self.articles.get(bbc_id)
        if article is None or not self.urls:
            return article
        return Article(article.summary, article.document, self.urls.get(bbc_id))

    def record(self) -> dict:
        return self.records


# --- params -----------------------------------------------------------------------------


def normalize_params(params: dict | None) -> tuple[dict, Knobs]:
    """(XSUM's own params with defaults filled in, the shared knobs); ConfigError naming any bad one."""
    params = check_params("XSUM", params, PARAMS)
    own = {key: params.get(key) for key in ("split", "size", "topic_rule")}
    own["split"] = one_of("XSUM", "split", own["split"] or "full", SPLITS)
    knobs = Knobs.from_params("XSUM", params)
    if (own["split"] == "lowdata") != (own["size"] is not None):
        raise ConfigError(
            f"XSUM `size` goes with split 'lowdata' and only with it (got split={own['split']!r}, "
            f"size={own['size']!r}); the paper's sizes are {list(PAPER_LOWDATA_SIZES)}."
        )
    size = own["size"]
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise ConfigError(f"XSUM size must be a positive integer, got {size!r}.")
    if own["split"] in TOPIC_SPLITS:
        own["topic_rule"] = one_of("XSUM", "topic_rule", own["topic_rule"] or "prefix-tuning", TOPIC_RULES)
    elif own["topic_rule"] is not None:
        raise ConfigError(f"XSUM `topic_rule` goes with the topic splits {list(TOPIC_SPLITS)} only.")
    return own, knobs


def variant_name(params: dict | None) -> str:
    """Folder name of a data variant: "full", "lowdata-100-s0", "news-sports", "within-news-section", ..."""
    own, knobs = normalize_params(params)
    split = own["split"]
    if split == "lowdata":  # the seed names the subsample, so it comes right after the size
        return f"lowdata-{own['size']}-s{knobs.subsample_seed}" + replace(knobs, subsample_seed=0).suffix()
    if split in TOPIC_SPLITS and own["topic_rule"] != "prefix-tuning":
        split += f"-{own['topic_rule']}"
    return split + knobs.suffix()


# --- selection --------------------------------------------------------------------------


def draw(ids: Sequence[str], k: int, usable: Callable[[str], bool], *, seed: int, purpose: str) -> list[int]:
    """Indices of `k` ids with a usable article, drawn by a generator private to (`purpose`, `seed`), sorted.

    The ids are visited in a seeded random order and the first `k` usable ones kept, so an id whose
    article is missing from one source (the hub lacks 34) never moves the rest of the draw, and only
    the visited articles are read.
    """
    rng = random.Random(f"{purpose}/seed={seed}")  # the seeding of splits.sample_indices
    chosen = []
    for i in rng.sample(range(len(ids)), len(ids)):
        if usable(ids[i]):
            chosen.append(i)
            if len(chosen) == k:
                return sorted(chosen)
    raise ConfigError(f"cannot draw {k} articles for {purpose}: only {len(chosen)} are available; lower `size`.")


def select(own: dict, knobs: Knobs, ids: dict[str, list[str]], get: Callable[[str], Article | None]) -> dict:
    """{our split: indices into the split file's id list} for the variant."""
    split = own["split"]

    def usable(bbc_id: str) -> bool:
        article = get(bbc_id)
        return article is not None and bool(article.document)

    if split == "lowdata":
        size, seed = own["size"], knobs.subsample_seed
        sizes = {"train": size, "dev": max(1, round(LOWDATA_DEV_RATIO * size))}
        chosen = {
            part: draw(ids[part], sizes[part], usable, seed=seed, purpose=f"xsum/lowdata-{size}/{part}")
            for part in ("train", "dev")
        }
        return chosen | {"test": [i for i, bbc_id in enumerate(ids["test"]) if usable(bbc_id)]}
    chosen = {}
    for part, part_ids in ids.items():
        keep = [i for i, bbc_id in enumerate(part_ids) if usable(bbc_id)]
        if split in TOPIC_SPLITS:
            keep = [i for i in keep if in_domain(split, part, topic_of(part_ids[i], get, own["topic_rule"]))]
        chosen[part] = keep
    return chosen


def topic_of(bbc_id: str, get: Callable[[str], Article | None], rule: str) -> tuple[str, ...]:
    url = get(bbc_id).url
    if url is None:
        raise DataError(f"no URL for XSUM article {bbc_id}: {URLS_FILE} does not list it; use the official file.")
    return url_topic(url, rule)


# --- prepare ----------------------------------------------------------------------------


def prepare(params: dict | None, root: Path, out_dir: Path) -> dict:
    """Write train/dev/test JSONL and manifest.json for one variant into `out_dir`."""
    own, knobs = normalize_params(params)
    split_ids, split_record = read_split_ids(root)
    ids = {ours: split_ids[theirs] for ours, theirs in OUR_SPLITS.items()}
    if knobs.source == "hub":
        store = HubArticles(root, knobs.hub_id or HUB_ID, needs_urls=own["split"] in TOPIC_SPLITS)
    else:
        store = OfficialArticles(root)
    chosen = select(own, knobs, ids, store.get)
    if not chosen["train"] or not chosen["test"]:
        raise DataError(f"the XSUM {variant_name(params)} split is empty: no article of {store.record()} matched.")

    kept = {part: [chosen[part][i] for i in knobs.sample(part, len(chosen[part]), NAME)] for part in ("train", "dev")}
    kept["test"] = chosen["test"][: knobs.first_examples(len(chosen["test"]), f"the XSUM {own['split']} test set")]
    topic_rule = own["topic_rule"]

    def row(part: str, i: int) -> dict:
        bbc_id = ids[part][i]
        article = store.get(bbc_id)
        out = {"id": f"{part}-{bbc_id}", "source": article.document}
        out |= {"references": [article.summary]} if part == "test" else {"target": article.summary}
        if topic_rule is not None:
            out["topic"] = "/".join(url_topic(article.url, topic_rule))
        return out

    outputs = {f"{part}.jsonl": [row(part, i) for i in kept[part]] for part in ("train", "dev", "test")}
    manifest = {
        "dataset": NAME,
        "split": variant_name(params),
        "params": {**own, **vars(knobs)},
        "format_version": FORMAT_VERSION,
        "source": knobs.source,
        "inputs": {SPLIT_FILE: split_record, "articles": store.record()},
        "selection": {
            part: selection_record(f"{SPLIT_FILE}:{OUR_SPLITS[part]}", kept[part], len(ids[part]))
            for part in ("train", "dev", "test")
        },
        "source_truncation": f"none (the paper's BART cut sources to {PAPER_MAX_SOURCE_TOKENS} tokens when training)",
    }
    return write_prepared(out_dir, outputs, manifest)


def describe() -> dict:
    """What this loader needs and offers (for `python -m harness datasets`)."""
    return {
        "name": NAME,
        "files": {
            SPLIT_FILE: {"sha256": SPLIT_SHA256, "ids": SPLIT_SIZES},
            f"{ARTICLES_DIR}/<id>.summary": {"from": ARTICLES_ARCHIVE, "sha256": None},
            URLS_FILE: {"needed_for": "topic splits with source hub", "sha256": None},
        },
        "expected_under": f"<data_root>/{FOLDER}/",
        "release": REPO,
        "hub": f"{HUB_ID}@{HUB_REVISION} ({HUB_DATA_DIR})",
        "licence": LICENCE,
        "splits": list(SPLITS),
        "params": list(PARAMS),
        "topic_rules": list(TOPIC_RULES),
        "within_news_train_topics": ["/".join(t) for t in WITHIN_NEWS_TRAIN],
        "paper_lowdata_sizes": list(PAPER_LOWDATA_SIZES),
        "lowdata_dev_ratio": LOWDATA_DEV_RATIO,
        "source_truncation": (
            f"documents kept whole; the paper truncated to {PAPER_MAX_SOURCE_TOKENS} source tokens (BART) at "
            "training time, which the model's max_length does here"
        ),
        "outputs": ["train.jsonl", "dev.jsonl", "test.jsonl", "manifest.json"],
    }
