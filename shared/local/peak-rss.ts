import { readFileSync } from 'node:fs';

/**
 * This process's peak resident memory in bytes: Linux's VmHWM, the high-water mark of this program
 * image. Not `process.resourceUsage().maxRSS`: getrusage keeps the maximum across fork and exec, so
 * a child started by a large process reports its parent's size. Undefined where /proc is missing.
 * @example peakRssBytes() ?? process.memoryUsage().rss
 */
export function peakRssBytes(): number | undefined {
  try {
    const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}
