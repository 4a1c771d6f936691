"""launch.export (issue 18): GGUF export of a student; bad input refused in one line; atomic writes; the tokenizer,
chat template and `<think>` tokens survive; with llama-cpp-python (the `laptop` extra, in `dev`), a round trip:
the same greedy tokens from llama.cpp as from transformers, and export -> serve -> eval end to end."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from launch.export import ExportError, export, main, write_gguf

REPO = Path(__file__).resolve().parents[1]
QUESTIONS = [
    "Ann has 3 apples and buys 4 more. How many apples does she have?",
    "A box holds 12 pens. How many pens are in 5 boxes?",
    "Tom had 250 marbles and gave away 75. How many are left?",
]
TRACE = "<think>\n3 + 4 = 7\n7 * 12 = 84\n</think>\n\\boxed{84}"


def train_student(model_dir: str, out: Path, n_problems: int = 4, steps: int = 150) -> str:
    """The tiny model taught by heart to answer `n_problems` toy problems with their `<think>` traces (full chat
    turns, ending in `<|im_end|>`): a student whose greedy output is clean text with wide argmax margins, so that
    two implementations' greedy decoding can be compared token for token. A few seconds on one CPU thread."""
    import torch

    from data.hub import load_model, load_tokenizer
    from data.records import prompt_messages
    from sft.teachers.program import write_trace
    from tests._sft_fixtures import toy_problems

    torch.manual_seed(0)
    model, tokenizer = load_model(model_dir), load_tokenizer(model_dir)
    texts = [
        tokenizer.apply_chat_template(
            [*prompt_messages(p["question"]), {"role": "assistant", "content": write_trace(p, 0)[0]}],
            tokenize=False,
        )
        for p in toy_problems(n_problems)
    ]
    batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        loss = model(**batch, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return str(out)


@pytest.fixture(scope="module")
def student_dir(tiny_model_dir, tmp_path_factory):
    return train_student(tiny_model_dir, tmp_path_factory.mktemp("student"))


@pytest.fixture(scope="module")
def exported(student_dir, tmp_path_factory):
    """The trained tiny student exported at every precision: {quant: path}."""
    out = tmp_path_factory.mktemp("gguf")
    return {
        q: export({"model_path": student_dir, "quant": q, "out": str(out / f"student-{q}.gguf")})["path"]
        for q in ("q4", "q8", "f32")
    }


def _reader(path):
    from gguf import GGUFReader

    return GGUFReader(path)


def _field(reader, name):
    field = reader.fields[name]
    if len(field.data) == 1:
        part = field.parts[field.data[0]]
        return bytes(part).decode() if part.dtype == np.uint8 else part.tolist()[0]
    return [
        bytes(field.parts[i]).decode() if field.parts[i].dtype == np.uint8 else field.parts[i][0] for i in field.data
    ]


# ---- bad input ---------------------------------------------------------------------------------------------
def test_a_path_that_is_not_a_model_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.txt").write_text("x")
    for path, what in ((tmp_path / "empty", "has no config.json"), (tmp_path / "file.txt", "is a file")):
        with pytest.raises(ExportError, match=f"model='{path}' is not a model: the path {what}; valid: a checkpoint"):
            export({"model_path": str(path), "quant": "q4", "out": str(tmp_path / "x.gguf")})
    with pytest.raises(ExportError, match="the path does not exist"):
        export({"model_path": "./no/such/dir", "quant": "q4", "out": str(tmp_path / "x.gguf")})


def test_an_unsupported_quant_is_refused_naming_the_valid_ones(tiny_model_dir, tmp_path):
    with pytest.raises(
        ExportError, match=r"quant='q3' is not a supported quantization; valid: \['q4', 'q8', 'f16', 'f32'\]"
    ):
        export({"model_path": tiny_model_dir, "quant": "q3", "out": str(tmp_path / "x.gguf")})
    with pytest.raises(ExportError, match="embedding_quant='int2'"):
        export(
            {"model_path": tiny_model_dir, "quant": "q4", "embedding_quant": "int2", "out": str(tmp_path / "x.gguf")}
        )
    with pytest.raises(ExportError, match=r"must name a \.gguf file"):
        export({"model_path": tiny_model_dir, "quant": "q4", "out": str(tmp_path / "x.bin")})


def test_an_architecture_gguf_cannot_hold_here_is_refused_before_weights_load(tmp_path):
    model = tmp_path / "gpt2ish"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"}))
    with pytest.raises(ExportError, match=r"architecture 'GPT2LMHeadModel' cannot be exported to GGUF here; valid: \["):
        export({"model_path": str(model), "quant": "q4", "out": str(tmp_path / "x.gguf")})
    assert not (tmp_path / "x.gguf").exists()


def test_the_cli_prints_one_line_and_exits_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main([f"model={tmp_path}", "quant=q5"])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error: quant='q5' is not a supported quantization")


def test_a_failed_export_leaves_the_good_file_and_no_temporary_one(peaky_model_dir, tmp_path, monkeypatch):
    import gguf

    from data.hub import load_model, load_tokenizer

    model, tokenizer = load_model(peaky_model_dir), load_tokenizer(peaky_model_dir)
    out = tmp_path / "student.gguf"
    write_gguf(model, tokenizer, out, "q8")
    good = out.read_bytes()

    def torn(self, *args, **kwargs):  # dies halfway through the tensor data
        self.fout[0].write(b"\0" * 1000)
        raise OSError("disk full")

    monkeypatch.setattr(gguf.GGUFWriter, "write_tensors_to_file", torn)
    with pytest.raises(OSError, match="disk full"):
        write_gguf(model, tokenizer, out, "q4")
    assert out.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["student.gguf"]
    with pytest.raises(OSError):
        write_gguf(model, tokenizer, tmp_path / "new.gguf", "q4")
    assert not (tmp_path / "new.gguf").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["student.gguf"]


# ---- what the file holds -----------------------------------------------------------------------------------
def test_the_file_holds_tokenizer_template_and_think_tokens(exported, student_dir):
    from gguf import TokenType

    from data.hub import load_tokenizer
    from eval.llama_cpp_backend import render_chat

    tokenizer = load_tokenizer(student_dir)
    reader = _reader(exported["q4"])
    assert _field(reader, "general.architecture") == "qwen3"
    tokens = _field(reader, "tokenizer.ggml.tokens")
    types = _field(reader, "tokenizer.ggml.token_type")
    vocab = tokenizer.get_vocab()
    assert len(tokens) == len(vocab) and all(tokens[i] == t for t, i in vocab.items())
    for name in ("<think>", "</think>"):
        assert types[vocab[name]] == TokenType.USER_DEFINED  # text, matched in prompts, decoded as text
    for name in ("<|im_start|>", "<|im_end|>", "<|endoftext|>"):
        assert types[vocab[name]] == TokenType.CONTROL
    assert _field(reader, "tokenizer.ggml.eos_token_id") == tokenizer.eos_token_id
    assert _field(reader, "tokenizer.ggml.pre") == "gpt-2" and _field(reader, "tokenizer.ggml.add_bos_token") is False
    template = _field(reader, "tokenizer.chat_template")
    assert "endgeneration" not in template and "{% generation" not in template
    messages = [{"role": "user", "content": QUESTIONS[0]}]
    assert render_chat(template, messages) == tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True
    )
    convo = [*messages, {"role": "assistant", "content": TRACE}]
    hf_text = tokenizer.apply_chat_template(convo, tokenize=False)
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    assert env.from_string(template).render(messages=convo, add_generation_prompt=False) == hf_text


def test_weights_round_trip_exactly_in_f32_and_closely_in_q8_q4(exported, student_dir):
    from gguf import GGMLQuantizationType as Q
    from gguf.quants import dequantize

    from data.hub import load_model

    state = {k: v.numpy() for k, v in load_model(student_dir).state_dict().items()}
    names = {
        "token_embd.weight": "model.embed_tokens.weight",
        "blk.0.ffn_down.weight": "model.layers.0.mlp.down_proj.weight",
    }
    for quant, tol in (("f32", 0.0), ("q8", 0.01), ("q4", 0.2)):
        tensors = {t.name: t for t in _reader(exported[quant]).tensors}
        assert "output.weight" not in tensors  # tied embeddings: llama.cpp reuses token_embd
        for gguf_name, hf_name in names.items():
            t = tensors[gguf_name]
            got = dequantize(t.data, t.tensor_type).reshape(state[hf_name].shape)
            err = np.abs(got - state[hf_name]).max() / np.abs(state[hf_name]).max()
            assert err <= tol, (quant, gguf_name, err)
        if quant == "q4":
            assert (
                tensors["token_embd.weight"].tensor_type == Q.Q8_0
                and tensors["blk.0.attn_q.weight"].tensor_type == Q.Q4_0
            )
            assert tensors["blk.0.attn_norm.weight"].tensor_type == Q.F32


def test_a_lora_adapter_is_merged_into_its_base_first(peaky_model_dir, tmp_path):
    import torch
    from gguf.quants import dequantize
    from peft import LoraConfig, get_peft_model

    from data.hub import load_model, load_tokenizer

    torch.manual_seed(0)
    model = get_peft_model(
        load_model(peaky_model_dir), LoraConfig(r=4, target_modules=["q_proj"], init_lora_weights=False)
    )
    adapter = tmp_path / "adapter"
    model.save_pretrained(str(adapter))
    load_tokenizer(peaky_model_dir).save_pretrained(str(adapter))
    merged = model.merge_and_unload().state_dict()["model.layers.0.self_attn.q_proj.weight"].numpy()
    info = export({"model_path": str(adapter), "quant": "f32", "out": str(tmp_path / "merged.gguf")})
    tensor = next(t for t in _reader(info["path"]).tensors if t.name == "blk.0.attn_q.weight")
    got = dequantize(tensor.data, tensor.tensor_type).reshape(merged.shape)
    base = load_model(peaky_model_dir).state_dict()["model.layers.0.self_attn.q_proj.weight"].numpy()
    assert np.allclose(got, merged, atol=1e-6) and not np.allclose(got, base, atol=1e-3)


# ---- llama.cpp: round trip and export -> serve -> eval ------------------------------------------------------
def _hf_greedy(model_dir, prompts, max_new_tokens):
    from data.hub import load_model, load_tokenizer
    from eval.generate import chat_prompt_text, generate_batched

    model, tokenizer = load_model(model_dir), load_tokenizer(model_dir)
    texts = [chat_prompt_text(tokenizer, [{"role": "user", "content": q}]) for q in prompts]
    outs = generate_batched(model, tokenizer, texts, max_new_tokens=max_new_tokens, batch_size=1)
    ids = [tokenizer(o[0]["text"], add_special_tokens=False)["input_ids"] for o in outs]
    return tokenizer, texts, [o[0]["text"] for o in outs], ids


def test_llama_cpp_reads_the_tokenizer_as_transformers_does(exported, student_dir):
    pytest.importorskip("llama_cpp", reason="llama-cpp-python (the laptop extra) is not installed")
    from llama_cpp import Llama

    from data.hub import load_tokenizer
    from tests._sft_fixtures import toy_problems

    tokenizer = load_tokenizer(student_dir)
    llm = Llama(model_path=exported["q4"], n_ctx=256, n_threads=1, verbose=False)
    texts = [*QUESTIONS, TRACE, "x  12 and  7\n\n(3 + 4) * 2 = 14", *(p["question"] for p in toy_problems(20))]
    texts.append(tokenizer.apply_chat_template([{"role": "user", "content": QUESTIONS[0]}], tokenize=False))
    for text in texts:
        hf = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert llm.tokenize(text.encode(), add_bos=False, special=True) == hf, text
        assert llm.detokenize(hf).decode() == tokenizer.decode(hf, skip_special_tokens=True), text
    think = tokenizer.convert_tokens_to_ids("<think>")
    assert llm.tokenize(b"<think>", add_bos=False, special=False) == [think]  # user-defined: matched in any text
    assert llm.detokenize([think]).decode() == "<think>"


@pytest.mark.parametrize(("quant", "tolerance"), [("f32", 0.02), ("q8", 0.2)])
def test_llama_cpp_greedy_tokens_are_the_transformers_argmax(exported, student_dir, quant, tolerance):
    """The round trip: the GGUF's own template and tokenizer give the HF prompt ids; every greedy token llama.cpp
    picks is transformers' argmax at that position (teacher-forced on llama.cpp's output), or within `tolerance`
    logits of it: llama.cpp's f32 kernels differ from torch's by ~0.005 logits (measured), which can flip a
    near-tie of this random model; 8-bit adds ~0.1. 4-bit moves this random model's logits by several units
    (its accuracy on a trained student is measured instead: bench/export.py accuracy_kept). Most positions must
    match exactly."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python (the laptop extra) is not installed")
    import torch

    from data.hub import load_model
    from data.records import prompt_messages
    from eval.llama_cpp_backend import LlamaCppGenerator
    from tests._sft_fixtures import toy_problems

    tokenizer, texts, _, _ = _hf_greedy(student_dir, [prompt_messages(toy_problems(1)[0]["question"])[0]["content"]], 1)
    model = load_model(student_dir)
    engine = LlamaCppGenerator(exported[quant], {"n_ctx": 256, "n_threads": 1})
    questions = [prompt_messages(p["question"])[0]["content"] for p in toy_problems(4)] + QUESTIONS
    prompts = [engine.prompt_text(q) for q in questions]
    assert prompts[0] == texts[0]  # the GGUF's own template, rendered as transformers renders it
    exact = total = 0
    for prompt, out in zip(prompts, engine.generate(prompts, max_new_tokens=48)):
        ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        new = out[0]["token_ids"]
        assert out[0]["n_tokens"] == len(new) + (not out[0]["truncated"])
        assert out[0]["text"] == tokenizer.decode(new, skip_special_tokens=True)
        if not out[0]["truncated"]:  # the end-of-turn token llama.cpp stopped at must be transformers' pick too
            new = [*new, tokenizer.convert_tokens_to_ids("<|im_end|>")]
        with torch.no_grad():
            logits = model(torch.tensor([ids + new])).logits[0, len(ids) - 1 : -1]
        gaps = (logits.max(dim=-1).values - logits[torch.arange(len(new)), torch.tensor(new)]).tolist()
        assert max(gaps) <= tolerance, (quant, gaps)
        exact += sum(g == 0.0 for g in gaps)
        total += len(gaps)
    assert exact >= (0.95 if quant == "f32" else 0.8) * total, (exact, total)
    if quant == "f32":  # the memorised problems come back whole, `<think>` included
        text = engine.generate(prompts[:1], max_new_tokens=96)[0][0]["text"]
        assert text.startswith("<think>\n") and "</think>" in text and text.endswith("}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.timeout(300)
def test_export_serve_eval_end_to_end(exported, student_dir, tmp_path):
    """The q8 GGUF served by llama.cpp's own OpenAI-compatible server, scored by the eval harness through the
    endpoint; the same items scored in-process (backend llama_cpp) and from the checkpoint (backend hf) agree."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python (the laptop extra) is not installed")
    pytest.importorskip("uvicorn", reason="llama_cpp.server needs the server extra")
    from eval.evaluate import evaluate_items
    from tests._sft_fixtures import toy_problems

    items = toy_problems(4)
    base = {"max_new_tokens": 96, "batch_size": 4, "compact_every": None, "report": False}
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    server = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", exported["q8"], "--model_alias", "student",
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "256", "--n_threads", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    try:
        import httpx

        deadline = time.time() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None and time.time() < deadline, server.stdout.read().decode()[-2000:]
            time.sleep(0.5)
        served = evaluate_items(
            "student", items, tmp_path / "served", {**base, "backend": "openai",
            "openai": {"base_url": f"http://127.0.0.1:{port}/v1", "max_retries": 0}},
        )  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)
    local = evaluate_items(
        exported["q8"], items, tmp_path / "local", {**base, "backend": "llama_cpp", "llama_cpp": {"n_threads": 1}}
    )
    hf = evaluate_items(student_dir, items, tmp_path / "hf", {**base, "backend": "hf"})
    records = {
        name: [json.loads(line) for line in (tmp_path / name / "items.jsonl").read_text().splitlines()]
        for name in ("served", "local", "hf")
    }
    completions = {name: [r["completion"] for r in rows] for name, rows in records.items()}
    assert completions["served"] == completions["local"] == completions["hf"]
    assert [r["prompt"] for r in records["local"]] == [r["prompt"] for r in records["hf"]]  # one template
    assert all(c.startswith("<think>\n") for c in completions["served"])
    assert served["accuracy"] == local["accuracy"] == hf["accuracy"] > 0 and served["n_eval"] == 4


# ---- the deploy stage --------------------------------------------------------------------------------------
def test_deploy_is_off_by_default_and_ends_every_condition_when_enabled():
    from launch.conditions import plan_stages
    from launch.config_check import ConfigError, compose

    names = lambda cfg: [s.name for s in plan_stages(cfg)]  # noqa: E731
    assert "deploy" not in names(compose(["condition=trace_sft"]))
    for condition in ("base", "trace_sft", "sft_grpo"):
        plan = names(compose([f"condition={condition}", "deploy.enabled=true"]))
        assert plan[-2:] == ["eval", "deploy"]
    assert names(compose(["condition=trace_sft", "condition.stages=[data,base,deploy]"]))[-1] == "deploy"
    with pytest.raises(ConfigError, match="deploy.quant"):
        compose(["deploy.quant=q3"])


def test_deploy_records_quantized_accuracy_beside_the_full_one_and_the_sweep_shows_it(monkeypatch, tmp_path):
    from launch import stages
    from launch.conditions import STAGES, RunContext
    from launch.config_check import compose
    from launch.stage_state import write_summary
    from launch.sweep_report import aggregate, markdown

    summary = {"quant": "q4", "accuracy": 0.2, "n_eval": 500, "gguf_bytes": 600, "source_bytes": 4200, "seconds": 9}
    monkeypatch.setattr(stages, "stage_deploy", lambda cfg, model_path, data_dir: {**summary, "size_ratio": 7.0})
    ctx = RunContext(compose(["deploy.enabled=true"]), data_dir=tmp_path, model_path="m")
    ctx.result["accuracy"] = 0.25
    STAGES["deploy"].run(ctx)
    assert ctx.result["deploy"]["accuracy"] == 0.2 and ctx.result["deploy"]["accuracy_kept"] == pytest.approx(0.8)

    from launch.sweep_report import config_fingerprint

    cfg = compose(["condition=trace_sft", "deploy.enabled=true", f"output_root={tmp_path}", "run_name=s"])
    job = tmp_path / "multirun" / "trace_sft" / "seed0" / ".hydra"
    job.mkdir(parents=True)
    from omegaconf import OmegaConf

    OmegaConf.save(cfg, job / "config.yaml")
    write_summary(
        tmp_path / "s" / "trace_sft" / "seed0",
        "run",
        {"accuracy": 0.25, "n_eval": 500, "config_fingerprint": config_fingerprint(cfg), **ctx.result},
    )
    results = aggregate(tmp_path / "multirun")
    assert results["conditions"]["trace_sft"]["deploy"]["accuracy_mean"] == pytest.approx(0.2)
    text = markdown(results)
    assert "| q4 GGUF accuracy % |" in text and "| 25.0 ± 0.0 | 20.0 ± 0.0 |" in text


def test_the_export_config_and_the_new_eval_backends_are_checked(tmp_path):
    from eval.settings import settings_from
    from launch.config_check import compose
    from launch.export import default_out

    cfg = compose(["model_path=outputs/shared/sft/ab12/final"], config_name="export")
    assert cfg.quant == "q4" and cfg.embedding_quant == "q8" and cfg.out is None
    final = tmp_path / "x" / "trace_sft" / "seed0" / "sft" / "final"
    final.mkdir(parents=True)
    assert str(default_out({"model_path": str(final), "quant": "q4"})) == "outputs/export/trace_sft__seed0-q4.gguf"
    with pytest.raises(ValueError, match="eval.backend=openai needs eval.openai.base_url"):
        settings_from({"max_new_tokens": 8, "backend": "openai"})
    with pytest.raises(ValueError, match=r"valid backend values: \['hf', 'vllm', 'llama_cpp', 'openai'\]"):
        settings_from({"max_new_tokens": 8, "backend": "gguf"})
    eval_cfg = compose(["eval=toy", "eval.backend=llama_cpp", "eval.llama_cpp.n_threads=2"]).eval
    assert eval_cfg.backend == "llama_cpp" and eval_cfg.llama_cpp.n_threads == 2


def test_a_qwen2_model_with_attention_biases_round_trips_through_llama_cpp(tiny_model_dir, tmp_path):
    """Qwen2 / Qwen2.5 (attention biases, no q/k norms) is the other architecture the export claims."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python (the laptop extra) is not installed")
    import torch
    from llama_cpp import Llama
    from transformers import AutoModelForCausalLM, Qwen2Config

    from data.hub import load_tokenizer

    tokenizer = load_tokenizer(tiny_model_dir)
    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        tie_word_embeddings=False,
        eos_token_id=tokenizer.eos_token_id,
    )
    model = AutoModelForCausalLM.from_config(config).eval()
    with torch.no_grad():
        for layer in model.model.layers:  # nonzero biases, so that a dropped bias would show
            layer.self_attn.q_proj.bias.normal_(0, 0.5)
            layer.self_attn.k_proj.bias.normal_(0, 0.5)
    info = write_gguf(model, tokenizer, tmp_path / "qwen2.gguf", "f32")
    assert info["arch"] == "qwen2"
    ids = tokenizer(QUESTIONS[0], add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        hf = model(torch.tensor([ids])).logits[0].numpy()
    llm = Llama(model_path=info["path"], n_ctx=128, n_threads=1, logits_all=True, verbose=False)
    llm.eval(ids)
    assert np.abs(np.array(llm.scores[: len(ids)]) - hf).max() < 0.02
    llm.close()


def test_the_deploy_builder_exports_and_scores_the_student_with_llama_cpp(student_dir, tmp_path):
    """launch.stages.stage_deploy for real: GGUF in the run folder's deploy/, scored on the test split; re-running
    finds the stage complete."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python (the laptop extra) is not installed")
    from data.jsonl_io import write_jsonl_atomic
    from launch import stages
    from launch.config_check import compose
    from tests._sft_fixtures import toy_problems

    data_dir = tmp_path / "data"
    write_jsonl_atomic(data_dir / "test.jsonl", toy_problems(4))
    cfg = compose(
        [f"output_root={tmp_path}", "deploy.enabled=true", "deploy.quant=q8", "eval.max_new_tokens=96", "threads=1"]
    )
    summary = stages.stage_deploy(cfg, student_dir, data_dir)
    assert summary["quant"] == "q8" and summary["n_eval"] == 4 and summary["accuracy"] > 0
    assert Path(summary["gguf_path"]).is_file() and summary["size_ratio"] > 3
    assert stages.stage_deploy(cfg, student_dir, data_dir)["seconds"] == summary["seconds"]  # complete: read back
