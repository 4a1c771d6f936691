"""Evaluation benchmarks: load GSM8K, MATH-500, ARC-Challenge, StrategyQA and the toy world's test split
(``tinygsm``) into one record schema.

Every loader returns a list of :class:`BenchmarkItem` dicts::

    {"id", "question", "answer", "solution", "choices", "answer_type", "source", "meta"}

``answer`` is always the gold FINAL answer as a string (a number, a LaTeX expression, a choice letter
``"A"``..., or ``"yes"``/``"no"``); ``source`` is the benchmark name (the registry key), so
:func:`format_prompt` can find the benchmark's prompt template from an item alone. ``meta`` holds small
set-specific extras (MATH subject/level, ARC's original answer label) and may be empty.

Data comes from the Hugging Face hub by default (``datasets.load_dataset(hub_id, hub_config,
split=split)``) or from a local copy passed as ``path=`` (.jsonl, .json, .parquet, or a folder written
by ``datasets.save_to_disk``). New benchmarks plug in through :func:`register_benchmark`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypedDict

from data.records import PROMPT_SUFFIX

AnswerType = Literal["number", "expression", "choice", "yesno"]
ANSWER_TYPES: tuple[str, ...] = ("number", "expression", "choice", "yesno")


class BenchmarkItem(TypedDict):
    """One evaluation item; the schema shared by every benchmark."""

    id: str
    question: str
    answer: str
    solution: str | None
    choices: list[str] | None
    answer_type: str
    source: str
    meta: dict[str, Any]


# --------------------------------------------------------------------------------------------------
# Prompt templates. Placeholders {question}, {choices} and {letters} are replaced in ONE literal pass
# (not str.format), so LaTeX braces such as \boxed{} need no escaping and braces inside a question
# are never re-interpreted.
# --------------------------------------------------------------------------------------------------

MATH_TEMPLATE = "{question}\n\nPlease reason step by step, and put your final answer within \\boxed{}."
CHOICE_TEMPLATE = (
    "{question}\n\n{choices}\n\n"
    "Please reason step by step, and put only the letter of the correct option ({letters}) "
    "within \\boxed{}."
)
YESNO_TEMPLATE = (
    "{question}\n\nPlease reason step by step, and finish with your final answer as \\boxed{yes} or \\boxed{no}."
)
DEFAULT_TEMPLATES: dict[str, str] = {
    "number": MATH_TEMPLATE,
    "expression": MATH_TEMPLATE,
    "choice": CHOICE_TEMPLATE,
    "yesno": YESNO_TEMPLATE,
}

_PLACEHOLDER = re.compile(r"\{(question|choices|letters)\}")


@dataclass(frozen=True)
class BenchmarkSpec:
    """How to fetch one benchmark and turn its raw rows into :class:`BenchmarkItem` fields.

    ``to_record(row)`` returns a dict with ``question``, ``answer`` and optionally ``solution``,
    ``choices`` and ``meta``; :func:`load_benchmark` adds ``id``, ``answer_type`` and ``source``.
    ``id_field`` names the set's own unique id column (used when present on every row and unique,
    else ids are ``f"{name}-{index}"``). ``hub_id=None`` means there is no hub copy: pass ``path=``
    or give ``load_rows``, a zero-argument callable returning the raw rows (e.g. a generated set).
    """

    name: str
    hub_id: str | None
    hub_config: str | None
    split: str
    answer_type: AnswerType
    prompt_template: str
    to_record: Callable[[dict[str, Any]], dict[str, Any]]
    id_field: str | None = None
    description: str = ""
    load_rows: Callable[[], list[dict[str, Any]]] | None = None


BENCHMARKS: dict[str, BenchmarkSpec] = {}


def register_benchmark(spec: BenchmarkSpec, overwrite: bool = False) -> BenchmarkSpec:
    """Add ``spec`` to :data:`BENCHMARKS`; a taken name is an error unless ``overwrite=True``."""
    if spec.answer_type not in ANSWER_TYPES:
        raise ValueError(
            f"benchmark {spec.name!r}: answer_type {spec.answer_type!r} is not one of {list(ANSWER_TYPES)}"
        )
    if spec.name in BENCHMARKS and not overwrite:
        raise ValueError(f"benchmark {spec.name!r} is already registered; pass overwrite=True to replace it")
    BENCHMARKS[spec.name] = spec
    return spec


def get_spec(name: str) -> BenchmarkSpec:
    """Return the registered spec for ``name`` or raise ValueError listing the valid names."""
    try:
        return BENCHMARKS[name]
    except KeyError:
        raise ValueError(f"unknown benchmark {name!r}; valid names: {sorted(BENCHMARKS)}") from None


# --------------------------------------------------------------------------------------------------
# Row converters, one per published schema.
# --------------------------------------------------------------------------------------------------

_GSM8K_CALC = re.compile(r"<<[^<>]*>>")  # GSM8K calculator annotations such as <<16-3-4=9>>


def parse_gsm8k_answer(text: str) -> str:
    """Gold final answer of a GSM8K solution: the text after ``#### ``, thousands commas removed."""
    if "####" not in text:
        raise ValueError(f"GSM8K answer has no '####' final-answer marker: {text[-80:]!r}")
    return text.rsplit("####", 1)[1].strip().replace(",", "")


def _gsm8k_record(row: dict[str, Any]) -> dict[str, Any]:
    answer_text = str(row["answer"])
    worked = answer_text.rsplit("####", 1)[0] if "####" in answer_text else answer_text
    return {
        "question": str(row["question"]).strip(),
        "answer": parse_gsm8k_answer(answer_text),
        # Worked solution with the calculator annotations and the '#### N' line removed.
        "solution": _GSM8K_CALC.sub("", worked).strip() or None,
    }


def _math500_record(row: dict[str, Any]) -> dict[str, Any]:
    question = row["problem"] if "problem" in row else row["question"]
    meta = {k: row[k] for k in ("subject", "level") if row.get(k) is not None}
    return {
        "question": str(question).strip(),
        "answer": str(row["answer"]).strip(),
        "solution": row.get("solution"),
        "meta": meta,
    }


def normalize_choice_label(label: Any) -> str:
    """Map an answer/choice label to a letter: ``"b"``→``"B"``, ``"2"``/``2``→``"B"`` (1-based)."""
    text = str(label).strip().strip("().").strip()
    if text.isdigit() and 1 <= int(text) <= 26:
        return chr(ord("A") + int(text) - 1)
    if len(text) == 1 and text.isalpha() and text.isascii():
        return text.upper()
    raise ValueError(f"choice label {label!r} is neither a letter A-Z nor a number 1-26")


def _arc_record(row: dict[str, Any]) -> dict[str, Any]:
    question, choices = row["question"], row.get("choices")
    if isinstance(question, dict):  # original ARC jsonl: {"question": {"stem", "choices": [...]}}
        choices = question.get("choices", choices)
        question = question["stem"]
    if isinstance(choices, dict):  # hub schema: {"text": [...], "label": [...]}
        pairs = list(zip(choices["label"], choices["text"]))
        if len(choices["label"]) != len(choices["text"]):
            raise ValueError(f"choices has {len(choices['label'])} labels but {len(choices['text'])} texts")
    elif isinstance(choices, list):  # list of {"label", "text"}
        pairs = [(c["label"], c["text"]) for c in choices]
    else:
        raise ValueError(f"choices must be a {{'text', 'label'}} dict or a list, got {type(choices).__name__}")
    labelled = sorted((normalize_choice_label(lab), str(txt).strip()) for lab, txt in pairs)
    letters = [lab for lab, _ in labelled]
    expected = [chr(ord("A") + i) for i in range(len(labelled))]
    if letters != expected:
        raise ValueError(f"choice labels {letters} are not consecutive letters {expected}")
    gold = normalize_choice_label(row["answerKey"])
    if gold not in letters:
        raise ValueError(f"answerKey {row['answerKey']!r} is not among the choice labels {letters}")
    return {
        "question": str(question).strip(),
        "answer": gold,
        "choices": [txt for _, txt in labelled],
        "meta": {"answer_label": str(row["answerKey"])},
    }


_YES = {"yes", "true", "1", "y", "t"}
_NO = {"no", "false", "0", "n", "f"}


def normalize_yesno(value: Any) -> str:
    """Map a bool / 0-1 / "True" / "yes"-style gold to ``"yes"`` or ``"no"``."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value).strip().lower()
    if text in _YES:
        return "yes"
    if text in _NO:
        return "no"
    raise ValueError(f"yes/no answer {value!r} is not one of true/false, yes/no, 1/0")


def _join_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        parts = [str(v).strip() for v in value if str(v).strip()]
        return " ".join(parts) or None
    return str(value).strip() or None


def _strategyqa_record(row: dict[str, Any]) -> dict[str, Any]:
    # ChilleD/StrategyQA and tasksource/strategy-qa (original release) share question/answer(bool);
    # `facts` is a string in one and a list of strings in the other. Facts serve as the gold rationale.
    question = row["question"] if "question" in row else row["input"]
    answer = row["answer"] if "answer" in row else row["target"]
    meta = {k: row[k] for k in ("term",) if row.get(k)}
    return {
        "question": str(question).strip(),
        "answer": normalize_yesno(answer),
        "solution": _join_text(row.get("facts")),
        "meta": meta,
    }


register_benchmark(
    BenchmarkSpec(
        name="gsm8k",
        hub_id="openai/gsm8k",
        hub_config="main",
        split="test",
        answer_type="number",
        prompt_template=MATH_TEMPLATE,
        to_record=_gsm8k_record,
        description="GSM8K test split, 1,319 grade-school word problems; gold is the number after '####'.",
    )
)
register_benchmark(
    BenchmarkSpec(
        name="math500",
        hub_id="HuggingFaceH4/MATH-500",
        hub_config=None,
        split="test",
        answer_type="expression",
        prompt_template=MATH_TEMPLATE,
        to_record=_math500_record,
        id_field="unique_id",
        description="MATH-500 (PRM800K test subset of MATH), 500 problems; gold is a LaTeX expression.",
    )
)
register_benchmark(
    BenchmarkSpec(
        name="arc_challenge",
        hub_id="allenai/ai2_arc",
        hub_config="ARC-Challenge",
        split="test",
        answer_type="choice",
        prompt_template=CHOICE_TEMPLATE,
        to_record=_arc_record,
        id_field="id",
        description="ARC-Challenge test split, grade-school science multiple choice (3-5 options).",
    )
)
register_benchmark(
    BenchmarkSpec(
        name="strategyqa",
        hub_id="ChilleD/StrategyQA",
        hub_config=None,
        split="test",
        answer_type="yesno",
        prompt_template=YESNO_TEMPLATE,
        to_record=_strategyqa_record,
        id_field="qid",
        description="StrategyQA yes/no questions needing implicit multi-step reasoning.",
    )
)
# The embedded default: the toy world's held-out test split, prompted exactly as the pipeline's eval stage
# prompts it (question + the records' "\boxed{}" instruction), so a tiny checkpoint sees its training format.
TINYGSM_TEMPLATE = "{question}" + PROMPT_SUFFIX


DEFAULT_WORLD = Path(__file__).resolve().parents[1] / "conf" / "data" / "toy.yaml"


def _toy_test_rows() -> list[dict[str, Any]]:
    """The toy world's test split under the default world config (the preset conf/data/toy.yaml, read here: it is
    the one source of the world's values); another world's split is read with ``path=`` (the pipeline's data stage
    writes it as ``test.jsonl``)."""
    from dataclasses import fields

    from omegaconf import OmegaConf

    from data.toy_world import ToyWorld, ToyWorldConfig

    preset = OmegaConf.to_container(OmegaConf.load(DEFAULT_WORLD), resolve=True)
    return ToyWorld(ToyWorldConfig(**{f.name: preset[f.name] for f in fields(ToyWorldConfig)})).problems("test")


def _tinygsm_record(row: dict[str, Any]) -> dict[str, Any]:
    record = _gsm8k_record(row)  # toy problems are GSM8K records: worked solution ending '#### N'
    record["meta"] = {k: row[k] for k in ("n_steps",) if row.get(k) is not None}
    return record


register_benchmark(
    BenchmarkSpec(
        name="tinygsm",
        hub_id=None,
        hub_config=None,
        split="test",
        answer_type="number",
        prompt_template=TINYGSM_TEMPLATE,
        to_record=_tinygsm_record,
        id_field="id",
        load_rows=_toy_test_rows,
        description="Toy world test split (500 multi-step arithmetic word problems, GSM8K format); no hub copy.",
    )
)


# --------------------------------------------------------------------------------------------------
# Reading raw rows.
# --------------------------------------------------------------------------------------------------


def _read_json_file(path: Path, split: str) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return _read_jsonl_text(text, path)  # JSON lines stored under a .json name
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        for key in (split, "data", "rows", "examples"):
            if isinstance(data.get(key), list):
                return data[key]
        columns = list(data.values())
        if columns and all(isinstance(c, list) for c in columns) and len({len(c) for c in columns}) == 1:
            return [dict(zip(data, values)) for values in zip(*columns)]  # column-oriented JSON
    raise ValueError(
        f"{path}: expected a JSON list of rows, a dict holding a list under {split!r}/'data', "
        f"or column lists; got {type(data).__name__}"
    )


def _read_jsonl_text(text: str, path: Path) -> list[dict[str, Any]]:
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{lineno}: not valid JSON ({err.msg})") from None
    return rows


def _read_saved_dataset(path: Path, split: str) -> list[dict[str, Any]]:
    import datasets

    loaded = datasets.load_from_disk(str(path))
    if isinstance(loaded, datasets.DatasetDict):
        if split in loaded:
            loaded = loaded[split]
        elif len(loaded) == 1:
            loaded = next(iter(loaded.values()))
        else:
            raise ValueError(f"{path}: no split {split!r}; available splits: {sorted(loaded)}")
    return [dict(row) for row in loaded]


def read_local_rows(path: str | Path, split: str = "test") -> list[dict[str, Any]]:
    """Raw rows of a local copy: .jsonl, .json, .parquet, or a ``datasets.save_to_disk`` folder."""
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"benchmark file {str(p)!r} does not exist")
    if p.is_dir():
        if (p / "dataset_info.json").exists() or (p / "dataset_dict.json").exists() or (p / "state.json").exists():
            return _read_saved_dataset(p, split)
        raise ValueError(
            f"{p} is a folder but not one written by datasets.save_to_disk "
            "(no dataset_dict.json/state.json); pass the .jsonl/.json/.parquet file instead"
        )
    suffix = p.suffix.lower()
    if suffix == ".jsonl":
        return _read_jsonl_text(p.read_text(encoding="utf-8"), p)
    if suffix == ".json":
        return _read_json_file(p, split)
    if suffix == ".parquet":
        import pyarrow.parquet as pq  # a dependency of `datasets`

        return pq.read_table(p).to_pylist()
    raise ValueError(f"unsupported benchmark file type {suffix!r} for {p}; use .jsonl, .json or .parquet")


def read_hub_rows(
    hub_id: str, hub_config: str | None, split: str, what: str, local_option: str = "path="
) -> list[dict[str, Any]]:
    """Raw rows of one split of a hub dataset (or its local cache); RuntimeError in one line naming `what` (e.g.
    ``benchmark 'gsm8k'``) and the local-file option (`local_option`) when it cannot be loaded."""
    import datasets

    try:
        loaded = datasets.load_dataset(hub_id, hub_config, split=split)
    except Exception as err:  # offline / not cached / unreachable: one clear line, cause chained
        cause = (str(err).splitlines() or [""])[0][:200]
        config = f" (config {hub_config!r}, split {split!r})" if hub_config else f" (split {split!r})"
        raise RuntimeError(
            f"{what}: could not load {hub_id!r}{config} from the Hugging Face hub "
            f"and it is not in the local cache; pass {local_option} to a local copy "
            f"(.jsonl/.json/.parquet or a save_to_disk folder) [{type(err).__name__}: {cause}]"
        ) from err
    return [dict(row) for row in loaded]


def _read_hub_rows(spec: BenchmarkSpec) -> list[dict[str, Any]]:
    return read_hub_rows(str(spec.hub_id), spec.hub_config, spec.split, f"benchmark {spec.name!r}")


# --------------------------------------------------------------------------------------------------
# Public loader.
# --------------------------------------------------------------------------------------------------


def _item_ids(spec: BenchmarkSpec, rows: list[dict[str, Any]]) -> list[str]:
    if spec.id_field:
        native = [row.get(spec.id_field) for row in rows]
        if all(isinstance(v, (str, int)) and str(v).strip() for v in native):
            ids = [str(v).strip() for v in native]
            if len(set(ids)) == len(ids):
                return ids
    return [f"{spec.name}-{i}" for i in range(len(rows))]


def records_from_rows(name: str, rows: list[dict[str, Any]]) -> list[BenchmarkItem]:
    """Convert raw rows of benchmark ``name`` into :class:`BenchmarkItem` records (all rows)."""
    spec = get_spec(name)
    ids = _item_ids(spec, rows)
    items: list[BenchmarkItem] = []
    for index, (row, item_id) in enumerate(zip(rows, ids)):
        try:
            rec = spec.to_record(row)
        except (KeyError, ValueError, TypeError, AttributeError) as err:
            keys = sorted(row) if isinstance(row, dict) else type(row).__name__
            raise ValueError(
                f"benchmark {name!r}, row {index}: cannot read it ({type(err).__name__}: {err}); row fields: {keys}"
            ) from err
        items.append(
            BenchmarkItem(
                id=item_id,
                question=rec["question"],
                answer=rec["answer"],
                solution=rec.get("solution"),
                choices=rec.get("choices"),
                answer_type=spec.answer_type,
                source=spec.name,
                meta=dict(rec.get("meta") or {}),
            )
        )
    return items


def load_benchmark(name: str, path: str | Path | None = None, limit: int | None = None) -> list[BenchmarkItem]:
    """Load benchmark ``name`` as a list of :class:`BenchmarkItem` dicts.

    ``path``: a local copy (.jsonl/.json/.parquet file or a ``datasets.save_to_disk`` folder);
    ``None`` loads ``spec.hub_id`` from the hub (or its cache). ``limit`` keeps the first N items;
    ids are computed on the full set first, so they do not depend on ``limit``.
    """
    spec = get_spec(name)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be None or a non-negative int, got {limit!r}")
    if path is not None:
        rows = read_local_rows(path, spec.split)
    elif spec.load_rows is not None:
        rows = list(spec.load_rows())
    elif spec.hub_id is None:
        raise ValueError(f"benchmark {name!r} has no hub copy; pass path= to a local file")
    else:
        rows = _read_hub_rows(spec)
    items = records_from_rows(name, rows)
    return items if limit is None else items[:limit]


def format_choices(choices: list[str]) -> str:
    """Render options as ``(A) text`` lines."""
    return "\n".join(f"({chr(ord('A') + i)}) {text}" for i, text in enumerate(choices))


def _letters_phrase(n: int) -> str:
    letters = [chr(ord("A") + i) for i in range(n)]
    return letters[0] if n == 1 else ", ".join(letters[:-1]) + " or " + letters[-1]


def format_prompt(item: dict[str, Any], template: str | None = None) -> str:
    """The user prompt for ``item``.

    ``template`` overrides the benchmark's own template (found via ``item["source"]``; unregistered
    sources fall back to the default template of ``item["answer_type"]``). Placeholders:
    ``{question}``, ``{choices}`` (``(A) …`` lines) and ``{letters}`` (``"A, B, C or D"``).
    """
    if template is None:
        spec = BENCHMARKS.get(str(item.get("source")))
        if spec is not None:
            template = spec.prompt_template
        else:
            answer_type = item.get("answer_type")
            if answer_type not in DEFAULT_TEMPLATES:
                raise ValueError(
                    f"item {item.get('id')!r}: answer_type {answer_type!r} is not one of "
                    f"{list(DEFAULT_TEMPLATES)} and source {item.get('source')!r} is not registered"
                )
            template = DEFAULT_TEMPLATES[answer_type]
    choices = item.get("choices") or []
    if "{choices}" in template and not choices:
        raise ValueError(f"item {item.get('id')!r}: template uses {{choices}} but the item has no choices")
    values = {
        "question": str(item["question"]),
        "choices": format_choices(choices),
        "letters": _letters_phrase(len(choices)) if choices else "",
    }
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)
