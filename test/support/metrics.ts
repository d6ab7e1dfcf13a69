/**
 * Powertools Metrics for tests: silent ones for containers that are not under test, and a capture of
 * the EMF documents a block of code writes to stdout.
 */
import { Metrics } from '@aws-lambda-powertools/metrics';
import { vi } from 'vitest';

/** A Metrics instance that writes nothing (POWERTOOLS_METRICS_DISABLED is read at construction). */
export function silentMetrics(): Metrics {
  const previous = process.env.POWERTOOLS_METRICS_DISABLED;
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  try {
    return new Metrics({ namespace: 'StrongboxTest', serviceName: 'strongbox' });
  } finally {
    if (previous === undefined) delete process.env.POWERTOOLS_METRICS_DISABLED;
    else process.env.POWERTOOLS_METRICS_DISABLED = previous;
  }
}

/** One CloudWatch embedded metric format document, as Powertools writes it. */
export interface EmfDocument {
  _aws: {
    Timestamp: number;
    CloudWatchMetrics: {
      Namespace: string;
      Dimensions: string[][];
      Metrics: { Name: string; Unit: string }[];
    }[];
  };
  [key: string]: unknown;
}

/** Run `fn` with stdout captured; returns the EMF documents written meanwhile (other lines are dropped). */
export async function captureEmf(fn: () => Promise<unknown>): Promise<EmfDocument[]> {
  const lines: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(...String(chunk).split('\n'));
    return true;
  });
  try {
    await fn();
  } finally {
    spy.mockRestore();
  }
  return lines
    .filter((line) => line.startsWith('{') && line.includes('"_aws"'))
    .map((line) => JSON.parse(line) as EmfDocument);
}
