"""Static benchmarks beside the arena: `python -m evals <benchmark> MODEL`, stored per item and resumable.

    evals.runner        the one loop: open or resume a stored run, run what it lacks in batches, store each batch
                        with the run's new figures in one transaction
    evals.answers       registry models answering benchmark prompts (local batched, remote concurrent)
    evals.over_refusal  how often a model refuses benign requests (Arena-Hard and MT-Bench questions)
    evals.mt_bench      MT-Bench: 80 two-turn questions graded 1-10 by the judge with FastChat's prompts
    evals.arena_hard    Arena-Hard v0.1: 500 prompts judged against GPT-4-0314's answers in both orders
    evals.truthfulqa    TruthfulQA multiple choice (MC1, MC2) by log-likelihood through lm-eval, local files
    evals.truthfulqa_generation  TruthfulQA answered freely, judged truthful and informative (remote models)

Runs and items live in the store (store.benchmark_runs); the leaderboard shows each model's newest figures beside
its rating. `benchmarks/` is for performance measurements, not these.
"""
