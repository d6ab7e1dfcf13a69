/// <reference lib="dom" />
/**
 * A plan's snapshot timeline: a chart of each snapshot's logical size over time, and a table with
 * its figures, each copy region's state, the verification tiers per region and the drills that drew
 * it. "Measure dedup and compression" reads the vaults (as `strongbox cost` does) and adds, per
 * snapshot, its size after deduplication, after compression, and what it added to the previous one,
 * to the table and the chart; and the plan's ratios per region.
 */
import { html } from 'htm/preact';
import type { VNode } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import type {
  DrillRecord,
  PlanEfficiency,
  RegionVerification,
  SnapshotEfficiency,
  SnapshotRecord,
  Timeline,
} from '../../api-types.ts';
import { api, useApi } from '../client.ts';
import {
  ErrorLine,
  formatAge,
  formatBytes,
  formatCount,
  formatRatio,
  formatTime,
  go,
  href,
  LoadState,
  PlanSelect,
  Status,
  usePlanIds,
} from '../common.ts';

const timeOf = (s: SnapshotRecord) => s.time ?? s.scheduledAt;
const bytesOrDash = (n: number | undefined) => (n === undefined ? '-' : formatBytes(n));
/** A point of the logarithmic chart: none for 0 (the table says 0 B). */
const positive = (n: number | undefined) => (n === undefined || n <= 0 ? null : n);

/** The chart: logical size per snapshot over time; stored and new bytes once measured. */
function SizeChart({
  snapshots,
  measured,
}: {
  snapshots: SnapshotRecord[];
  measured: Map<string, SnapshotEfficiency> | undefined;
}): VNode {
  const box = useRef<HTMLDivElement>(null);
  const points = snapshots.filter((s) => s.logicalBytes !== undefined);
  const signature = `${points.map((s) => `${s.snapshotId}:${s.logicalBytes}`).join()}|${measured?.size ?? 0}`;
  // Drawn again only when a figure changes, not on every poll.
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const sized = (v: number | null) => (v === null ? '-' : formatBytes(v));
    const series: uPlot.Series[] = [
      { label: 'Time (UTC)' },
      { label: 'Logical size', stroke: '#1f5fbf', width: 2, points: { size: 8 }, value: (_u, v) => sized(v) },
    ];
    const data: (number | null)[][] = [
      points.map((s) => Date.parse(timeOf(s)) / 1000),
      points.map((s) => positive(s.logicalBytes)),
    ];
    if (measured) {
      series.push(
        {
          label: 'Stored blobs',
          stroke: '#176f2c',
          width: 2,
          dash: [8, 4],
          points: { size: 8 },
          value: (_u, v) => sized(v),
        },
        {
          label: 'New vs previous',
          stroke: '#b35c00',
          width: 2,
          dash: [2, 3],
          points: { size: 8 },
          value: (_u, v) => sized(v),
        },
      );
      data.push(
        points.map((s) => positive(measured.get(s.snapshotId)?.sealedBytes)),
        points.map((s) => positive(measured.get(s.snapshotId)?.newSealedBytes)),
      );
    }
    const chart = new uPlot(
      {
        width: Math.max(320, Math.min(el.clientWidth, 960)),
        height: 260,
        // Logarithmic: sizes before and after deduplication and compression differ by orders of magnitude.
        scales: { x: { time: true }, y: { distr: 3 } },
        series,
        // A logarithmic axis gives its minor ticks no value: those stay unlabelled.
        axes: [{}, { values: (_u, values) => values.map((v) => (v ? formatBytes(v) : '')), size: 80 }],
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
      },
      data as uPlot.AlignedData,
      el,
    );
    return () => chart.destroy();
  }, [signature]);
  const first = points[0];
  const last = points.at(-1);
  return html`<figure class="chart">
    <div
      ref=${box}
      role="img"
      aria-label=${`Chart of ${points.length} snapshot(s)${first && last ? ` from ${formatTime(timeOf(first))} to ${formatTime(timeOf(last))}` : ''}: logical size${measured ? ', stored size and what each added' : ''}. The table below has the same figures.`}
    ></div>
    <figcaption>Logical size per snapshot (solid)${measured ? '; stored after deduplication and compression (dashed) and what each added to the previous one (dotted)' : ''}.</figcaption>
  </figure>`;
}

function Listed({ items }: { items: VNode[] }): VNode {
  if (items.length === 0) return html`-`;
  return html`<ul class="plain">${items.map((v) => html`<li>${v}</li>`)}</ul>`;
}

function copiesOf(s: SnapshotRecord): VNode[] {
  return Object.entries(s.regions ?? {}).map(
    ([region, c]) =>
      html`${region}: <${Status} status=${c.status} />${c.error ? html` <span class="reason">${c.error}</span>` : null}`,
  );
}

/** What a tier found wrong in a region, counted. */
function problemsOf(r: RegionVerification): string {
  const counts: [string, number][] = [
    ['missing blob(s)', r.missingBlobs.length],
    ['corrupt blob(s)', r.corruptBlobs.length],
    ['mismatched blob(s)', r.mismatchedBlobs?.length ?? 0],
    ['missing part(s)', r.missingParts?.length ?? 0],
    ['no manifest', r.manifestPresent ? 0 : 1],
  ];
  return counts
    .filter(([, n]) => n > 0)
    .map(([what, n]) => (what === 'no manifest' ? what : `${n} ${what}`))
    .join(', ');
}

/** One line per tier: its status and in how many regions, with what each region found wrong. */
function verificationOf(s: SnapshotRecord): VNode[] {
  return Object.entries(s.verification?.tiers ?? {}).map(([tier, t]) => {
    const regions = Object.entries(t?.regions ?? {});
    const problems = regions
      .map(([region, r]) => [region, problemsOf(r)])
      .filter(([, p]) => p !== '')
      .map(([region, p]) => `${region}: ${p}`);
    return html`${tier} <${Status} status=${t?.status ?? '-'} /> ${problems.length > 0 ? problems.join('; ') : `${regions.length} region(s)`}`;
  });
}

function drillsOf(s: SnapshotRecord, drills: DrillRecord[]): VNode[] {
  return drills
    .filter((d) => d.snapshotId === s.snapshotId)
    .flatMap((d) => {
      const regions = Object.entries(d.regions);
      if (regions.length === 0) return [html`${formatTime(d.startedAt)}: <${Status} status=${d.status} />`];
      return regions.map(
        ([region, r]) =>
          html`${region}: <${Status} status=${r.status} /> ${formatBytes(r.throughputBytesPerSecond)}/s, RTO ≈ ${formatAge(r.estimatedRtoSeconds / 60)}`,
      );
    });
}

function MeasuredCells({ e }: { e: SnapshotEfficiency | undefined }): VNode {
  return html`<td class="num">${bytesOrDash(e?.uniquePlaintextBytes)}</td>
    <td class="num">${bytesOrDash(e?.sealedBytes)}</td>
    <td class="num">${bytesOrDash(e?.newSealedBytes)}</td>
    <td class="num">${formatRatio(e?.dedupRatio)}</td>
    <td class="num">${formatRatio(e?.compressionRatio)}</td>`;
}

function SnapshotRow({
  s,
  drills,
  plan,
  measured,
}: {
  s: SnapshotRecord;
  drills: DrillRecord[];
  plan: string;
  measured: Map<string, SnapshotEfficiency> | undefined;
}): VNode {
  return html`<tr>
    <th scope="row">${s.snapshotId}</th>
    <td class="time">${timeOf(s).slice(0, 19).replace('T', ' ')}</td>
    <td><${Status} status=${s.status} />${s.error ? html` <span class="reason">${s.error}</span>` : null}${s.legalHold ? ' (legal hold)' : ''}<br /><span class="hint">from ${s.mode ?? 'listing'}</span></td>
    <td class="num">${formatCount(s.objectCount)}<br /><span class="hint">${formatCount(s.objectsRead)} read</span></td>
    <td class="num">${bytesOrDash(s.logicalBytes)}</td>
    <td class="num">${bytesOrDash(s.storedBytesWritten)}</td>
    ${measured ? html`<${MeasuredCells} e=${measured.get(s.snapshotId)} />` : null}
    <td><${Listed} items=${copiesOf(s)} /></td>
    <td>${s.verification ? html`<${Status} status=${s.verification.status} /><${Listed} items=${verificationOf(s)} />` : '-'}</td>
    <td><${Listed} items=${drillsOf(s, drills)} /></td>
    <td>${s.status === 'COMMITTED' ? html`<a href=${href('browse', { plan, at: s.snapshotId })} aria-label=${`Browse snapshot ${s.snapshotId}`}>Browse</a>` : null}</td>
  </tr>`;
}

/** The plan's ratios per region over its committed snapshots. */
function RegionEfficiency({ e }: { e: PlanEfficiency }): VNode {
  return html`<table>
    <caption>Deduplication and compression of plan ${e.planId} per region, over its committed snapshots</caption>
    <thead><tr><th scope="col">Region</th><th scope="col">Snapshots</th><th scope="col">Kept logical</th><th scope="col">Unique after dedup</th>
      <th scope="col">Stored</th><th scope="col">Dedup ratio</th><th scope="col">Compression ratio</th></tr></thead>
    <tbody>${e.regions.map(
      (
        r,
      ) => html`<tr><th scope="row">${r.region}</th><td class="num">${r.snapshots}</td><td class="num">${formatBytes(r.keptLogicalBytes)}</td>
        <td class="num">${formatBytes(r.uniquePlaintextBytes)}</td><td class="num">${formatBytes(r.storedBytes)}</td>
        <td class="num">${formatRatio(r.dedupRatio)}</td><td class="num">${formatRatio(r.compressionRatio)}</td></tr>`,
    )}</tbody>
  </table>`;
}

function SnapshotTable({
  t,
  measured,
}: {
  t: Timeline;
  measured: Map<string, SnapshotEfficiency> | undefined;
}): VNode {
  return html`<div class="scroll"><table>
    <caption>Snapshots of plan ${t.plan.id}, oldest first</caption>
    <thead><tr>
      <th scope="col">Snapshot</th><th scope="col">Time (UTC)</th><th scope="col">Status</th>
      <th scope="col">Objects</th><th scope="col">Logical size</th><th scope="col">Written</th>
      ${
        measured
          ? html`<th scope="col">Unique after dedup</th><th scope="col">Stored blobs</th><th scope="col">New vs previous</th>
        <th scope="col">Dedup ratio</th><th scope="col">Compression ratio</th>`
          : null
      }
      <th scope="col">Copies</th><th scope="col">Verification</th><th scope="col">Drills</th>
      <th scope="col"><span class="visually-hidden">Actions</span></th>
    </tr></thead>
    <tbody>${t.snapshots.map((s) => html`<${SnapshotRow} key=${s.snapshotId} s=${s} drills=${t.drills} plan=${t.plan.id} measured=${measured} />`)}</tbody>
  </table></div>
  <p class="hint">Read: the new or changed objects the snapshot read from the source (the others came from the parent snapshot or
  the capture journal). Written: the sealed bytes the snapshot stored itself (uploads captured as they arrived were stored by capture).${' '}
  ${measured ? 'Stored blobs: the distinct blobs the snapshot references, compressed and encrypted; new vs previous: those the previous snapshot did not reference.' : ''}</p>`;
}

function recoveryText(t: Timeline): string {
  const r = t.recoveryPoint;
  const age = r.newestSnapshotTime
    ? `newest committed snapshot ${formatAge(r.ageMinutes)} old`
    : 'no committed snapshot yet';
  if (r.rpoMinutes === undefined) return `${age} (no RPO set)`;
  return r.exceeded
    ? `${age}, RPO of ${r.rpoMinutes} min exceeded`
    : `${age}, within the RPO of ${r.rpoMinutes} min`;
}

/** `#/timeline/PLAN`: a plan's snapshots over time, read again every 10 s. */
export function TimelineView({ plan }: { plan: string }): VNode {
  const plans = usePlanIds();
  const chosen = plan || plans[0] || '';
  const loaded = useApi<Timeline>(
    chosen ? `/api/plans/${encodeURIComponent(chosen)}/timeline` : undefined,
    10_000,
  );
  const [eff, setEff] = useState<{ plan: string; data?: PlanEfficiency; error?: string; busy?: boolean }>();
  useEffect(() => setEff(undefined), [chosen]);
  const measure = () => {
    setEff({ plan: chosen, busy: true });
    api<PlanEfficiency>(`/api/plans/${encodeURIComponent(chosen)}/efficiency`).then(
      (data) => setEff({ plan: chosen, data }),
      (error: Error) => setEff({ plan: chosen, error: error.message }),
    );
  };
  const e = eff?.plan === chosen ? eff.data : undefined;
  const measured = e ? new Map(e.snapshots.map((s) => [s.snapshotId, s])) : undefined;
  const t = loaded.data;
  return html`<section aria-labelledby="timeline-title">
    <h2 id="timeline-title" tabindex="-1">Timeline${chosen ? ` of plan ${chosen}` : ''}</h2>
    <div class="fields">
      <${PlanSelect} id="timeline-plan" value=${chosen} plans=${plans} onChange=${(p: string) => go(`timeline/${encodeURIComponent(p)}`)} />
      <button type="button" onClick=${measure} disabled=${!chosen || eff?.busy}>Measure dedup and compression</button>
    </div>
    <p class="hint">Measuring reads each vault's listing and index, as <code>strongbox cost</code> does.</p>
    ${eff?.busy ? html`<p role="status">Measuring deduplication and compression…</p>` : null}
    <${ErrorLine} error=${eff?.error} />
    ${plans.length === 0 ? html`<p>No plans yet.</p>` : null}
    <${LoadState} loaded=${loaded} what="the timeline" />
    ${
      t
        ? html`<p>Recovery point: ${recoveryText(t)}.</p>
      ${t.snapshots.length > 0 ? html`<${SizeChart} snapshots=${t.snapshots} measured=${measured} />` : html`<p>No snapshots yet.</p>`}
      <${SnapshotTable} t=${t} measured=${measured} />
      ${e ? html`<${RegionEfficiency} e=${e} />` : null}`
        : null
    }
  </section>`;
}
