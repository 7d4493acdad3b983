import type { Job, JobType, Queue } from 'bullmq';

/** The states of a job not finished yet: waiting (or paused), delayed (a retry), in flight. */
export const PENDING_STATES = ['waiting', 'delayed', 'active', 'prioritized', 'waiting-children'] as const;
/** Every state a job can be in. */
export const ALL_STATES = ['completed', 'failed', ...PENDING_STATES] as const;

const PAGE = 1000;

/** The jobs of a queue in `states`, a page at a time. */
export async function* jobsIn<T>(queue: Queue<T>, states: readonly JobType[]): AsyncGenerator<Job<T>> {
  for (let start = 0; ; start += PAGE) {
    const jobs = await queue.getJobs([...states], start, start + PAGE - 1);
    for (const job of jobs) if (job) yield job;
    // A page asks each state for PAGE jobs: fewer in all means every state is done.
    if (jobs.length < PAGE) return;
  }
}

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
