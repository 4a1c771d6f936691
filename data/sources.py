"""Real data sources of the pipeline (conf/data/<name>.yaml next to the toy world): GSM8K, MATH and any hub dataset
with a question and a verifiable answer column, read from the hub or from local files, normalised to the pipeline's
problem records and decontaminated.

A problem record is what the toy world writes and the stages read (data/records.py ProblemRecord)::

    {"id", "question", "answer", "final_answer", "source"}

``answer`` is the set's own answer text (GSM8K's worked solution ending in ``#### N``, MATH's solution, a hub
dataset's answer column), ``final_answer`` the gold final answer as a string. Rows come from ``data.train_path`` /
``data.test_path`` (.jsonl/.json/.parquet or a ``datasets.save_to_disk`` folder, read by
:func:`data.benchmarks.read_local_rows`) or, when a path is null, from the hub split the source names.

The held-out split stays out of training: with ``decontam_ngram`` set (the presets' default), every training problem
that shares a word n-gram with a test question is dropped; the counts of every drop are returned as the data stage's
report.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from data.benchmarks import parse_gsm8k_answer, read_hub_rows, read_local_rows
from data.ngrams import ngrams, normalize

SOURCES = ("toy", "gsm8k", "math", "hf")  # conf/data/<name>.yaml
ANSWER_FORMATS = ("plain", "gsm8k", "boxed")  # how a gold final answer is read from the answer column
SPLITS = ("train", "test")


@dataclass(frozen=True)
class SplitSpec:
    """Where one split comes from on the hub and which columns hold the question and the answer."""

    hub_id: str | None
    hub_config: str | None
    split: str
    question_key: str
    answer_key: str
    answer_format: str  # one of ANSWER_FORMATS


# The fixed sources; `hf` builds its specs from the config (`split_specs`).
FIXED: dict[str, dict[str, SplitSpec]] = {
    "gsm8k": {
        "train": SplitSpec("openai/gsm8k", "main", "train", "question", "answer", "gsm8k"),  # 7,473 problems
        "test": SplitSpec("openai/gsm8k", "main", "test", "question", "answer", "gsm8k"),  # 1,319 problems
    },
    "math": {
        # MATH train (7,500 problems; the gold is the last \boxed{} of the solution) / MATH-500 (its `answer` column)
        "train": SplitSpec("DigitalLearningGmbH/MATH-lighteval", "default", "train", "problem", "solution", "boxed"),
        "test": SplitSpec("HuggingFaceH4/MATH-500", None, "test", "problem", "answer", "plain"),
    },
}
# The registered benchmark (data/benchmarks.py, conf/benchmark/<name>.yaml) each source's test split is: its token
# budget is the eval's when eval.max_new_tokens is null. `hf` has none: data.max_new_tokens.
TEST_BENCHMARK = {"toy": "tinygsm", "gsm8k": "gsm8k", "math": "math500"}


def split_specs(cfg: Mapping[str, Any]) -> dict[str, SplitSpec]:
    """The train and test specs of the source `cfg` (a conf/data node); ValueError for an unknown source or format."""
    name = cfg["name"]
    if name in FIXED:
        return FIXED[name]
    if name != "hf":
        raise ValueError(f"data.name={name!r} is not a real data source; valid: {[s for s in SOURCES if s != 'toy']}")
    if cfg["answer_format"] not in ANSWER_FORMATS:
        raise ValueError(f"data.answer_format={cfg['answer_format']!r} is not valid; valid: {list(ANSWER_FORMATS)}")
    return {
        split: SplitSpec(
            cfg["path"],
            cfg["config"],
            cfg[f"{split}_split"],
            cfg["question_key"],
            cfg["answer_key"],
            cfg["answer_format"],
        )
        for split in SPLITS
    }


def check_source(cfg: Mapping[str, Any]) -> None:
    """What can be checked without reading any row: ValueError when a split has neither a local file nor a hub id."""
    specs = split_specs(cfg)
    for split in SPLITS:
        if cfg[f"{split}_path"] is None and specs[split].hub_id is None:
            raise ValueError(
                f"data={cfg['name']}: the {split} split has no source; set data.path=<hub dataset id> or "
                f"data.{split}_path=<local .jsonl/.json/.parquet>"
            )
        spec = specs[split]
        check_local_columns(
            cfg[f"{split}_path"], [spec.question_key, spec.answer_key], f"data={cfg['name']} ({split} split)"
        )


def local_columns(path: str) -> list[str] | None:
    """The columns of a local data file's first row, read cheaply (a .jsonl's first line, a .parquet's schema, a .json's
    first record); None for a file that is absent or of another kind (the stage that reads it then says why)."""
    import json
    from pathlib import Path

    p = Path(path).expanduser()
    if not p.is_file():
        return None
    suffix = p.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq  # a dependency of `datasets`

        return list(pq.read_schema(p).names)
    if suffix == ".jsonl":
        with open(p, encoding="utf-8") as handle:
            line = next((raw for raw in handle if raw.strip()), None)
        return sorted(json.loads(line)) if line else []
    if suffix == ".json":
        data = json.loads(p.read_text(encoding="utf-8"))
        rows = data if isinstance(data, list) else next((v for v in data.values() if isinstance(v, list)), [data])
        return sorted(rows[0]) if rows and isinstance(rows[0], dict) else []
    return None


def check_local_columns(path: str | None, needed: list[str], where: str) -> None:
    """ValueError naming the `needed` columns a local file's first row lacks and the columns it has (nothing to check
    for no path or an unreadable one)."""
    if path is None:
        return
    have = local_columns(path)
    if have is None:
        return
    missing = [k for k in needed if k not in have]
    if missing:
        raise ValueError(f"{where}: {path} lacks column(s) {missing}; its columns: {sorted(have)}; needed: {needed}")


def check_columns(rows: list[dict[str, Any]], needed: list[str], where: str, hint: str = "") -> None:
    """ValueError naming the columns `needed` that some row of `rows` lacks, and the columns it has."""
    if not rows:
        raise ValueError(f"{where} has no rows")
    for index, row in enumerate(rows):
        missing = [k for k in needed if k not in row]
        if missing:
            raise ValueError(
                f"{where} lacks column(s) {missing} (row {index}); its columns: {sorted(row)}; needed: {needed}{hint}"
            )


def final_answer(value: Any, answer_format: str, last_boxed: Callable[[str], str | None]) -> str | None:
    """The gold final answer read from an answer column value; None when the value holds none."""
    if value is None:
        return None
    text = str(value).strip()
    if answer_format == "gsm8k":
        try:
            return parse_gsm8k_answer(text) or None
        except ValueError:
            return None
    if answer_format == "boxed":
        boxed = last_boxed(text)
        return boxed.strip() if boxed and boxed.strip() else None
    return text or None


def read_split(cfg: Mapping[str, Any], split: str) -> list[dict[str, Any]]:
    """Raw rows of one split: the local file `data.<split>_path` when set, else the hub split."""
    spec = split_specs(cfg)[split]
    path = cfg[f"{split}_path"]
    if path is not None:
        return read_local_rows(path, spec.split)
    check_source(cfg)
    what = f"data={cfg['name']} ({split} split)"
    return read_hub_rows(str(spec.hub_id), spec.hub_config, spec.split, what, local_option=f"data.{split}_path=")


def normalise(
    name: str, split: str, rows: list[dict[str, Any]], spec: SplitSpec, last_boxed: Callable[[str], str | None]
) -> tuple[list[dict[str, Any]], int]:
    """Problem records of `rows` (ids by row position, so they do not depend on filtering) and how many rows had no
    readable final answer (dropped)."""
    hint = "; set data.question_key / data.answer_key" if name == "hf" else ""
    check_columns(rows, [spec.question_key, spec.answer_key], f"data={name}: the {split} split", hint)
    records, no_answer = [], 0
    for index, row in enumerate(rows):
        question = str(row[spec.question_key] or "").strip()
        gold = final_answer(row[spec.answer_key], spec.answer_format, last_boxed)
        if not question or gold is None:
            no_answer += 1
            continue
        records.append(
            {
                "id": f"{name}-{split}-{index}",
                "question": question,
                "answer": str(row[spec.answer_key]).strip(),
                "final_answer": gold,
                "source": name,
            }
        )
    return records, no_answer


def decontaminate(
    train: list[dict[str, Any]], test_questions: list[str], n: int | None
) -> tuple[list[dict[str, Any]], int]:
    """The training problems that share no word `n`-gram with a test question, and how many were dropped (n=None:
    only exact repeats of a test question are dropped)."""
    if n is None:
        held_out = {" ".join(normalize(q)) for q in test_questions}
        kept = [p for p in train if " ".join(normalize(p["question"])) not in held_out]
        return kept, len(train) - len(kept)
    grams: set[tuple[str, ...]] = set()
    for question in test_questions:
        grams |= ngrams(normalize(question), n)
    kept = [p for p in train if not ngrams(normalize(p["question"]), n) & grams]
    return kept, len(train) - len(kept)


def decontaminate_against(
    items: list[dict[str, Any]], key: str, held_out: Mapping[str, list[str]], n: int | None
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """`items` whose `key` text shares no word `n`-gram (n=None: is no verbatim repeat) with a question of any held-out
    set, and how many each set dropped (`{set name: n}`, in the order of `held_out`; an item matching several sets is
    counted under the first)."""
    kept, dropped = list(items), {}
    for name, questions in held_out.items():
        renamed = [{"question": str(item[key]), "index": i} for i, item in enumerate(kept)]
        survivors, dropped[name] = decontaminate(renamed, questions, n)
        kept = [kept[r["index"]] for r in survivors]
    return kept, dropped


def load_source(
    cfg: Mapping[str, Any],
    last_boxed: Callable[[str], str | None],
    benchmarks: Mapping[str, list[str]] | None = None,
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """`({"train": [...], "test": [...]}, report)` for the real source `cfg` (a conf/data node). `last_boxed` reads the
    content of a solution's last `\\boxed{}` (rewards.extract.last_boxed; passed in, data imports nothing of ours).
    Training problems sharing a word `decontam_ngram`-gram with any test question (the whole test split, before
    `n_test`) are dropped, then those sharing one with an item of a `benchmarks` set (`{name: questions}`, the
    pipeline's eval.benchmarks); `n_train` / `n_test` keep the first N of what is left. The report counts every drop,
    per filter: `train.decontam` (the test split) and `train.decontam_benchmarks` ({benchmark: n})."""
    specs = split_specs(cfg)
    records: dict[str, list[dict[str, Any]]] = {}
    report: dict[str, Any] = {}
    for split in SPLITS:
        rows = read_split(cfg, split)
        records[split], no_answer = normalise(cfg["name"], split, rows, specs[split], last_boxed)
        report[split] = {"n_rows": len(rows), "no_answer": no_answer}
    train, dropped = decontaminate(records["train"], [p["question"] for p in records["test"]], cfg["decontam_ngram"])
    report["train"]["decontam"] = dropped
    if benchmarks:
        train, by_set = decontaminate_against(train, "question", benchmarks, cfg["decontam_ngram"])
        report["train"]["decontam_benchmarks"] = by_set
    report["decontam_ngram"] = cfg["decontam_ngram"]
    records["train"] = train[: cfg["n_train"]] if cfg["n_train"] is not None else train
    if cfg["n_test"] is not None:
        records["test"] = records["test"][: cfg["n_test"]]
    for split in SPLITS:
        report[split]["n_kept"] = len(records[split])
        if not records[split]:
            raise ValueError(f"data={cfg['name']}: no {split} problems left ({report[split]}); check the {split} file")
    return records, report
