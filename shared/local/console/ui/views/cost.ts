/// <reference lib="dom" />
/**
 * Cost (`strongbox cost`): per plan and region what the snapshots hold and what that takes in the
 * vault after deduplication and compression, an estimate of its monthly storage cost, and the same by
 * storage class; then each vault as a whole.
 */
import { html } from 'htm/preact';
import type { VNode } from 'preact';
import type { CostReport } from '../../api-types.ts';
import { useApi } from '../client.ts';
import { formatBytes, formatCount, formatRatio, LoadState } from '../common.ts';

const usd = (n: number) => `$${n < 0.01 && n > 0 ? n.toFixed(4) : n.toFixed(2)}`;

/** `#/cost`: read when opened (the report reads each vault's listing and index). */
export function CostView(): VNode {
  const loaded = useApi<CostReport>('/api/cost');
  const r = loaded.data;
  const rows = r?.plans.flatMap((p) => p.regions.map((region) => ({ planId: p.planId, region }))) ?? [];
  return html`<section aria-labelledby="cost-title">
    <h2 id="cost-title" tabindex="-1">Cost</h2>
    <p>Storage only, estimated from the vaults' listings at S3's prices per GB-month (no requests, retrievals or transfer).</p>
    <${LoadState} loaded=${loaded} what="the cost report (it reads every vault)" />
    ${
      r
        ? html`
    <table>
      <caption>By plan and region</caption>
      <thead><tr><th scope="col">Plan</th><th scope="col">Region</th><th scope="col">Snapshots</th><th scope="col">Newest size</th>
        <th scope="col">Kept logical</th><th scope="col">Unique after dedup</th><th scope="col">Stored</th>
        <th scope="col">Dedup ratio</th><th scope="col">Compression ratio</th><th scope="col">USD per month</th></tr></thead>
      <tbody>${rows.map(
        ({ planId, region: x }) => html`<tr key=${`${planId} ${x.region}`}>
          <th scope="row">${planId}</th><td>${x.region}</td><td class="num">${x.snapshots}</td>
          <td class="num">${formatBytes(x.newestLogicalBytes)}</td><td class="num">${formatBytes(x.keptLogicalBytes)}</td>
          <td class="num">${formatBytes(x.uniquePlaintextBytes)}</td><td class="num">${formatBytes(x.storedBytes)}</td>
          <td class="num">${formatRatio(x.dedupRatio)}</td><td class="num">${formatRatio(x.compressionRatio)}</td>
          <td class="num">${usd(x.monthlyUsd)}</td>
        </tr>`,
      )}</tbody>
    </table>
    <table>
      <caption>By plan, region and storage class</caption>
      <thead><tr><th scope="col">Plan</th><th scope="col">Region</th><th scope="col">Storage class</th><th scope="col">Objects</th><th scope="col">Bytes</th><th scope="col">USD per month</th></tr></thead>
      <tbody>${rows.flatMap(({ planId, region: x }) =>
        Object.entries(x.byStorageClass).map(
          ([
            cls,
            c,
          ]) => html`<tr key=${`${planId} ${x.region} ${cls}`}><th scope="row">${planId}</th><td>${x.region}</td><td>${cls}</td>
            <td class="num">${formatCount(c.objects)}</td><td class="num">${formatBytes(c.bytes)}</td><td class="num">${usd(c.monthlyUsd)}</td></tr>`,
        ),
      )}</tbody>
    </table>
    <table>
      <caption>Each vault as a whole (every object counted once: index documents and garbage included)</caption>
      <thead><tr><th scope="col">Region</th><th scope="col">Bucket</th><th scope="col">Objects</th><th scope="col">Bytes</th><th scope="col">USD per month</th></tr></thead>
      <tbody>${r.vaults.map(
        (
          v,
        ) => html`<tr key=${v.region}><th scope="row">${v.region}</th><td><code>${v.bucket}</code></td><td class="num">${formatCount(v.objects)}</td>
          <td class="num">${formatBytes(v.bytes)}</td><td class="num">${usd(v.monthlyUsd)}</td></tr>`,
      )}</tbody>
    </table>
    <p class="hint">Prices used (USD per GB-month): ${Object.entries(r.prices)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}.</p>`
        : null
    }
  </section>`;
}
