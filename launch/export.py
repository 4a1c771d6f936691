"""`python -m launch.export model=<checkpoint> [quant=q4|q8|f16|f32]`: one student as a quantized GGUF file.

GGUF is the single-file format llama.cpp, Ollama, LM Studio and llama-cpp-python run on a laptop CPU. The file is
written here with the `gguf` package (llama.cpp's own pure-Python writer and numpy quantizers, from PyPI), straight
from the transformers checkpoint: no llama.cpp build or checkout is needed to export (llama.cpp's
`convert_hf_to_gguf.py` is not on PyPI, and it recognises a BPE pre-tokenizer only by a hash of known hub
tokenizers, which our locally trained toy tokenizer is not). What is written:

* weights: every 2-D matrix as Q4_0 (`quant=q4`, 4.5 bits/weight, block 32), Q8_0, F16 or F32; the token
  embedding (the output head too, when tied) at `embedding_quant` under q4 (default Q8_0); norms and biases F32.
  A matrix whose rows do not split into 32-value blocks is kept at F16 (as llama.cpp's converter does).
* the tokenizer: byte-level BPE vocabulary and merges (`tokenizer.ggml.model=gpt2`), the pre-tokenizer llama.cpp must
  apply (`qwen2` for Qwen's regex; `gpt-2` for the toy tokenizer's digit split + GPT-2 regex, which cut a text the
  same way because its BPE has no merge across a digit), special tokens as CONTROL, other added tokens
  (`<think>`, `</think>`) as USER_DEFINED so they are matched in text and decoded as text, eos/pad ids, no BOS.
* the chat template (`tokenizer.chat_template`), without transformers' `{% generation %}` markers (they only mark
  the assistant's tokens for training and render nothing; other Jinja engines reject them).

Supported architectures: Qwen3ForCausalLM (every student we train: the toy student, Qwen3 hub models) and
Qwen2ForCausalLM (Qwen2.5); anything else is refused before weights are read, naming what is supported. The
file is written to a temporary name beside `out` and renamed over it at the end, so a failed export never
leaves a half-written file where a good one is expected. Knobs: conf/export.yaml.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger("launch.export")
USAGE = "python -m launch.export model=<checkpoint dir or hub id> [quant=q4|q8|f16|f32] [out=<file.gguf>]"

QUANTS = ("q4", "q8", "f16", "f32")
# HF architecture -> GGUF architecture (llama.cpp's name). Both use NEOX RoPE on the HF layout: no permutation.
ARCHITECTURES = {"Qwen3ForCausalLM": "qwen3", "Qwen2ForCausalLM": "qwen2"}
GENERATION_MARKERS = re.compile(r"\{%-?\s*(?:end)?generation\s*-?%\}")
QWEN2_REGEX_START = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"

_LAYER = {
    "input_layernorm": "attn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "self_attn.q_norm": "attn_q_norm",
    "self_attn.k_norm": "attn_k_norm",
    "post_attention_layernorm": "ffn_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
_GLOBAL = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight"}


class ExportError(ValueError):
    """An export refused before anything is written: one line naming the bad value and what is valid."""


# ---- checks -----------------------------------------------------------------------------------------------
def check_quant(quant: Any, key: str = "quant") -> str:
    if quant not in QUANTS:
        raise ExportError(f"{key}={quant!r} is not a supported quantization; valid: {list(QUANTS)}")
    return str(quant)


def check_model_path(model_path: str) -> None:
    """A local path must be a checkpoint folder (config.json, or adapter_config.json for a LoRA adapter); a
    name that is no local path is taken as a hub id (an unreachable one fails when it is loaded)."""
    path = Path(model_path).expanduser()
    looks_local = path.exists() or model_path.startswith((".", "/", "~")) or model_path.count("/") > 1
    if not looks_local:
        return
    if not path.is_dir() or not ((path / "config.json").exists() or (path / "adapter_config.json").exists()):
        what = "does not exist" if not path.exists() else ("is a file" if path.is_file() else "has no config.json")
        raise ExportError(
            f"model={model_path!r} is not a model: the path {what}; valid: a checkpoint folder written by "
            "save_pretrained (config.json + weights, or a LoRA adapter's adapter_config.json) or a hub id"
        )


def check_architecture(config: Any, class_name: str | None = None) -> str:
    """The GGUF architecture for a transformers config (or the loaded model's class name, when the config lists no
    architectures); ExportError for one the export cannot hold."""
    archs = list(getattr(config, "architectures", None) or ([class_name] if class_name else []))
    arch = archs[0] if archs else f"model_type {getattr(config, 'model_type', None)!r}"
    if arch not in ARCHITECTURES:
        raise ExportError(
            f"architecture {arch!r} cannot be exported to GGUF here; valid: {sorted(ARCHITECTURES)} "
            "(the Qwen3 students this project trains, and Qwen2.5)"
        )
    rope = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {}
    rope_type = rope.get("rope_type", rope.get("type", "default")) if isinstance(rope, Mapping) else "default"
    if rope_type not in (None, "default"):
        raise ExportError(f"rope scaling {rope_type!r} of {arch} is not exported; valid: 'default' (no scaling)")
    if getattr(config, "use_sliding_window", False):
        raise ExportError(f"{arch} with use_sliding_window=true is not exported; valid: use_sliding_window=false")
    if getattr(config, "hidden_act", "silu") != "silu":
        raise ExportError(f"hidden_act {config.hidden_act!r} of {arch} is not exported; valid: 'silu'")
    return ARCHITECTURES[arch]


def rope_theta(config: Any) -> float:
    rope = getattr(config, "rope_parameters", None)
    if isinstance(rope, Mapping) and rope.get("rope_theta") is not None:
        return float(rope["rope_theta"])
    return float(getattr(config, "rope_theta", 10000.0))


# ---- tokenizer --------------------------------------------------------------------------------------------
def pre_tokenizer_name(tokenizer_json: Mapping[str, Any]) -> str:
    """llama.cpp's name for the tokenizer's pre-tokenizer; ExportError when it has none that cuts text the same way."""
    pre = tokenizer_json.get("pre_tokenizer") or {}
    parts = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    kinds = [p.get("type") for p in parts]
    if kinds == ["Digits", "ByteLevel"] and parts[0].get("individual_digits") and parts[1].get("use_regex", True):
        return "gpt-2"  # the toy tokenizer (sft/tiny_model.py): its BPE never merges across a digit
    if kinds == ["ByteLevel"] and parts[0].get("use_regex", True):
        return "gpt-2"
    if kinds == ["Split", "ByteLevel"]:
        pattern = (parts[0].get("pattern") or {}).get("Regex", "")
        if pattern.startswith(QWEN2_REGEX_START) and not parts[1].get("use_regex", True):
            return "qwen2"
    raise ExportError(
        f"pre-tokenizer {kinds} is not one llama.cpp applies the same way; valid: the toy tokenizer's "
        "[Digits, ByteLevel], GPT-2's [ByteLevel] or Qwen's [Split(qwen2 regex), ByteLevel]"
    )


def tokenizer_fields(tokenizer: Any, n_vocab: int) -> dict[str, Any]:
    """Tokens, token types, merges, pre-tokenizer and special ids for `gguf.GGUFWriter` (vocab padded to `n_vocab`)."""
    from gguf import TokenType

    data = json.loads(tokenizer.backend_tokenizer.to_str())
    model = data.get("model") or {}
    if model.get("type") != "BPE" or (data.get("decoder") or {}).get("type") != "ByteLevel":
        raise ExportError(
            f"tokenizer model {model.get('type')!r} (decoder {(data.get('decoder') or {}).get('type')!r}) is not "
            "exported; valid: byte-level BPE (model BPE, decoder ByteLevel), as Qwen's and the toy tokenizer"
        )
    vocab = tokenizer.get_vocab()
    if len(vocab) > n_vocab:
        raise ExportError(f"the tokenizer has {len(vocab)} tokens but the model's embedding only {n_vocab} rows")
    added = {t["id"]: bool(t.get("special")) for t in data.get("added_tokens", [])}
    by_id = {i: tok for tok, i in vocab.items()}
    tokens, types = [], []
    for i in range(n_vocab):
        if i not in by_id:
            tokens.append(f"[PAD{i}]")
            types.append(TokenType.UNUSED)
            continue
        tokens.append(by_id[i])
        types.append(
            TokenType.NORMAL if i not in added else (TokenType.CONTROL if added[i] else TokenType.USER_DEFINED)
        )
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    template = tokenizer.chat_template if isinstance(getattr(tokenizer, "chat_template", None), str) else None
    return {
        "tokens": tokens,
        "types": types,
        "merges": merges,
        "pre": pre_tokenizer_name(data),
        "eos": tokenizer.eos_token_id,
        "pad": tokenizer.pad_token_id,
        "chat_template": GENERATION_MARKERS.sub("", template) if template else None,
    }


# ---- tensors ----------------------------------------------------------------------------------------------
def gguf_name(hf_name: str) -> str | None:
    """The GGUF tensor name of a transformers parameter; None for `lm_head.weight` (handled by the caller)."""
    if hf_name in _GLOBAL:
        return _GLOBAL[hf_name]
    if hf_name == "lm_head.weight":
        return None
    match = re.fullmatch(r"model\.layers\.(\d+)\.(.+)\.(weight|bias)", hf_name)
    if match and match.group(2) in _LAYER:
        return f"blk.{match.group(1)}.{_LAYER[match.group(2)]}.{match.group(3)}"
    raise ExportError(f"parameter {hf_name!r} has no GGUF tensor name here; valid: {sorted(_LAYER)} per layer")


def _qtype(name: str) -> Any:
    from gguf import GGMLQuantizationType as Q

    return {"q4": Q.Q4_0, "q8": Q.Q8_0, "f16": Q.F16, "f32": Q.F32}[name]


def tensor_type(gguf_tensor: str, shape: tuple[int, ...], quant: str, embedding_quant: str) -> Any:
    """The GGML type a tensor is stored in: 1-D F32; the embedding at `embedding_quant` under q4; else `quant`,
    falling back to F16 for a row that does not split into 32-value blocks."""
    from gguf import GGMLQuantizationType as Q

    if len(shape) < 2:
        return Q.F32
    name = embedding_quant if quant == "q4" and gguf_tensor in ("token_embd.weight", "output.weight") else quant
    qtype = _qtype(name)
    if qtype in (Q.Q4_0, Q.Q8_0) and shape[-1] % 32:
        return Q.F16
    return qtype


def file_type(quant: str) -> int:
    from gguf import LlamaFileType as F

    return {"q4": F.MOSTLY_Q4_0, "q8": F.MOSTLY_Q8_0, "f16": F.MOSTLY_F16, "f32": F.ALL_F32}[quant]


# ---- loading ----------------------------------------------------------------------------------------------
def load_student(model_path: str, dtype: str = "float32") -> tuple[Any, Any]:
    """(model, tokenizer): a full checkpoint as it is, a LoRA adapter merged into its base (data.hub loading)."""
    from data.hub import load_model, load_tokenizer

    path = Path(model_path).expanduser()
    if (path / "adapter_config.json").exists():
        from peft import PeftModel

        base = json.loads((path / "adapter_config.json").read_text()).get("base_model_name_or_path")
        if not base:
            raise ExportError(f"adapter {model_path!r} names no base_model_name_or_path; valid: an adapter with a base")
        tokenizer_src = model_path if (path / "tokenizer_config.json").exists() else base
        check_architecture(_config(base))
        log.info("merging LoRA adapter %s into its base %s", model_path, base)
        model = PeftModel.from_pretrained(load_model(base, dtype=dtype), model_path).merge_and_unload()
        return model, load_tokenizer(tokenizer_src)
    check_architecture(_config(model_path))
    return load_model(model_path, dtype=dtype), load_tokenizer(model_path)


def _config(name_or_path: str) -> Any:
    from transformers import AutoConfig

    from data.hub import _unavailable

    try:
        return AutoConfig.from_pretrained(name_or_path)
    except (OSError, ValueError) as error:
        raise ExportError(str(_unavailable(name_or_path, error))) from None


# ---- writing ----------------------------------------------------------------------------------------------
def write_gguf(model: Any, tokenizer: Any, out: str | Path, quant: str = "q4", **options: Any) -> dict[str, Any]:
    """Write `model` + `tokenizer` to `out` atomically (temp file beside it, then rename); returns what was written."""
    import os

    import gguf
    import numpy as np

    from data.atomic_io import tmp_path

    quant = check_quant(quant)
    embedding_quant = check_quant(options.get("embedding_quant", "q8"), "embedding_quant")
    config = model.config
    arch = check_architecture(config, type(model).__name__)
    state = {k: v.detach().float().cpu().numpy() for k, v in model.state_dict().items()}
    n_vocab = state["model.embed_tokens.weight"].shape[0]
    tok = tokenizer_fields(tokenizer, n_vocab)
    tied = bool(getattr(config, "tie_word_embeddings", False)) or "lm_head.weight" not in state
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path(out)
    writer = gguf.GGUFWriter(None, arch)
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(str(options.get("name") or out.stem))
    writer.add_file_type(file_type(quant))
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    writer.add_context_length(int(config.max_position_embeddings))
    writer.add_embedding_length(int(config.hidden_size))
    writer.add_block_count(int(config.num_hidden_layers))
    writer.add_feed_forward_length(int(config.intermediate_size))
    writer.add_head_count(int(config.num_attention_heads))
    writer.add_head_count_kv(int(config.num_key_value_heads))
    head_dim = int(getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads)
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    writer.add_rope_freq_base(rope_theta(config))
    writer.add_layer_norm_rms_eps(float(config.rms_norm_eps))
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(tok["pre"])
    writer.add_token_list(tok["tokens"])
    writer.add_token_types(tok["types"])
    writer.add_token_merges(tok["merges"])
    writer.add_eos_token_id(int(tok["eos"]))
    if tok["pad"] is not None:
        writer.add_pad_token_id(int(tok["pad"]))
    writer.add_add_bos_token(False)
    if tok["chat_template"]:
        writer.add_chat_template(tok["chat_template"])
    types: dict[str, str] = {}
    for hf_name, array in state.items():
        name = gguf_name(hf_name)
        if name is None:  # lm_head
            if tied:
                continue
            name = "output.weight"
        qtype = tensor_type(name, array.shape, quant, embedding_quant)
        data = gguf.quants.quantize(np.ascontiguousarray(array), qtype)
        writer.add_tensor(name, data, raw_dtype=qtype)
        types[name] = qtype.name
    try:
        writer.write_header_to_file(path=tmp)
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, out)
    except BaseException:
        if writer.fout is not None:
            for handle in writer.fout:
                handle.close()
        tmp.unlink(missing_ok=True)
        raise
    return {
        "path": str(out),
        "bytes": out.stat().st_size,
        "arch": arch,
        "quant": quant,
        "n_vocab": n_vocab,
        "pre_tokenizer": tok["pre"],
        "tensor_types": sorted(set(types.values())),
    }


def weight_bytes(model_path: str | Path) -> int:
    """Bytes of a checkpoint folder's weight files (*.safetensors, *.bin): the full-precision size of `size`."""
    path = Path(model_path)
    return sum(f.stat().st_size for f in path.iterdir() if f.suffix in (".safetensors", ".bin") and f.is_file())


def default_out(cfg: Mapping[str, Any]) -> Path:
    from eval.run import default_label

    label = cfg.get("label") or default_label(str(cfg["model_path"]))
    return Path(str(cfg.get("output_root") or "outputs")) / "export" / f"{label}-{cfg['quant']}.gguf"


def export(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Check `cfg` (conf/export.yaml as a dict), load the student, write its GGUF; returns the written file's facts."""
    quant = check_quant(cfg.get("quant", "q4"))
    check_quant(cfg.get("embedding_quant", "q8"), "embedding_quant")
    model_path = str(cfg["model_path"])
    check_model_path(model_path)
    out = Path(cfg["out"]) if cfg.get("out") else default_out(cfg)
    if out.suffix != ".gguf":
        raise ExportError(f"out={str(out)!r} must name a .gguf file; valid: a path ending in .gguf")
    if out.exists() and not cfg.get("overwrite", True):
        raise ExportError(f"out={str(out)!r} exists and overwrite=false; valid: a new path, or overwrite=true")
    model, tokenizer = load_student(model_path, dtype=str(cfg.get("dtype") or "float32"))
    info = write_gguf(
        model,
        tokenizer,
        out,
        quant,
        embedding_quant=cfg.get("embedding_quant", "q8"),
        name=cfg.get("label") or out.stem,
    )
    info["source"] = model_path
    if Path(model_path).is_dir():
        info["source_weight_bytes"] = weight_bytes(model_path)
    return info


def rewrite_argv(argv: list[str]) -> list[str]:
    """`model=<x>` (and `+model=<x>`) becomes `model_path=<x>`; every other argument is kept."""
    return [re.sub(r"^\+?model=", "model_path=", arg) for arg in argv]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from omegaconf import OmegaConf

    from data.hub import ModelNotAvailableError
    from launch.config_check import ConfigError, compose

    argv = rewrite_argv(list(sys.argv[1:] if argv is None else argv))
    if not any(a.startswith("model_path=") for a in argv):
        print(f"error: name the checkpoint to export: {USAGE}", file=sys.stderr)
        raise SystemExit(2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        cfg = OmegaConf.to_container(compose(argv, config_name="export"), resolve=True)
        info = export(cfg)
    except (ConfigError, ExportError, ModelNotAvailableError) as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    print(
        f"wrote {info['path']} ({info['bytes']:,} bytes, {info['arch']}, {info['quant']}, tensors "
        f"{'/'.join(info['tensor_types'])})",
        flush=True,
    )
    return info


if __name__ == "__main__":
    main()
