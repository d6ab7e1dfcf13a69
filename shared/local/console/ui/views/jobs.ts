/// <reference lib="dom" />
/**
 * What runs: snapshot jobs with their tasks' progress, restore jobs with theirs, the drills running,
 * and the restores started from this console, read again every 2 s.
 */
import { html } from 'htm/preact';
import type { VNode } from 'preact';
import type { ConsoleRestore, Jobs, RestoreJobRecord, TaskRecord } from '../../api-types.ts';
import { useApi } from '../client.ts';
import { formatBytes, formatCount, formatTime, LoadState, Status } from '../common.ts';

/** A labelled progress bar with its figures as text. */
export function Progress({
  label,
  done,
  total,
  text,
}: {
  label: string;
  done: number;
  total?: number;
  text: string;
}): VNode {
  return html`<span class="progress">
    <progress aria-label=${label} value=${total ? done : undefined} max=${total || undefined}></progress>
    <span>${text}</span>
  </span>`;
}

function TaskItem({ jobId, t }: { jobId: string; t: TaskRecord }): VNode {
  const p = t.progress;
  return html`<li>
    <code>${t.taskId}</code> <${Status} status=${t.status} />${t.attempts > 1 ? ` (attempt ${t.attempts})` : ''}
    ${
      p && t.status === 'RUNNING'
        ? html` <${Progress} label=${`${t.taskId} of ${jobId}`} done=${p.done} total=${p.total}
            text=${`${formatCount(p.done)}${p.total ? ` of ${formatCount(p.total)}` : ''}${p.bytes ? `, ${formatBytes(p.bytes)}` : ''}`} />`
        : null
    }
    ${t.error ? html` <span class="reason">${t.error}</span>` : null}
  </li>`;
}

/** A restore job's progress: objects written and skipped of those selected, bytes, slices. */
export function restoreJobProgress(j: RestoreJobRecord): VNode {
  const done = j.objects + j.skippedExists + j.skippedUnchanged;
  return html`<${Progress}
    label=${`progress of ${j.restoreJobId}`}
    done=${done}
    total=${j.selected}
    text=${`${formatCount(done)} of ${formatCount(j.selected)} objects, ${formatBytes(j.bytes)} of ${formatBytes(j.selectedBytes)}, slices ${j.slicesDone}/${j.slicesTotal}`}
  />`;
}

function consoleRestoreState(r: ConsoleRestore): VNode {
  if (r.state === 'job' && r.job)
    return html`restore job <code>${r.job.restoreJobId}</code> <${Status} status=${r.job.status} />`;
  if (r.state === 'failed') return html`<${Status} status="FAILED" /> <span class="reason">${r.error}</span>`;
  if (r.state === 'done')
    return html`<${Status} status="SUCCEEDED" /> ${formatCount(r.report?.objects)} object(s) written`;
  const p = r.progress;
  return p
    ? html`<${Progress} label=${`progress of ${r.id}`} done=${p.objects} total=${p.total} text=${`${p.phase}: ${formatCount(p.objects)} of ${formatCount(p.total)}`} />`
    : html`<${Status} status="RUNNING" />`;
}

/** `#/jobs`. */
export function JobsView(): VNode {
  const loaded = useApi<Jobs>('/api/jobs', 2000);
  const d = loaded.data;
  const running = d
    ? d.jobs.filter((j) => j.job.status === 'RUNNING').length +
      d.restoreJobs.filter((j) => j.status === 'RUNNING').length
    : 0;
  return html`<section aria-labelledby="jobs-title">
    <h2 id="jobs-title" tabindex="-1">Jobs</h2>
    <${LoadState} loaded=${loaded} what="the jobs" />
    ${
      d
        ? html`<p><span role="status">${running} job(s) running</span> · as of ${formatTime(d.now)}, read again every 2 seconds</p>
    <h3>Snapshot jobs</h3>
    ${
      d.jobs.length === 0
        ? html`<p>No snapshot job yet.</p>`
        : html`<table>
      <caption>Snapshot jobs: running first, then the latest of each plan</caption>
      <thead><tr><th scope="col">Job</th><th scope="col">Status</th><th scope="col">Started</th><th scope="col">Tasks</th></tr></thead>
      <tbody>${d.jobs.map(
        ({ job, tasks }) => html`<tr key=${job.jobId}>
          <th scope="row"><code>${job.jobId}</code></th>
          <td><${Status} status=${job.status} />${job.error ? html` <span class="reason">${job.error}</span>` : null}</td>
          <td>${formatTime(job.createdAt)}</td>
          <td><ul class="plain">${tasks.map((t) => html`<${TaskItem} key=${t.taskId} jobId=${job.jobId} t=${t} />`)}</ul></td>
        </tr>`,
      )}</tbody>
    </table>`
    }
    <h3>Restore jobs</h3>
    ${
      d.restoreJobs.length === 0
        ? html`<p>No restore job yet.</p>`
        : html`<table>
      <caption>Restore jobs, newest first</caption>
      <thead><tr><th scope="col">Restore job</th><th scope="col">Plan and snapshot</th><th scope="col">Target</th><th scope="col">Status</th><th scope="col">Progress</th></tr></thead>
      <tbody>${d.restoreJobs.map(
        (j) => html`<tr key=${j.restoreJobId}>
          <th scope="row"><code>${j.restoreJobId}</code></th>
          <td>${j.planId} @ ${j.snapshotId}</td>
          <td><code>s3://${j.targetBucket}/${String(j.request.targetPrefix ?? '')}</code></td>
          <td><${Status} status=${j.status} />${j.error ? html` <span class="reason">${j.error}</span>` : null}</td>
          <td>${restoreJobProgress(j)}</td>
        </tr>`,
      )}</tbody>
    </table>`
    }
    <h3>Drills running</h3>
    ${
      d.drills.length === 0
        ? html`<p>No drill running.</p>`
        : html`<ul>${d.drills.map((dr) => html`<li><code>${dr.drillId}</code>: snapshot ${dr.snapshotId}, since ${formatTime(dr.startedAt)}</li>`)}</ul>`
    }
    <h3>Restores started from this console</h3>
    ${
      d.consoleRestores.length === 0
        ? html`<p>None yet.</p>`
        : html`<table>
      <caption>Restores started from this console, newest first</caption>
      <thead><tr><th scope="col">Restore</th><th scope="col">Plan</th><th scope="col">Started</th><th scope="col">State</th></tr></thead>
      <tbody>${d.consoleRestores.map(
        (r) =>
          html`<tr key=${r.id}><th scope="row"><code>${r.id}</code></th><td>${r.request.plan}</td><td>${formatTime(r.startedAt)}</td><td>${consoleRestoreState(r)}</td></tr>`,
      )}</tbody>
    </table>`
    }`
        : null
    }
  </section>`;
}
