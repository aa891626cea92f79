/**
 * The audit log viewer: newest first, filters and keyset cursor in the URL, a record's JSON with a
 * copy button, export of the current filter (JSONL / CSV), and a live mode.
 */
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { useQuery } from '@tanstack/react-query';
import { useSearchParams } from 'react-router-dom';
import { exportUrl, logsQuery, storedRecordQuery, type Envelope } from './api';
import { FILTER_KEYS, OPERATIONS, readState, writeState, type Filters } from './filters';
import { Button, CopyButton, ErrorBox, Loading, TextField, SelectField } from '../../components/ui';

const LABELS: Record<(typeof FILTER_KEYS)[number], string> = {
  since: 'From',
  until: 'To',
  operation: 'Operation',
  user_email: 'User email',
  principal_id: 'Principal id',
  status: 'Status',
  namespace: 'Namespace',
};

function namespaceOf(e: Envelope): string {
  const ns = e.record.details?.['namespace'];
  return typeof ns === 'string' ? ns : '';
}

function FilterForm({ filters, onApply }: { filters: Filters; onApply: (f: Filters) => void }) {
  const [draft, setDraft] = useState<Filters>(filters);
  useEffect(() => setDraft(filters), [filters]);
  const set = (k: keyof Filters, v: string) => setDraft((d) => ({ ...d, [k]: v }));
  const submit = (e: FormEvent) => {
    e.preventDefault();
    onApply(draft);
  };
  return (
    <form onSubmit={submit} className="filters" aria-label="Filters">
      <TextField label={LABELS.since} value={draft.since ?? ''} onChange={(e) => set('since', e.target.value)} placeholder="24h or 2026-01-31T00:00:00Z" />
      <TextField label={LABELS.until} value={draft.until ?? ''} onChange={(e) => set('until', e.target.value)} placeholder="1h or RFC 3339" />
      <TextField label={LABELS.operation} value={draft.operation ?? ''} onChange={(e) => set('operation', e.target.value)} list="operations" />
      <datalist id="operations">
        {OPERATIONS.map((o) => (
          <option key={o} value={o} />
        ))}
      </datalist>
      <TextField label={LABELS.user_email} value={draft.user_email ?? ''} onChange={(e) => set('user_email', e.target.value)} />
      <TextField label={LABELS.principal_id} value={draft.principal_id ?? ''} onChange={(e) => set('principal_id', e.target.value)} />
      <SelectField label={LABELS.status} value={draft.status ?? ''} onChange={(e) => set('status', e.target.value)}>
        <option value="">Any</option>
        <option value="OK">OK</option>
        <option value="ERROR">ERROR</option>
      </SelectField>
      <TextField label={LABELS.namespace} value={draft.namespace ?? ''} onChange={(e) => set('namespace', e.target.value)} />
      <div className="filter-actions">
        <Button type="submit">Apply filters</Button>
        <Button variant="secondary" onClick={() => onApply({})}>
          Clear
        </Button>
      </div>
    </form>
  );
}

function RecordDetail({ entry, onClose }: { entry: Envelope; onClose: () => void }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => ref.current?.focus(), [entry]);
  const logId = entry.record.log_id;
  // The exact stored bytes, fetched on their own: the page's parsed copy would be a re-serialization.
  const stored = useQuery({ ...storedRecordQuery(logId ?? ''), enabled: logId !== undefined });
  return (
    <section className="detail" aria-labelledby="detail-title">
      <h2 id="detail-title" tabIndex={-1} ref={ref}>
        Record {logId ?? entry.sequence}
      </h2>
      <p className="muted">
        Sequence {entry.sequence} · stored {entry.stored_at}
        {entry.ingested_by ? ` · ingested by ${entry.ingested_by}` : ''}
      </p>
      {stored.isPending && <Loading what="the stored record" />}
      {stored.isError && <ErrorBox title="Could not load the stored record" error={stored.error} />}
      {stored.data !== undefined && (
        <>
          <p className="muted">The record's JSON exactly as stored (the bytes the hash chain covers and sinks deliver).</p>
          <pre className="json stored" tabIndex={0} aria-label="Record JSON">
            <code>{stored.data}</code>
          </pre>
          <CopyButton text={stored.data} label="Copy JSON" />{' '}
        </>
      )}
      <Button variant="secondary" onClick={onClose}>
        Close
      </Button>
    </section>
  );
}

export default function Viewer() {
  const [params, setParams] = useSearchParams();
  const { filters, cursor } = readState(params);
  const [live, setLive] = useState(false);
  const [selected, setSelected] = useState<Envelope | undefined>();
  const page = useQuery(logsQuery(filters, cursor, live));
  const [announce, setAnnounce] = useState('');
  const newest = useRef<number | undefined>(undefined);

  // Live mode: say how many records arrived since the last look (aria-live).
  useEffect(() => {
    const top = page.data?.items[0]?.sequence;
    if (live && top !== undefined && newest.current !== undefined && top > newest.current) {
      const n = page.data!.items.filter((e) => e.sequence > newest.current!).length;
      setAnnounce(`${n} new record${n === 1 ? '' : 's'}`);
    }
    if (top !== undefined) newest.current = top;
  }, [page.data, live]);

  const go = (next: { filters?: Filters; cursor?: string | undefined }) => {
    setSelected(undefined);
    setParams(writeState({ filters: next.filters ?? filters, cursor: next.cursor }));
  };

  return (
    <main id="main" className="page wide">
      <h1>Audit log</h1>
      <FilterForm filters={filters} onApply={(f) => go({ filters: f, cursor: undefined })} />
      <div className="toolbar">
        <label className="choice">
          <input
            type="checkbox"
            checked={live}
            onChange={(e) => {
              setLive(e.target.checked);
              if (e.target.checked && cursor) go({ cursor: undefined });
            }}
          />{' '}
          Live
        </label>
        <span aria-live="polite" className="muted">
          {live ? announce || 'Live: showing new records as they arrive' : ''}
        </span>
        <span className="spacer" />
        <span>Export:</span>
        <a className="btn btn-secondary" href={exportUrl(filters, 'jsonl')} download="audit-logs.jsonl">
          Export JSONL
        </a>
        <a className="btn btn-secondary" href={exportUrl(filters, 'csv')} download="audit-logs.csv">
          Export CSV
        </a>
      </div>
      {page.isPending && <Loading what="records" />}
      {page.isError && <ErrorBox title="Could not load the records" error={page.error} />}
      {page.data && page.data.items.length === 0 && <p role="status">No records match these filters.</p>}
      {page.data && page.data.items.length > 0 && (
        <table className="log" aria-busy={page.isPlaceholderData}>
          <caption className="sr-only">Audit records, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Emit time</th>
              <th scope="col">Operation</th>
              <th scope="col">User</th>
              <th scope="col">Principal</th>
              <th scope="col">Status</th>
              <th scope="col">Caller IP</th>
              <th scope="col">Namespace</th>
            </tr>
          </thead>
          <tbody>
            {page.data.items.map((e) => (
              <tr key={e.sequence} className={selected?.sequence === e.sequence ? 'selected' : undefined} onClick={() => setSelected(e)}>
                <td>
                  <button type="button" className="link" onClick={() => setSelected(e)}>
                    {e.record.emit_time ?? '—'}
                    <span className="sr-only"> open record {e.record.log_id ?? e.sequence}</span>
                  </button>
                </td>
                <td>{e.record.operation}</td>
                <td>{e.record.user_email || '—'}</td>
                <td>{e.record.principal ? `${e.record.principal.type ?? ''} ${e.record.principal.name ?? e.record.principal.id ?? ''}`.trim() : '—'}</td>
                <td>{e.record.status}</td>
                <td>{e.record.caller_ip_address || '—'}</td>
                <td>{namespaceOf(e) || '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <nav className="pager" aria-label="Pages">
        <Button variant="secondary" disabled={!page.data?.prev_cursor} onClick={() => go({ cursor: page.data?.prev_cursor ?? undefined })}>
          Newer
        </Button>
        <Button variant="secondary" disabled={!page.data?.next_cursor} onClick={() => go({ cursor: page.data?.next_cursor ?? undefined })}>
          Older
        </Button>
      </nav>
      {selected && <RecordDetail entry={selected} onClose={() => setSelected(undefined)} />}
    </main>
  );
}
