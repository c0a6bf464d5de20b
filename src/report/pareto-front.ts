/**
 * The Pareto front of score (maximize) against cost (minimize): the points no other point dominates. A point
 * dominates another when its score is at least as high and its cost at most as high, one of the two strictly
 * (identical points do not dominate each other: both stay on the front). Pure: no I/O.
 */

/** A point of the plane: an experiment's score and cost. */
export interface FrontPoint {
  score: number;
  cost: number;
}

/** Whether `a` dominates `b`: score ≥ and cost ≤, one of them strictly. */
export function dominates(a: FrontPoint, b: FrontPoint): boolean {
  return a.score >= b.score && a.cost <= b.cost && (a.score > b.score || a.cost < b.cost);
}

/**
 * The non-dominated points, by cost ascending (then input order), so that their scores rise strictly from one
 * cost to the next: the front's staircase. Points with a non-finite score or cost are left out. O(n log n): sorted
 * by cost, a point is on the front when it has its cost's highest score and that score beats every cheaper one.
 * @returns the points on the front (the same objects)
 */
export function paretoFront<T extends FrontPoint>(points: readonly T[]): T[] {
  const order = points
    .map((p, i) => ({ p, i }))
    .filter(({ p }) => Number.isFinite(p.score) && Number.isFinite(p.cost))
    .sort((a, b) => a.p.cost - b.p.cost || a.i - b.i);
  const front: T[] = [];
  let cheaperBest = Number.NEGATIVE_INFINITY;
  for (let k = 0; k < order.length; ) {
    let end = k;
    let top = Number.NEGATIVE_INFINITY;
    while (end < order.length && order[end]!.p.cost === order[k]!.p.cost) {
      top = Math.max(top, order[end]!.p.score);
      end++;
    }
    if (top > cheaperBest)
      for (let i = k; i < end; i++) if (order[i]!.p.score === top) front.push(order[i]!.p);
    cheaperBest = Math.max(cheaperBest, top);
    k = end;
  }
  return front;
}
