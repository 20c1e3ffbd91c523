// Asking the API again and again while a person looks at the page: one request at a time (the
// next is scheduled when the last has answered), none while the tab is hidden (and one at once
// when it shows again), and longer waits after failures so that a struggling server is not
// hammered.
import { useEffect, useRef } from 'react';

interface PollTiming {
  /** The wait between two answered polls. */
  everyMs: number;
  /** The longest wait after failures (the wait doubles with each failure in a row). */
  maxBackoffMs: number;
}

/** The wait before the next poll after `failures` failures in a row. */
export function pollDelay(failures: number, t: PollTiming): number {
  return failures === 0 ? t.everyMs : Math.min(t.everyMs * 2 ** failures, t.maxBackoffMs);
}

/** Runs `poll` every `everyMs` while `enabled` and the page is visible. A poll that throws
 * counts as a failure (the waits grow); one aborted by leaving the page does not. */
export function usePoll(
  poll: (signal: AbortSignal) => Promise<void>,
  enabled: boolean,
  timing: PollTiming = { everyMs: 3000, maxBackoffMs: 30_000 },
): void {
  const latest = useRef(poll);
  latest.current = poll;
  const { everyMs, maxBackoffMs } = timing;

  useEffect(() => {
    if (!enabled) return undefined;
    const ctl = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let running = false;
    let failures = 0;

    const visible = () => document.visibilityState === 'visible';
    const schedule = () => {
      clearTimeout(timer);
      timer = undefined;
      if (!ctl.signal.aborted && visible()) {
        timer = setTimeout(tick, pollDelay(failures, { everyMs, maxBackoffMs }));
      }
    };
    const tick = async () => {
      timer = undefined;
      if (running || ctl.signal.aborted || !visible()) return;
      running = true;
      try {
        await latest.current(ctl.signal);
        failures = 0;
      } catch {
        if (ctl.signal.aborted) return;
        failures += 1;
      } finally {
        running = false;
      }
      schedule();
    };
    const onVisibility = () => {
      if (!visible()) {
        clearTimeout(timer);
        timer = undefined;
      } else if (!running) {
        clearTimeout(timer);
        void tick();
      }
    };

    document.addEventListener('visibilitychange', onVisibility);
    schedule();
    return () => {
      ctl.abort();
      clearTimeout(timer);
      document.removeEventListener('visibilitychange', onVisibility);
    };
  }, [enabled, everyMs, maxBackoffMs]);
}
