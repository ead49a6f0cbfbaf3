"""A run's own budget: refuse, before anything is paid, a run that would pass it (pure)."""

from __future__ import annotations

from prefect_gmicloud.errors import BudgetExceeded
from prefect_gmicloud.storyboard.estimate import Estimate


def check_budget(
    title: str,
    estimate: Estimate,
    max_generated_seconds: float | None = None,
    max_cost: float | None = None,
) -> None:
    """Refuse a run whose estimate passes ``max_generated_seconds`` or ``max_cost``.

    Args:
        title: the storyboard's title, for the message.
        estimate: the shots that would be paid (``estimate``); for ``max_cost``, with prices.
        max_generated_seconds: the most generated seconds the run may pay for; none when unset.
        max_cost: the most the run may cost; needs every paid model's price.

    Raises:
        BudgetExceeded: naming the limit, what the run would take and by how much it is over;
            or why the cost cannot be known while ``max_cost`` is set.
    """
    if max_generated_seconds is not None:
        seconds = estimate.seconds
        if estimate.unknown:
            raise BudgetExceeded(
                title,
                f"{estimate.unknown} shot(s) have no duration and their model no known longest "
                f"one, so max_generated_seconds ({max_generated_seconds:g}) cannot be checked; "
                "set duration on every shot",
                estimate,
            )
        if seconds > max_generated_seconds:
            raise BudgetExceeded(
                title,
                f"this run would generate {seconds:g} s; max_generated_seconds is "
                f"{max_generated_seconds:g}: {seconds - max_generated_seconds:g} s over",
                estimate,
            )
    if max_cost is not None:
        cost = estimate.cost
        if cost is None:
            why = "; ".join(
                f"{m.model_id}: {m.why_no_cost}" for m in estimate.models if m.cost is None
            )
            raise BudgetExceeded(
                title, f"max_cost is {max_cost:g} but the cost is unknown ({why})", estimate
            )
        if cost > max_cost:
            raise BudgetExceeded(
                title,
                f"this run would cost {cost:.2f}; max_cost is {max_cost:g}: "
                f"{cost - max_cost:.2f} over",
                estimate,
            )
