"""GRPO on TRL's GRPOTrainer, from an SFT checkpoint or a base model.

Modules, one job each:
    train           train_grpo / build_trainer: the stage (start point, alignment, rewards, trainer, resume, final;
                    resume and final save via sft.checkpoints)
    grpo_config     conf/rl group -> GRPOConfig, with validation
    vllm_guard      generation backend (hf | vllm colocate | vllm server) checks, with clear errors on CPU
                    (vllm installed and in TRL's range: sft.vllm_check, shared with the vllm teacher)
    chat_alignment  Qwen3 eos / <think> / chat-template specifics
    signals         group-level learning signals TRL does not log, and the rollout (data order) log
    learning_check  did the run learn? improving / flat / declining training pass rate, from the log history
    prompt_filter   drop prompts whose measured pass rate is 0 or 1
    start_point     merge an adapter start point before a new LoRA
"""
