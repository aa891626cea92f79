/**
 * Integrity: the last signed checkpoints of this account's chain (its ChainCheckpoint records)
 * and "Verify now" (POST /api/v1/integrity/verify: the chain recomputed against them).
 */
import { useQuery, useMutation } from '@tanstack/react-query';
import { api } from '../../lib/api-client';
import type { LogPage } from '../audit-log/api';
import { Badge, Button, ErrorBox, Loading } from '../../components/ui';

interface VerifyAnswer {
  ok: boolean;
  checked: number;
  from_seq: number;
  to_seq: number;
  checkpoints_checked: number;
  key_id: string | null;
  /** `search-index`: the chain verifies, but a copy kept for filtered searches does not. */
  break?: { sequence: number; reason: string; kind?: 'chain' | 'search-index' };
}

export default function Integrity() {
  const checkpoints = useQuery({
    queryKey: ['audit-logs', 'checkpoints'],
    queryFn: () => api<LogPage>('GET', '/api/v1/audit-logs?operation=ChainCheckpoint&limit=10'),
  });
  const verify = useMutation({ mutationFn: () => api<VerifyAnswer>('POST', '/api/v1/integrity/verify', { body: {} }) });
  const v = verify.data;
  return (
    <main id="main" className="page">
      <h1>Integrity</h1>
      <p>
        Every record is linked to the one before it by a hash; the chain&apos;s head is signed (Ed25519) at intervals. Verify recomputes every link and checks
        each signature.
      </p>
      <section aria-labelledby="verify-title">
        <h2 id="verify-title">Verify the chain</h2>
        <Button onClick={() => verify.mutate()} disabled={verify.isPending}>
          Verify now
        </Button>
        <div aria-live="polite" className="verify-result">
          {verify.isPending && 'Verifying…'}
          {v?.ok && (
            <p>
              <Badge tone="ok">Intact</Badge> {v.checked} records checked (sequence {v.from_seq}–{v.to_seq}), {v.checkpoints_checked} signed checkpoints checked
              {v.key_id ? ` (key ${v.key_id})` : ''}.
            </p>
          )}
          {v && !v.ok && (
            <p className="field-error">
              {v.break?.kind === 'search-index' ? <Badge tone="warn">Search index differs</Badge> : <Badge tone="error">Broken</Badge>} at sequence{' '}
              {v.break?.sequence}: {v.break?.reason}
            </p>
          )}
        </div>
        {verify.isError && <ErrorBox title="Verify refused" error={verify.error} />}
      </section>
      <section aria-labelledby="cp-title">
        <h2 id="cp-title">Last signed checkpoints</h2>
        {checkpoints.isPending && <Loading what="checkpoints" />}
        {checkpoints.isError && <ErrorBox title="Could not load the checkpoints" error={checkpoints.error} />}
        {checkpoints.data && checkpoints.data.items.length === 0 && (
          <p className="muted">No checkpoint yet: the server signs the chain&apos;s head every few minutes and on shutdown.</p>
        )}
        {checkpoints.data && checkpoints.data.items.length > 0 && (
          <table>
            <caption className="sr-only">Signed checkpoints, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Signed at</th>
                <th scope="col">Covers up to sequence</th>
                <th scope="col">Head hash</th>
                <th scope="col">Key id</th>
              </tr>
            </thead>
            <tbody>
              {checkpoints.data.items.map((e) => {
                const d = e.record.details ?? {};
                return (
                  <tr key={e.sequence}>
                    <td>{String(d['signed_at'] ?? e.record.emit_time ?? '')}</td>
                    <td>{String(d['sequence'] ?? '')}</td>
                    <td>
                      <code className="secret">{String(d['head_hash'] ?? '')}</code>
                    </td>
                    <td>
                      <code>{String(d['key_id'] ?? '')}</code>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </section>
    </main>
  );
}
