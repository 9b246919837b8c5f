"""The SimCLR and downstream parts of the image study's report: the equal-cost verdict on the
pre-trained encoders, measured against what pre-training adds at all (the same encoder untrained,
probed alike), and downstream pruning with each seed's full-data encoder."""

from __future__ import annotations

from ..core.errors import UserError
from . import equal_cost, measured_on, report, verdict
from .config import Config

DOWNSTREAM_REFERENCE = "static_random"  # a static selection's random baseline
# Below this gain of full-data pre-training over the untrained encoder (linear probe, in accuracy),
# the probe hardly sees pre-training, and a verdict between pruned pre-trainings means little.
MEANINGFUL_GAIN = 0.05


def gain(full: report.Row, untrained: report.Row) -> equal_cost.Interval:
    """Full-data pre-training minus the untrained encoder, linear-probe accuracy, paired by seed."""
    by_seed = lambda row: {int(r["seed"]): r["linear_acc"] for r in row.runs}
    iv = equal_cost.paired(by_seed(full), by_seed(untrained))
    if iv is None:
        raise UserError("the untrained references and the full-data encoders share no seed: rerun the study")
    return iv


def _interval(iv: equal_cost.Interval) -> str:
    if iv.half is None:
        return verdict.seeds_words(iv.seeds)
    return f"95% interval {100 * iv.low:+.2f} to {100 * iv.high:+.2f}, {verdict.seeds_words(iv.seeds)}"


def reference_sentence(added: equal_cost.Interval, untrained: report.Row, budgets: list[equal_cost.Budget]) -> str:
    """What pre-training adds over the untrained encoder, and whether the pruned encoders' differences
    to random are small against it."""
    text = (
        f"**What pre-training adds.** The same encoder untrained, probed alike, reads "
        f"{100 * untrained.mean('linear_acc'):.2f}% linear and {100 * untrained.mean('knn_acc'):.2f}% kNN; "
        f"full-data pre-training adds {100 * added.mean:+.2f} points of linear-probe accuracy ({_interval(added)})."
    )
    diffs = [s.vs_reference for b in budgets for s in b.reached if s.vs_reference is not None]
    if diffs:
        spread = max(abs(iv.mean) for iv in diffs)
        share = spread / added.mean if added.mean > 0 else float("inf")
        text += f" The pruned encoders differ from random by at most {100 * spread:.2f} points on average" + (
            f", {100 * share:.0f}% of what pre-training adds." if share != float("inf") else "."
        )
    if added.mean < MEANINGFUL_GAIN:
        text += (
            f" With less than {100 * MEANINGFUL_GAIN:.0f} points added, this scale hardly tests pre-training: "
            f"read its verdicts as a demonstration of the pipeline, not as evidence about the methods."
        )
    return text + "\n"


def labels_words(per_class: int | None) -> str:
    if per_class is None:
        return "all training labels"
    return (
        f"{per_class} training labels per class (drawn once per seed, the same for every encoder of the seed, "
        f"as when SimCLR is used for a task with few labels)"
    )


def ssl_section(cfg: Config, data: str, ssl, untrained, budgets) -> str:
    p, seeds = cfg.pretrain, len(cfg.study.ssl_seeds)
    return (
        f"### SimCLR pre-training with pruning, linear evaluation\n\n{data}, {p.epochs} epochs of which the "
        f"first {p.warmup_epochs} are a full-data warm-up run once per seed, batch {p.batch_size}, temperature "
        f"{p.temperature}; {verdict.seeds_words(seeds)}. Each encoder is frozen and probed by a logistic "
        f"regression fitted on {labels_words(cfg.linear_eval.labels_per_class)} (*linear acc*) and a "
        f"20-nearest-neighbour vote among them (*kNN acc*).\n\n"
        + reference_sentence(gain(ssl[0], untrained), untrained, budgets)
        + "\n"
        + verdict.section(budgets, verdict.PROBE)
        + "\n"
        + report.markdown_table(ssl, report.SSL_COLUMNS)
        + "\n"
        + measured_on.sentence(ssl, "pretrain_")
        + "\n\n#### Every seed\n\nLinear-probe accuracy (%) of each encoder, a column per seed, the untrained "
        "encoder last: the verdicts and what pre-training adds pair these by seed.\n\n"
        + report.per_seed_table([*ssl, untrained], "linear_acc")
    )


def downstream_section(cfg: Config, down, budgets) -> str:
    d = cfg.downstream
    return (
        f"### Downstream pruning with the full-data encoder\n\nEach selector keeps a subset of the labelled "
        f"training set once, per seed with that seed's full-data encoder (DLC over {d.levels} masking levels, "
        f"FlexRand split at gamma = {d.gamma}); the probe and kNN vote are fitted on that subset, compared "
        f"with `{DOWNSTREAM_REFERENCE}` at the same share of labels. First row: every label.\n\n"
        + verdict.section(budgets, verdict.DOWNSTREAM)
        + "\n"
        + report.markdown_table(down, report.DOWNSTREAM_COLUMNS, first="selector")
    )


def untrained_metrics(full: report.Row, untrained: report.Row) -> dict:
    """The no-pre-training reference in the metrics: its accuracies and what pre-training adds."""
    added = gain(full, untrained)
    return {
        "linear_acc": untrained.mean("linear_acc"),
        "knn_acc": untrained.mean("knn_acc"),
        "pretraining_gain": added.mean,
        "pretraining_gain_low": added.low,
        "pretraining_gain_high": added.high,
    }
