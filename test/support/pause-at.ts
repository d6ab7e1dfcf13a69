/**
 * A one-shot hook around a port method, to interleave two tasks step by step: the next call of
 * `method` whose arguments match runs, then holds its result until the test releases it. The method
 * is put back as it was once that call returns.
 */

/** A call held at its return: {@link reached} once it ran, {@link release} to let it return. */
export interface Pause {
  /** Resolves when the matching call has run (its effect is done; its result is held). */
  reached: Promise<void>;
  /** Let the held call return. */
  release(): void;
}

/**
 * Hold the next call of `target[method]` whose arguments satisfy `when`, after it ran (or, with
 * `options.before`, before it runs), until {@link Pause.release}.
 * @example
 * ```ts
 * const marksRead = pauseAt(p.catalog, 'listGcMarks', (vault) => vault === 'vault-euw1');
 * const gc = p.run(gcTask);
 * await marksRead.reached; // GC has read the marks; now do something in between
 * marksRead.release();
 * await gc;
 * ```
 */
export function pauseAt<T extends object, K extends keyof T>(
  target: T,
  method: K,
  when: (...args: never[]) => boolean = () => true,
  options: { before?: boolean } = {},
): Pause {
  const original = target[method] as unknown as (...args: unknown[]) => Promise<unknown>;
  let reached!: () => void;
  let release!: () => void;
  const reachedP = new Promise<void>((r) => {
    reached = r;
  });
  const released = new Promise<void>((r) => {
    release = r;
  });
  let armed = true;
  const matches = (args: unknown[]) => armed && (when as (...a: unknown[]) => boolean)(...args);
  const hold = async () => {
    armed = false;
    (target as Record<K, unknown>)[method] = original;
    reached();
    await released;
  };
  const hooked = async function (this: unknown, ...args: unknown[]) {
    if (options.before && matches(args)) await hold();
    const result = await original.apply(target, args);
    if (!options.before && matches(args)) await hold();
    return result;
  };
  (target as Record<K, unknown>)[method] = hooked;
  return { reached: reachedP, release };
}
