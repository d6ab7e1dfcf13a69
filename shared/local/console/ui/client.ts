/// <reference lib="dom" />
/**
 * The console's API client: every request carries the console's token (taken once from the URL the
 * server printed, `#token=…`, then kept in this tab's sessionStorage and removed from the address).
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

const TOKEN_KEY = 'strongbox-console-token';

/** Take the token from `#token=…` (then show the plans instead), or from this tab's storage. */
export function takeToken(): string | undefined {
  const m = /^#token=([0-9a-f]+)$/.exec(location.hash);
  if (m?.[1]) {
    sessionStorage.setItem(TOKEN_KEY, m[1]);
    history.replaceState(null, '', '#/plans');
  }
  return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
}

/** An answer of the API other than 2xx: its `error` and HTTP status. */
export class ApiError extends Error {
  readonly status: number;
  constructor(message: string, status: number) {
    super(message);
    this.status = status;
  }
}

/**
 * GET `path` (or POST `body` as JSON) and return the JSON answer.
 * @throws ApiError with the server's message when the answer is not 2xx.
 */
export async function api<T>(path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { 'x-strongbox-token': sessionStorage.getItem(TOKEN_KEY) ?? '' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, {
    method: body === undefined ? 'GET' : 'POST',
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = (await res.json().catch(() => ({}))) as { error?: string };
  if (!res.ok) throw new ApiError(json.error ?? `the console answered HTTP ${res.status}`, res.status);
  return json as T;
}

/** A query string of the defined, non-empty values. */
export function query(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, v);
  return q.toString();
}

/** What {@link useApi} holds. */
export interface Loaded<T> {
  data?: T;
  error?: string;
  loading: boolean;
  reload: () => void;
}

/**
 * GET `path` when it changes (nothing while undefined), again every `pollMs` when given; the last
 * answer stays while the next loads.
 */
export function useApi<T>(path: string | undefined, pollMs?: number): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: string; loading: boolean }>({ loading: !!path });
  const [tick, setTick] = useState(0);
  const current = useRef(path);
  current.current = path;
  const reload = useCallback(() => setTick((t) => t + 1), []);
  // `tick` asks for a reload
  useEffect(() => {
    if (!path) return;
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    setState((s) => ({ ...s, loading: true }));
    const settle = (next: { data?: T; error?: string }) => {
      if (!live || current.current !== path) return;
      setState((s) => ({ ...(next.error ? { data: s.data } : {}), ...next, loading: false }));
      // The next poll once this answer is in: never two requests of one view at a time.
      if (pollMs) timer = setTimeout(reload, pollMs);
    };
    api<T>(path).then(
      (data) => settle({ data }),
      (error: Error) => settle({ error: error.message }),
    );
    return () => {
      live = false;
      if (timer) clearTimeout(timer);
    };
  }, [path, tick, pollMs]);
  return { ...state, reload };
}
