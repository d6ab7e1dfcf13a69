/// <reference lib="dom" />
/**
 * The restore wizard: 1. select (plan, snapshot or point in time, prefix or keys, target), 2. dry run
 * (what would be written and skipped), 3. confirm, 4. follow (progress, then the report). The confirmed
 * restore is exactly the request the dry run reported on.
 */
import { html } from 'htm/preact';
import type { VNode } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ConsoleRestore, DryRun, RestoreReport, RestoreRequest } from '../../api-types.ts';
import { api, useApi } from '../client.ts';
import { ErrorLine, formatBytes, formatCount, PlanSelect, Status, TextField, usePlanIds } from '../common.ts';
import { SnapshotOptions } from './browse.ts';
import { Progress, restoreJobProgress } from './jobs.ts';

type Step = 'select' | 'dry-run' | 'confirm' | 'follow';
const STEPS: { step: Step; label: string }[] = [
  { step: 'select', label: 'Select' },
  { step: 'dry-run', label: 'Dry run' },
  { step: 'confirm', label: 'Confirm' },
  { step: 'follow', label: 'Follow' },
];

interface Form {
  plan: string;
  from: 'snapshot' | 'time';
  snapshot: string;
  pointInTime: string;
  prefix: string;
  keys: string;
  targetBucket: string;
  targetPrefix: string;
  overwrite: 'never' | 'ifChanged' | 'always';
  fanOut: boolean;
}

const ISO = /^\d{4}-\d{2}-\d{2}T/;

function formOf(params: URLSearchParams): Form {
  const at = params.get('at') ?? '';
  return {
    plan: params.get('plan') ?? '',
    from: ISO.test(at) ? 'time' : 'snapshot',
    snapshot: at && !ISO.test(at) ? at : 'latest',
    pointInTime: ISO.test(at) ? at : '',
    prefix: params.get('prefix') ?? '',
    keys: params.get('keys') ?? '',
    targetBucket: '',
    targetPrefix: '',
    overwrite: 'never',
    fanOut: false,
  };
}

function requestOf(f: Form): RestoreRequest {
  const keys = f.keys
    .split('\n')
    .map((k) => k.trim())
    .filter((k) => k !== '');
  return {
    plan: f.plan,
    ...(f.from === 'time'
      ? { pointInTime: f.pointInTime.trim() }
      : { snapshot: f.snapshot.trim() || 'latest' }),
    ...(f.prefix ? { prefix: f.prefix } : {}),
    ...(keys.length > 0 ? { keys } : {}),
    ...(f.targetBucket.trim() ? { targetBucket: f.targetBucket.trim() } : {}),
    targetPrefix: f.targetPrefix,
    overwrite: f.overwrite,
    ...(f.fanOut ? { fanOut: true } : {}),
  };
}

/** Where a report writes, as `s3://bucket/prefix`. */
const targetOf = (r: Pick<RestoreReport, 'targetBucket' | 'targetPrefix'>) =>
  `s3://${r.targetBucket}/${r.targetPrefix}`;

function ReportSummary({ report, dry }: { report: RestoreReport; dry: boolean }): VNode {
  const skipped = Object.entries(report.skipped).filter(([, n]) => n > 0);
  const from = report.pointInTime
    ? `plan ${report.planId} as of ${report.pointInTime} (snapshot ${report.snapshotId} plus ${report.fromJournal ?? 0} journaled version(s))`
    : `snapshot ${report.snapshotId} of plan ${report.planId}`;
  return html`<div>
    <p>${dry ? 'Would restore' : 'Restored'} <strong>${formatCount(report.objects)} object(s), ${formatBytes(report.bytes)}</strong>${' '}
      of the ${formatCount(report.selected)} selected from ${from} (${report.region}) into <code>${targetOf(report)}</code>${dry ? '' : ` in ${report.seconds.toFixed(1)} s`}.
      ${skipped.length > 0 ? ` Skipped: ${skipped.map(([why, n]) => `${n} (${why})`).join(', ')}.` : ''}</p>
    ${report.warnings.length > 0 ? html`<ul class="warnings">${report.warnings.map((w) => html`<li>Warning: ${w}</li>`)}</ul>` : null}
  </div>`;
}

function SelectStep({
  form,
  setForm,
  plans,
  onDryRun,
  busy,
}: {
  form: Form;
  setForm: (update: (f: Form) => Form) => void;
  plans: string[];
  onDryRun: () => void;
  busy: boolean;
}): VNode {
  const set =
    <K extends keyof Form>(k: K) =>
    (v: Form[K]) =>
      setForm((f) => ({ ...f, [k]: v }));
  return html`<form onSubmit=${(e: Event) => {
    e.preventDefault();
    onDryRun();
  }}>
    <fieldset>
      <legend>What to restore</legend>
      <${PlanSelect} id="restore-plan" value=${form.plan} plans=${plans} onChange=${set('plan')} />
      <fieldset class="inline">
        <legend>Restore from</legend>
        <label><input type="radio" name="from" value="snapshot" checked=${form.from === 'snapshot'} onChange=${() => set('from')('snapshot')} /> a snapshot</label>
        <label><input type="radio" name="from" value="time" checked=${form.from === 'time'} onChange=${() => set('from')('time')} /> a point in time</label>
      </fieldset>
      ${
        form.from === 'snapshot'
          ? html`<${TextField} id="restore-snapshot" label="Snapshot" value=${form.snapshot} list="restore-snapshots" required=${true}
              hint="A snapshot id, or latest" onInput=${set('snapshot')} />
            <${SnapshotOptions} id="restore-snapshots" plan=${form.plan} />`
          : html`<${TextField} id="restore-time" label="Point in time" value=${form.pointInTime} required=${true}
              hint="ISO-8601, e.g. 2026-12-01T10:00:00Z: the newest snapshot at or before it plus the changes captured since"
              onInput=${set('pointInTime')} />`
      }
      <${TextField} id="restore-prefix" label="Prefix" value=${form.prefix} hint="Only keys under this prefix; empty: every key" onInput=${set('prefix')} />
      <div class="field">
        <label for="restore-keys">Only these keys</label>
        <textarea id="restore-keys" rows="4" aria-describedby="restore-keys-hint" value=${form.keys}
          onInput=${(e: Event) => set('keys')((e.target as HTMLTextAreaElement).value)}></textarea>
        <small id="restore-keys-hint" class="hint">One key per line; empty: every key the prefix selects</small>
      </div>
    </fieldset>
    <fieldset>
      <legend>Where to</legend>
      <${TextField} id="restore-bucket" label="Target bucket" value=${form.targetBucket}
        hint="Empty: the plan's source bucket (a restore in place); never a vault" onInput=${set('targetBucket')} />
      <${TextField} id="restore-target-prefix" label="Target prefix" value=${form.targetPrefix} hint="Written under this prefix" onInput=${set('targetPrefix')} />
      <div class="field">
        <label for="restore-overwrite">Keys the target already holds</label>
        <select id="restore-overwrite" value=${form.overwrite} onChange=${(e: Event) => set('overwrite')((e.target as HTMLSelectElement).value as Form['overwrite'])}>
          <option value="never">never overwrite (skip them)</option>
          <option value="ifChanged">overwrite if changed</option>
          <option value="always">always overwrite</option>
        </select>
      </div>
      <div class="field">
        <label><input type="checkbox" checked=${form.fanOut} onChange=${(e: Event) => set('fanOut')((e.target as HTMLInputElement).checked)} />
          Run as a restore job (slices through the restore queue, whatever the size)</label>
      </div>
    </fieldset>
    <button type="submit" disabled=${busy || !form.plan}>Dry run</button>
  </form>`;
}

function DryRunStep({
  report,
  onBack,
  onNext,
}: {
  report: RestoreReport;
  onBack: () => void;
  onNext: () => void;
}): VNode {
  const keys = report.keys ?? [];
  return html`<div>
    <${ReportSummary} report=${report} dry=${true} />
    ${
      keys.length > 0
        ? html`<table>
      <caption>Target keys the restore would write${keys.length < report.objects ? ` (the first ${keys.length})` : ''}</caption>
      <thead><tr><th scope="col">Target key</th></tr></thead>
      <tbody>${keys.map((k) => html`<tr key=${k}><td>${k}</td></tr>`)}</tbody>
    </table>`
        : null
    }
    <div class="actions">
      <button type="button" onClick=${onBack}>Back</button>
      <button type="button" onClick=${onNext} disabled=${report.objects === 0}>Continue</button>
    </div>
  </div>`;
}

/** Where a followed restore stands, before its report. */
function RestoreState({ r }: { r: ConsoleRestore | undefined }): VNode | null {
  if (r?.state === 'failed') return html`<p role="alert" class="error">The restore failed: ${r.error}</p>`;
  if (r?.state === 'job' && r.job)
    return html`<p>Restore job <code>${r.job.restoreJobId}</code>: <${Status} status=${r.job.status} /></p>
      <p>${restoreJobProgress(r.job)}</p>${r.job.error ? html`<p role="alert" class="error">${r.job.error}</p>` : null}`;
  if (r?.state !== 'running') return null;
  const p = r.progress;
  if (!p) return html`<p>Starting…</p>`;
  return p.phase === 'write'
    ? html`<p><${Progress} label="Restore progress" done=${p.bytes} total=${p.totalBytes}
        text=${`writing: ${formatCount(p.objects)} object(s), ${formatBytes(p.bytes)} of ${formatBytes(p.totalBytes)}`} /></p>`
    : html`<p><${Progress} label="Restore progress" done=${p.objects} total=${p.total}
        text=${`checking the target: ${formatCount(p.objects)} of ${formatCount(p.total)}`} /></p>`;
}

function FollowStep({ id, onAgain }: { id: string; onAgain: () => void }): VNode {
  const [ended, setEnded] = useState(false);
  const loaded = useApi<ConsoleRestore>(`/api/restores/${id}`, ended ? undefined : 1000);
  const r = loaded.data;
  const jobEnded = r?.state === 'job' && r.job?.status !== 'RUNNING';
  const isOver = r?.state === 'done' || r?.state === 'failed' || jobEnded;
  useEffect(() => setEnded(Boolean(isOver)), [isOver]);
  const report = r?.report && (r.state === 'done' || jobEnded) ? r.report : undefined;
  let status = r ? 'Restore running…' : '';
  if (report) status = r?.job?.status === 'FAILED' ? 'Restore failed.' : 'Restore finished.';
  return html`<div>
    <${ErrorLine} error=${loaded.error} />
    <${RestoreState} r=${r} />
    <p role="status">${status}</p>
    ${report ? html`<${ReportSummary} report=${report} dry=${false} />` : null}
    ${isOver ? html`<button type="button" onClick=${onAgain}>Start another restore</button>` : null}
  </div>`;
}

/** `#/restore?plan&at&prefix&keys`. */
export function RestoreView({ params }: { params: URLSearchParams }): VNode {
  const plans = usePlanIds();
  const [form, setForm] = useState(() => formOf(params));
  const [step, setStep] = useState<Step>('select');
  const [dry, setDry] = useState<{ request: RestoreRequest; report: RestoreReport } | undefined>();
  const [restoreId, setRestoreId] = useState<string | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const heading = useRef<HTMLHeadingElement>(null);
  const first = useRef(true);
  useEffect(() => {
    const firstPlan = plans[0];
    if (firstPlan) setForm((f) => (f.plan ? f : { ...f, plan: firstPlan }));
  }, [plans.join()]);
  // Each step: the focus goes to its heading (not on the view's first showing: the view's own heading has it).
  useEffect(() => {
    if (first.current) first.current = false;
    else heading.current?.focus();
  }, [step]);
  const run = async (what: () => Promise<void>) => {
    setBusy(true);
    setError(undefined);
    try {
      await what();
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const dryRun = () =>
    run(async () => {
      const request = requestOf(form);
      const { report } = await api<DryRun>('/api/restores', { request: { ...request, dryRun: true } });
      setDry({ request, report });
      setStep('dry-run');
    });
  const start = () =>
    run(async () => {
      if (!dry) return;
      const started = await api<ConsoleRestore>('/api/restores', { request: dry.request });
      setRestoreId(started.id);
      setStep('follow');
    });
  const label = STEPS.find((s) => s.step === step)?.label;
  return html`<section aria-labelledby="restore-title">
    <h2 id="restore-title" tabindex="-1">Restore</h2>
    <ol class="steps" aria-label="Restore steps">
      ${STEPS.map((s, i) => html`<li aria-current=${s.step === step ? 'step' : undefined}>${i + 1}. ${s.label}</li>`)}
    </ol>
    <h3 ref=${heading} tabindex="-1">Step ${STEPS.findIndex((s) => s.step === step) + 1} of 4: ${label}</h3>
    <${ErrorLine} error=${error} />
    ${busy ? html`<p role="status">Working…</p>` : null}
    ${step === 'select' ? html`<${SelectStep} form=${form} setForm=${setForm} plans=${plans} onDryRun=${dryRun} busy=${busy} />` : null}
    ${step === 'dry-run' && dry ? html`<${DryRunStep} report=${dry.report} onBack=${() => setStep('select')} onNext=${() => setStep('confirm')} />` : null}
    ${
      step === 'confirm' && dry
        ? html`<div>
      <p>Restore <strong>${formatCount(dry.report.objects)} object(s), ${formatBytes(dry.report.bytes)}</strong> from snapshot ${dry.report.snapshotId}${' '}
        of plan ${dry.report.planId} into <code>${targetOf(dry.report)}</code>, overwrite: ${dry.report.overwrite}${dry.request.fanOut ? ', as a restore job' : ''}?</p>
      <div class="actions">
        <button type="button" onClick=${() => setStep('dry-run')} disabled=${busy}>Back</button>
        <button type="button" class="primary" onClick=${start} disabled=${busy}>Restore now</button>
      </div>
    </div>`
        : null
    }
    ${
      step === 'follow' && restoreId
        ? html`<${FollowStep} id=${restoreId} onAgain=${() => {
            setDry(undefined);
            setRestoreId(undefined);
            setStep('select');
          }} />`
        : null
    }
  </section>`;
}
