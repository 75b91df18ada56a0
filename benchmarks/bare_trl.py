"""The baseline of bench_training: plain TRL scripts, as a user would write them from TRL's documentation.

    python -m benchmarks.bare_trl reward --model FOLDER --pairs pairs.jsonl --out DIR --steps 6 --batch 8 ...
    python -m benchmarks.bare_trl dpo --model FOLDER --pairs pairs.jsonl --out DIR --steps 4 --batch 4 ...

Deliberately imports nothing from this project. Prints one JSON line with the trainer's metrics.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["reward", "dpo"])
    parser.add_argument("--model", required=True)
    parser.add_argument("--pairs", type=Path, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--max-length", type=int, required=True)
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("--lora-r", type=int, required=True)
    parser.add_argument("--lora-alpha", type=int, required=True)
    parser.add_argument("--beta", type=float, default=0.1)
    args = parser.parse_args()

    import torch
    from datasets import Dataset
    from peft import LoraConfig, TaskType
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    rows = [json.loads(line) for line in args.pairs.read_text().splitlines() if line.strip()]
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    common = {
        "output_dir": args.out,
        "max_steps": args.steps,
        "per_device_train_batch_size": args.batch,
        "learning_rate": args.lr,
        "max_length": args.max_length,
        "bf16": False,
        "use_cpu": True,
        "save_strategy": "no",
        "logging_steps": 1,
        "report_to": [],
        "seed": 0,
    }
    targets = ["q_proj", "k_proj", "v_proj", "o_proj"]
    if args.kind == "reward":
        from trl import RewardConfig, RewardTrainer

        model = AutoModelForSequenceClassification.from_pretrained(args.model, num_labels=1, dtype=torch.float32)
        model.config.pad_token_id = tokenizer.pad_token_id
        dataset = Dataset.from_list([{k: r[k] for k in ("prompt", "chosen", "rejected", "margin")} for r in rows])
        lora = LoraConfig(task_type=TaskType.SEQ_CLS, r=args.lora_r, lora_alpha=args.lora_alpha,
                          target_modules=targets, modules_to_save=["score"])  # fmt: skip
        config = RewardConfig(**common, activation_checkpointing=False)
        trainer = RewardTrainer(
            model=model, args=config, train_dataset=dataset, processing_class=tokenizer, peft_config=lora
        )
    else:
        from trl import DPOConfig, DPOTrainer

        model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
        dataset = Dataset.from_list([{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in rows])
        lora = LoraConfig(
            task_type=TaskType.CAUSAL_LM, r=args.lora_r, lora_alpha=args.lora_alpha, target_modules=targets
        )
        config = DPOConfig(**common, beta=args.beta, activation_checkpointing=False)
        trainer = DPOTrainer(
            model=model, args=config, train_dataset=dataset, processing_class=tokenizer, peft_config=lora
        )
    result = trainer.train()
    print(json.dumps({"train_samples_per_second": result.metrics["train_samples_per_second"],
                      "train_runtime": result.metrics["train_runtime"]}))  # fmt: skip


if __name__ == "__main__":
    main()
