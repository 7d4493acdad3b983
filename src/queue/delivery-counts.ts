import type { Queue } from 'bullmq';

/** The states of a job not finished yet: waiting (or paused), delayed (a retry), in flight. */
export const PENDING_STATES = ['waiting', 'delayed', 'active', 'prioritized', 'waiting-children'] as const;

/** A delivery queue's jobs by what became of them: pending (waiting, delayed, active), delivered, dead. */
export async function deliveryCounts(
  queue: Queue,
): Promise<{ pending: number; delivered: number; dead: number }> {
  const counts = await queue.getJobCounts('completed', 'failed', ...PENDING_STATES);
  return {
    pending: PENDING_STATES.reduce((sum, state) => sum + (counts[state] ?? 0), 0),
    delivered: counts.completed ?? 0,
    dead: counts.failed ?? 0,
  };
}
