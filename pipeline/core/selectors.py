"""Downstream selectors: which samples of a labelled set to keep, chosen once before a probe is
fitted, from each sample's DLC score under a pre-trained encoder. Pure functions registered by
name, as the pruning methods are: adding one is a function here under `@selector("name")`
(params.yaml's downstream.selectors then accepts the name).

Every selector keeps round((1 - rate) * n_c) of each class's n_c samples, as DLC's authors
compare them, or with `stratified` off round((1 - rate) * N) of all N; FlexRand is per class by
definition. Each returns the kept indices in ascending order.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from dynaprune.pruning.base import keep_count, random_subset, stratified_subset

from .dlc import dlc_top_k, flexrand

# (scores, labels, rate, gen, gamma, stratified) -> kept indices
Selector = Callable[..., torch.Tensor]
SELECTORS: dict[str, Selector] = {}


def selector(name: str) -> Callable[[Selector], Selector]:
    def register(fn: Selector) -> Selector:
        SELECTORS[name] = fn
        return fn

    return register


@selector("flexrand")
def _flexrand(scores, labels, *, rate, gen, gamma, stratified):
    return flexrand(scores, labels, rate, gen, gamma)


@selector("static_random")
def _static_random(scores, labels, *, rate, gen, gamma, stratified):
    if stratified:
        return stratified_subset(labels, rate, gen)
    return random_subset(torch.arange(len(scores)), keep_count(rate, len(scores)), gen).sort().values


@selector("dlc_easiest")
def _dlc_easiest(scores, labels, *, rate, gen, gamma, stratified):
    return dlc_top_k(scores, rate, hardest=False, labels=labels if stratified else None)


@selector("dlc_hardest")
def _dlc_hardest(scores, labels, *, rate, gen, gamma, stratified):
    return dlc_top_k(scores, rate, hardest=True, labels=labels if stratified else None)


def select(
    name: str,
    scores: torch.Tensor,
    labels: torch.Tensor,
    *,
    rate: float,
    gen: torch.Generator,
    gamma: float = 0.5,
    stratified: bool = True,
) -> torch.Tensor:
    """The indices selector `name` keeps at pruning rate `rate` (ValueError for an unknown name)."""
    if name not in SELECTORS:
        raise ValueError(f"unknown downstream selector '{name}': choose one of {', '.join(SELECTORS)}")
    return SELECTORS[name](scores, labels, rate=rate, gen=gen, gamma=gamma, stratified=stratified)
