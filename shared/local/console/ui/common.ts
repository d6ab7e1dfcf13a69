/// <reference lib="dom" />
/** What the console's views share: formatting, status text, loading and error lines, the plan picker. */
import { html } from 'htm/preact';
import type { VNode } from 'preact';
import { formatBytes } from '../../format.ts';
import type { Overview } from '../api-types.ts';
import type { Loaded } from './client.ts';
import { useApi } from './client.ts';

export { formatBytes };

/** `2026-12-01T03:04:05.678Z` → `2026-12-01 03:04:05 UTC`; `-` when absent. */
export function formatTime(iso: string | undefined): string {
  return iso ? `${iso.slice(0, 19).replace('T', ' ')} UTC` : '-';
}

/** Minutes as `45 s`, `12 min`, `3.5 h` or `2.1 days`. */
export function formatAge(minutes: number): string {
  if (minutes < 1) return `${Math.round(minutes * 60)} s`;
  if (minutes < 120) return `${Math.round(minutes)} min`;
  if (minutes < 48 * 60) return `${(minutes / 60).toFixed(1)} h`;
  return `${(minutes / 1440).toFixed(1)} days`;
}

/** A ratio like `2.35×`, or `-`. */
export function formatRatio(r: number | null | undefined): string {
  return r === null || r === undefined ? '-' : `${r.toFixed(2)}×`;
}

/** `1234` → `1,234`; `-` when absent. */
export function formatCount(n: number | undefined): string {
  return n === undefined ? '-' : n.toLocaleString('en-US');
}

const TONE: Record<string, string> = {
  COMMITTED: 'ok',
  SUCCEEDED: 'ok',
  PASSED: 'ok',
  COPIED: 'ok',
  RUNNING: 'busy',
  PENDING: 'busy',
  FAILED: 'bad',
  FORGOTTEN: 'muted',
};

/** A status as text with a tone (colour is never the only sign: the word is there). */
export function Status({ status }: { status: string }): VNode {
  return html`<span class=${`status ${TONE[status] ?? 'muted'}`}>${status}</span>`;
}

/** The loading and error lines of a {@link useApi} answer. */
export function LoadState({ loaded, what }: { loaded: Loaded<unknown>; what: string }): VNode | null {
  if (loaded.error) return html`<p role="alert" class="error">Could not load ${what}: ${loaded.error}</p>`;
  if (loaded.loading && loaded.data === undefined) return html`<p role="status">Loading ${what}…</p>`;
  return null;
}

/** An error line (role alert), or nothing. */
export function ErrorLine({ error }: { error: string | undefined }): VNode | null {
  return error ? html`<p role="alert" class="error">${error}</p>` : null;
}

/** The plans' ids, for the views' plan pickers. */
export function usePlanIds(): string[] {
  const loaded = useApi<Overview>('/api/overview');
  return loaded.data?.plans.map((p) => p.plan.id) ?? [];
}

/** A labelled select of the plans. */
export function PlanSelect({
  id,
  value,
  plans,
  onChange,
}: {
  id: string;
  value: string;
  plans: string[];
  onChange: (plan: string) => void;
}): VNode {
  return html`<div class="field">
    <label for=${id}>Plan</label>
    <select id=${id} name="plan" value=${value} onChange=${(e: Event) => onChange((e.target as HTMLSelectElement).value)} required>
      ${value === '' ? html`<option value="">Choose a plan</option>` : null}
      ${plans.map((p) => html`<option value=${p}>${p}</option>`)}
    </select>
  </div>`;
}

/** A labelled text input; `hint` is read with it (aria-describedby). */
export function TextField({
  id,
  label,
  value,
  onInput,
  hint,
  placeholder,
  required,
  list,
}: {
  id: string;
  label: string;
  value: string;
  onInput: (v: string) => void;
  hint?: string;
  placeholder?: string;
  required?: boolean;
  list?: string;
}): VNode {
  return html`<div class="field">
    <label for=${id}>${label}</label>
    <input
      id=${id}
      type="text"
      value=${value}
      placeholder=${placeholder}
      required=${required}
      list=${list}
      aria-describedby=${hint ? `${id}-hint` : undefined}
      onInput=${(e: Event) => onInput((e.target as HTMLInputElement).value)}
    />
    ${hint ? html`<small id=${`${id}-hint`} class="hint">${hint}</small>` : null}
  </div>`;
}

/** A link to a route of the console: `#/view?params`, the empty values left out. */
export function href(path: string, params: Record<string, string | undefined> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, v);
  const qs = q.toString();
  return `#/${path}${qs ? `?${qs}` : ''}`;
}

/** Navigate to a route of the console. */
export function go(path: string, params: Record<string, string | undefined> = {}): void {
  location.hash = href(path, params);
}
