"""Remove from the pretraining data every sequence that is in a registered task's validation or test split.

Tasks are read through the harness registry (``lsdbench.tasks.registry``), like any user of lsdbench would.
Tasks whose files cannot be obtained (e.g. the ``paper`` suite outside the mirror) are reported as
skipped, never silently ignored.
"""

from __future__ import annotations

from reference_models.corpus.alphabet import normalize

EVAL_SPLITS = ("valid", "test")


def evaluation_sequences(list_cards=None, load_task=None, fetch_error=None) -> tuple[dict[str, set[str]], list[dict]]:
    """({task: normalized valid/test sequences} of every loadable task, one report row per task).

    The registry functions can be passed in (tests use a fake registry); by default lsdbench's are used.
    """
    if list_cards is None or load_task is None:
        from lsdbench.tasks.fetch import FetchError
        from lsdbench.tasks.registry import list_cards, load_task
        fetch_error = FetchError
    per_task: dict[str, set[str]] = {}
    report = []
    for card in sorted(list_cards(), key=lambda c: c.name):
        row = {"task": card.name, "suites": list(card.suites)}
        try:
            task = load_task(card.name)
        except fetch_error as e:
            report.append({**row, "status": "skipped", "reason": str(e).splitlines()[0][:300]})
            continue
        seqs = {normalize(s) for name in EVAL_SPLITS if name in task.splits
                for s in task.splits[name].all_sequences()}
        per_task[card.name] = seqs
        report.append({**row, "status": "used", "eval_sequences": len(seqs)})
    return per_task, report


def remove_overlap(sequences: list[str], per_task: dict[str, set[str]], report: list[dict]) -> tuple[list[str], dict]:
    """(kept sequences, summary with the number removed overall and per task)."""
    banned = set().union(*per_task.values()) if per_task else set()
    kept = [s for s in sequences if s not in banned]
    present = set(sequences)
    removed = {task: len(seqs & present) for task, seqs in per_task.items()}
    return kept, summarize(report, len(sequences), len(sequences) - len(kept), removed)


def summarize(report: list[dict], n_input: int, n_removed: int, removed_per_task: dict[str, int]) -> dict:
    """The decontamination summary stored in data.json: counts overall, and per task the sequences removed."""
    rows = [{**row, "removed": removed_per_task.get(row["task"], 0)} if row["status"] == "used" else row
            for row in report]
    return {"input": n_input, "removed": n_removed, "kept": n_input - n_removed,
            "tasks_used": sum(r["status"] == "used" for r in rows),
            "tasks_skipped": sum(r["status"] == "skipped" for r in rows), "tasks": rows}
